"""Merging a mixed gallery's segments: calibrated scores, raw scores, reciprocal-rank fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import ValidationError
from embedreg.gallery import Calibration, Gallery, storage
from embedreg.training import train_adapter


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Registry, Gallery, np.ndarray]:
    """v2 queries; half the items in a v2 segment, half in a v1 segment reached by an adapter."""
    rng = np.random.default_rng(0)
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    v1 = reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 8))
    v2 = reg.add_generation(
        Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 8, parent="v1")
    )
    z = unit(rng.standard_normal((400, 8)))
    rot = np.linalg.qr(rng.standard_normal((8, 8)))[0].astype(np.float32)
    x1 = unit(z @ rot + 0.3 * rng.standard_normal((400, 8)).astype(np.float32))
    ids = [f"i{n}" for n in range(400)]
    train_adapter(reg, "v2", "v1", PairedEmbeddings(ids, z, x1), family="procrustes")
    g = Gallery.create(v2)
    g.add(z[:100], ids[:100], generation=v2)
    g.add_segment(v1)
    g.add(x1[100:200], ids[100:200], generation=v1)
    return reg, g, z[300:320]


def test_rrf_interleaves_segments_by_rank(mixed: tuple[Registry, Gallery, np.ndarray]) -> None:
    reg, g, q = mixed
    v2 = reg.generation("v2")
    hits = g.search_vectors(q, k=6, generation=v2, registry=reg, merge="rrf")
    for segs, scores in zip(hits.segments, hits.scores, strict=True):
        assert sorted(segs) == ["v1", "v1", "v1", "v2", "v2", "v2"]  # ranks 1-3 of each
        assert scores[0] == pytest.approx(1 / 61) and scores[-1] == pytest.approx(1 / 63)


def test_calibration_is_used_when_present_and_required_when_asked(
    mixed: tuple[Registry, Gallery, np.ndarray], tmp_path: Path
) -> None:
    reg, g, q = mixed
    v2 = reg.generation("v2")
    raw = g.search_vectors(q, k=200, generation=v2, registry=reg, merge="score")
    with pytest.raises(ValidationError, match="no score calibration"):
        g.search_vectors(q, k=5, generation=v2, registry=reg, merge="calibrated")
    assert g.search_vectors(q, k=200, generation=v2, registry=reg).ids == raw.ids  # auto: as scored
    # a calibration that lifts the routed segment puts all of it first
    g.calibration = {"v1": {"v2": Calibration(scale=1.0, shift=5.0, pairs=10)}}
    lifted = g.search_vectors(q, k=100, generation=v2, registry=reg)
    assert all(set(row) == {"v1"} for row in lifted.segments)
    first = raw.segments[0].index("v1")
    assert lifted.scores[0][0] == pytest.approx(raw.scores[0][first] + 5.0, abs=1e-5)
    # it is saved with the gallery and read back
    g.save(tmp_path / "g")
    again = Gallery.load(tmp_path / "g")
    assert again.calibration == g.calibration
    assert storage.load_manifest(tmp_path / "g").calibration["v1"]["v2"].shift == 5.0
    with pytest.raises(ValidationError):
        g.search_vectors(q, k=5, generation=v2, registry=reg, merge="best")


def test_a_calibration_must_keep_the_order() -> None:
    with pytest.raises(ValidationError):
        Calibration(scale=-1.0, shift=0.0)
