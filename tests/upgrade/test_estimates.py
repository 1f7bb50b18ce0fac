"""Quality estimates, the order of a partial upgrade, and score calibration, on known answers."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.registry import AdapterRecord, Figures
from embedreg.upgrade.calibrate import fit_calibration
from embedreg.upgrade.quality import Estimate, partial_quality, reembed_quality, wilson
from embedreg.upgrade.selection import select


def record(source: str, target: str, **figures: float) -> AdapterRecord:
    return AdapterRecord(
        id=f"{source}-to-{target}",
        source=source,
        target=target,
        direction="backward",
        family="affine",
        location="x",
        sha256="0" * 64,
        figures=Figures.from_dict({"heldout": 400, **figures}),  # as registry.json stores them
    )


def test_wilson_interval_narrows_with_more_queries() -> None:
    lo, hi = wilson(0.8, 100)
    lo2, hi2 = wilson(0.8, 10_000)
    assert lo < 0.8 < hi and lo < lo2 < 0.8 < hi2 < hi
    assert wilson(1.0, 50)[1] == 1.0 and wilson(0.5, 0) == (0.0, 1.0)


def test_reembed_quality_is_new_over_old_from_either_direction() -> None:
    back = record("v2", "v1", **{"source.cmc@1": 0.96, "target.cmc@1": 0.80})
    est = reembed_quality([back], "v1", "v2")
    assert est.value == pytest.approx(1.2) and est.basis == "measured"
    assert est.low is not None and est.high is not None and est.low < 1.2 < est.high
    assert est.better_than(1.0)
    fwd = record("v1", "v2", **{"source.cmc@1": 0.80, "target.cmc@1": 0.96})
    assert reembed_quality([fwd], "v1", "v2").value == pytest.approx(1.2)
    unlabelled = record("v2", "v1", **{"agreement@10": 0.7})
    none = reembed_quality([unlabelled], "v1", "v2")
    assert none.value is None and "without labels" in none.detail and not none.better_than(1.0)


def test_partial_quality_is_a_straight_line_unless_a_curve_is_recorded() -> None:
    adapt, full = Estimate(0.9, 0.85, 0.95), Estimate(1.2, 1.1, 1.3)
    line = partial_quality(0.25, adapt, full)
    assert line.value == pytest.approx(0.975) and line.basis == "estimate"
    assert line.low == pytest.approx(0.9125)
    curve = {"fraction": [0.0, 0.5, 1.0], "quality": [0.9, 1.15, 1.2]}
    measured = partial_quality(0.25, adapt, full, curve)
    assert measured.value == pytest.approx(1.025) and measured.basis == "measured"


def test_orders() -> None:
    ids = [f"i{n}" for n in range(10)]
    assert select(ids, 3, "given") == ["i0", "i1", "i2"]
    picked = select(ids, 5, "random", seed=3)
    assert len(set(picked)) == 5 and picked == select(ids, 5, "random", seed=3)
    assert picked != select(ids, 5, "random", seed=4)
    scores = {i: float(n % 4) for n, i in enumerate(ids)}
    assert select(ids, 3, "worst", scores=scores) == ["i0", "i4", "i8"]


def test_calibration_recovers_a_planted_score_map() -> None:
    rng = np.random.default_rng(0)
    g = rng.standard_normal((300, 16)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    # routed scores are exactly native scores squeezed by 0.5 and shifted by -0.1:
    # queries scaled by 0.5 and one extra coordinate carrying the shift
    q = np.hstack([0.5 * g, np.full((300, 1), 1.0, np.float32)])
    x = np.hstack([g, np.full((300, 1), -0.1, np.float32)])
    c = fit_calibration(g, g, q, x, metric="ip")
    assert c is not None
    assert c.scale == pytest.approx(2.0, abs=1e-4) and c.shift == pytest.approx(0.2, abs=1e-4)
    assert c.rmse is not None and c.rmse < 1e-4
    assert fit_calibration(g[:2], g[:2], g[:2], g[:2], metric="ip") is None
