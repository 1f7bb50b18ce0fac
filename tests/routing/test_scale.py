"""One quality scale: bases that compare, old records, the criterion in ranking and output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import NoCompatiblePath
from embedreg.gallery import Gallery
from embedreg.registry import AdapterRecord, Figures
from embedreg.routing import Resolver, RoutingPolicy
from embedreg.training import train_adapter

DIMS = {"v1": 8, "v2": 8, "v3": 8}


def registry(tmp_path: Path) -> Registry:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    parent = None
    for n, (name, dim) in enumerate(DIMS.items()):
        reg.add_generation(
            Generation(name, HubSource(f"org/{name}", f"{n:040x}"), Recipe(), dim, parent=parent)
        )
        parent = name
    return reg


def record(reg: Registry, ident: str, source: str, target: str, **figures: Any) -> None:
    figs = {k.replace("_", "."): v for k, v in figures.items()}
    reg.add_adapter(
        AdapterRecord(
            id=ident,
            source=source,
            target=target,
            direction="backward",
            family="affine",
            location=f"adapters/{ident}",
            sha256="0" * 64,
            figures=Figures.from_dict(figs),  # as registry.json stores them
        )
    )


def test_old_label_free_records_route_alone_but_never_mix(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    # written before the estimate: retention is the top-10 agreement
    record(reg, "old", "v3", "v2", retention=0.62, retention_basis="agreement@10", labels=False)
    record(reg, "new", "v2", "v1", retention=0.95, retention_basis="cmc@1", criterion=True)
    path = Resolver(reg).resolve("v3", "v2")
    assert path.adapter_ids == ["old"] and path.quality == pytest.approx(0.62)
    assert path.basis == "agreement@10"
    with pytest.raises(NoCompatiblePath, match=r"cannot be multiplied"):
        Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve(
            "v3", "v1"
        )  # agreement × cmc@1 is not scored
    assert [c.label() for c in Resolver(reg).unscored("v3", "v1")] == ["old → new"]


def test_bases_on_the_scale_multiply_and_intervals_follow(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    record(
        reg,
        "a",
        "v3",
        "v2",
        retention=0.9,
        retention_basis="judged-sim@10",
        retention_interval=[0.85, 0.95],
    )
    record(
        reg,
        "b",
        "v2",
        "v1",
        retention=1.02,
        retention_basis="cmc@1",
        retention_interval=[0.98, 1.06],
        criterion=True,
    )
    path = Resolver(reg).resolve("v3", "v1")
    assert path.quality == pytest.approx(0.9) and path.basis == "judged-sim@10 × cmc@1"
    assert path.interval is not None
    assert (path.interval.low, path.interval.high) == pytest.approx((0.85 * 0.98, 0.95))
    assert path.criterion == "unknown"  # the label-free hop cannot be judged
    data = path.to_dict()
    assert data["basis"] == path.basis and data["criterion"] == "unknown"
    assert data["hops"][1]["interval"] == [0.98, 1.06] and data["hops"][1]["criterion"] is True
    assert data["compatible"] is True and data["warning"] is None


def test_failing_adapters_rank_after_passing_ones_and_are_flagged(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    record(
        reg,
        "fails",
        "v3",
        "v2",
        retention=0.99,
        retention_basis="cmc@1",
        criterion=False,
        **{"cmc@1": 0.80, "target_cmc@1": 0.81},
    )
    record(reg, "passes", "v3", "v2", retention=0.9, retention_basis="cmc@1", criterion=True)
    path = Resolver(reg).resolve("v3", "v2")
    assert path.adapter_ids == ["passes"]  # lower quality, but it passes the criterion
    assert [a.label() for a in path.alternatives] == ["fails"]
    assert "fails the criterion" in path.explain()
    reg.remove_adapter("passes")
    flagged = Resolver(reg).resolve("v3", "v2")
    assert flagged.criterion == "fail" and flagged.to_dict()["compatible"] is False
    warning = flagged.warning()
    assert warning is not None and "fails" in warning and "CMC@1 0.800 < 0.810" in warning
    with pytest.raises(NoCompatiblePath, match=r"\(fails failed it\)"):
        Resolver(reg, RoutingPolicy(require_compatible=True)).resolve("v3", "v2")


def test_require_compatible_refuses_paths_nobody_judged(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    record(reg, "free", "v3", "v2", retention=0.97, retention_basis="judged-sim@10")
    assert Resolver(reg).resolve("v3", "v2").criterion == "unknown"
    with pytest.raises(NoCompatiblePath, match="not judged"):
        Resolver(reg, RoutingPolicy(require_compatible=True)).resolve("v3", "v2")
    assert Resolver(reg, RoutingPolicy(require_compatible=True)).resolve("v3", "v3").is_identity


def test_search_flags_a_failing_path(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rot = np.linalg.qr(rng.standard_normal((8, 8)))[0].astype(np.float32)
    ids = [f"i{n}" for n in range(300)]
    (run,) = train_adapter(reg, "v3", "v2", PairedEmbeddings(ids, x @ rot, x), family="procrustes")
    rec = reg.adapter(run.record.id)
    reg.add_adapter(replace(rec, figures=replace(rec.figures, criterion=False)), replace=True)
    g = Gallery.create(reg.generation("v2"))
    g.add(x[:50], ids[:50], generation=reg.generation("v2"))
    hits = g.search_vectors(x[:3] @ rot, k=2, generation=reg.generation("v3"), registry=reg)
    assert hits.ids[0][0] == "i0"
    assert len(hits.warnings()) == 1 and "v3-to-v2.procrustes" in hits.warnings()[0]
    data = hits.to_dict()
    assert data["warnings"] == hits.warnings() and data["paths"]["v2"]["criterion"] == "fail"
    with pytest.raises(NoCompatiblePath):
        g.search_vectors(
            x[:3] @ rot,
            generation=reg.generation("v3"),
            resolver=Resolver(reg, RoutingPolicy(require_compatible=True)),
        )
