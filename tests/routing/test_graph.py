"""Query-path resolution over real, measured adapters (fit on planted synthetic spaces)."""

from __future__ import annotations

from pathlib import Path

import embedreg
import faiss
import numpy as np
import pytest
import torch
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import DimensionMismatch, EmbedRegError, NoCompatiblePath, UnknownGeneration
from embedreg.registry import Figures
from embedreg.routing import PathKind, Resolver, RoutingPolicy
from embedreg.training import train_adapter

DIMS = {"v1": 12, "v2": 16, "v3": 24, "v4": 20}
N = 1500


def spaces(seed: int = 0) -> dict[str, np.ndarray]:
    """One latent set of items seen by four generations: each a random linear view + noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((N, 10)).astype(np.float32)
    out = {}
    for name, dim in DIMS.items():
        view = rng.standard_normal((10, dim)).astype(np.float32)
        x = z @ view + 0.05 * rng.standard_normal((N, dim)).astype(np.float32)
        out[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def pairs(
    vecs: dict[str, np.ndarray], new: str, old: str, *, noise: float = 0.0, seed: int = 1
) -> PairedEmbeddings:
    source = vecs[new]
    if noise:  # a poorly paired training set: the adapter it makes is genuinely worse
        rng = np.random.default_rng(seed)
        source = source + noise * rng.standard_normal(source.shape).astype(np.float32)
    return PairedEmbeddings(
        [f"i{n}" for n in range(N)], source, vecs[old], source_generation=new, target_generation=old
    )


def registry(tmp_path: Path) -> Registry:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    parent = None
    for n, (name, dim) in enumerate(DIMS.items()):
        commit = f"{n:040x}"
        reg.add_generation(
            Generation(name, HubSource(f"org/{name}", commit), Recipe(), dim, parent=parent)
        )
        parent = name
    return reg


def train(reg: Registry, vecs: dict[str, np.ndarray], new: str, old: str, **kw: object) -> float:
    (run,) = train_adapter(reg, new, old, pairs(vecs, new, old, **kw), family="affine")  # type: ignore[arg-type]
    return float(run.record.figures.retention)


@pytest.fixture
def vecs() -> dict[str, np.ndarray]:
    return spaces()


def test_same_generation_is_the_empty_path(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    same = Resolver(reg).resolve("v4", "latest")
    assert same.is_identity and same.quality == 1.0
    x = np.ones((2, 20), dtype=np.float32)
    assert np.array_equal(same.apply(x), x)


def test_no_path_names_generations_and_command(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    with pytest.raises(NoCompatiblePath) as info:
        Resolver(reg).resolve("v3", "v1")
    message = str(info.value)
    assert "'v3'" in message and "'v1'" in message
    assert "embedreg adapter train v3 v1" in message
    with pytest.raises(NoCompatiblePath) as info:
        Resolver(reg).resolve("v1", "v3")  # an older query needs a forward adapter
    assert "embedreg adapter train v3 v1 --direction forward" in str(info.value)
    with pytest.raises(UnknownGeneration):
        Resolver(reg).resolve("v9", "v1")


def test_better_direct_adapter_beats_chain(tmp_path: Path, vecs: dict[str, np.ndarray]) -> None:
    reg = registry(tmp_path)
    direct = train(reg, vecs, "v3", "v1")
    hop1 = train(reg, vecs, "v3", "v2", noise=0.6)
    hop2 = train(reg, vecs, "v2", "v1", noise=0.6)
    assert direct > hop1 * hop2  # measured, not assumed
    path = Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve("v3", "v1")
    assert path.adapter_ids == ["v3-to-v1.affine"]
    assert path.quality == pytest.approx(direct)
    assert [a.label() for a in path.alternatives] == ["v3-to-v2.affine → v2-to-v1.affine"]
    assert "v3-to-v2.affine → v2-to-v1.affine" in path.explain()


def test_better_chain_beats_poor_direct_adapter(
    tmp_path: Path, vecs: dict[str, np.ndarray]
) -> None:
    reg = registry(tmp_path)
    direct = train(reg, vecs, "v3", "v1", noise=0.8)
    hop1 = train(reg, vecs, "v3", "v2")
    hop2 = train(reg, vecs, "v2", "v1")
    assert hop1 * hop2 > direct
    path = Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve("v3", "v1")
    assert path.adapter_ids == ["v3-to-v2.affine", "v2-to-v1.affine"]
    assert path.quality == pytest.approx(hop1 * hop2)
    assert len(path.hops) == 2 and path.hops[0].retention == pytest.approx(hop1)


def test_threshold_and_max_hops(tmp_path: Path, vecs: dict[str, np.ndarray]) -> None:
    reg = registry(tmp_path)
    train(reg, vecs, "v4", "v3")
    train(reg, vecs, "v3", "v2")
    train(reg, vecs, "v2", "v1")
    assert Resolver(reg, RoutingPolicy(max_hops=3, min_quality=0.0)).resolve(
        "v4", "v1"
    ).adapter_ids == [
        "v4-to-v3.affine",
        "v3-to-v2.affine",
        "v2-to-v1.affine",
    ]
    with pytest.raises(NoCompatiblePath, match="at most 2"):
        Resolver(reg, RoutingPolicy(max_hops=2)).resolve("v4", "v1")
    quality = Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve("v4", "v1").quality
    with pytest.raises(NoCompatiblePath, match="below the minimum"):
        Resolver(reg, RoutingPolicy(min_quality=min(quality + 0.01, 1.5))).resolve("v4", "v1")


def test_compiled_three_hop_path_equals_hops_one_by_one(
    tmp_path: Path, vecs: dict[str, np.ndarray]
) -> None:
    from embedreg.adapters import load_registered_adapter

    reg = registry(tmp_path)
    train(reg, vecs, "v4", "v3")
    train(reg, vecs, "v3", "v2")
    train(reg, vecs, "v2", "v1")
    path = Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve("v4", "v1")
    assert len(path.stages) == 1 and path.affine is not None  # three maps compiled into one
    q = vecs["v4"][:50]
    step = q
    for adapter_id in path.adapter_ids:
        step = load_registered_adapter(reg, adapter_id).adapter.transform(step)
    step = step / np.linalg.norm(step, axis=1, keepdims=True)  # the gallery (v1) normalises
    np.testing.assert_allclose(path.apply(q), step, rtol=1e-4, atol=1e-5)
    # the same on torch tensors, staying torch
    out = path.apply(torch.from_numpy(q))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), step, rtol=1e-4, atol=1e-5)
    with pytest.raises(DimensionMismatch):
        path.apply(vecs["v3"][:2])


def test_non_affine_hops_apply_in_sequence(tmp_path: Path, vecs: dict[str, np.ndarray]) -> None:
    from embedreg.adapters import load_registered_adapter

    reg = registry(tmp_path)
    train_adapter(reg, "v3", "v2", pairs(vecs, "v3", "v2"), family="mlp")
    train(reg, vecs, "v2", "v1")
    path = Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve("v3", "v1")
    assert len(path.stages) == 2 and path.affine is None
    q = vecs["v3"][:20]
    mid = load_registered_adapter(reg, "v3-to-v2.mlp").adapter.transform(q)
    expected = load_registered_adapter(reg, "v2-to-v1.affine").adapter.transform(mid)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(path.apply(q), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(EmbedRegError, match="non-affine"):
        path.to_faiss(faiss.IndexFlatIP(12))


def test_faiss_pretransform_equals_manual_transform(
    tmp_path: Path, vecs: dict[str, np.ndarray]
) -> None:
    reg = registry(tmp_path)
    train(reg, vecs, "v3", "v2")
    train(reg, vecs, "v2", "v1")
    path = Resolver(reg, RoutingPolicy(min_quality=0.0)).resolve("v3", "v1")
    gallery = vecs["v1"][:1000]
    index = faiss.IndexFlatIP(12)
    index.add(gallery)
    q = vecs["v3"][1000:1100]
    scores_manual, ids_manual = index.search(path.apply(q), 10)
    scores_pt, ids_pt = path.to_faiss(index).search(q, 10)
    assert np.array_equal(ids_manual, ids_pt)
    np.testing.assert_allclose(scores_pt, scores_manual, rtol=1e-4, atol=1e-5)


def test_identity_join_between_equal_spaces(tmp_path: Path) -> None:
    reg = Registry.open(tmp_path / "r")
    reg.init()
    commit = "a" * 40
    reg.add_generation(Generation("prod", HubSource("org/m", commit), Recipe(), 8))
    reg.add_generation(Generation("prod-copy", HubSource("org/m", commit), Recipe(), 8))
    reg.add_generation(Generation("prod-cls", HubSource("org/m", commit), Recipe(pooling="cls"), 8))
    path = Resolver(reg).resolve("prod-copy", "prod")
    assert path.is_identity and path.hops[0].is_identity and path.quality == 1.0
    with pytest.raises(NoCompatiblePath):
        Resolver(reg).resolve("prod-cls", "prod")  # another recipe is another space


def test_programmatic_lookup(tmp_path: Path, vecs: dict[str, np.ndarray]) -> None:
    reg = registry(tmp_path)
    train(reg, vecs, "v3", "v2")
    train(reg, vecs, "v2", "v1")
    path = embedreg.resolve("v3", "v1", registry=reg, policy=RoutingPolicy(min_quality=0.0))
    assert path.kind is PathKind.MAP  # no fused or cascade figures: the map is the only kind
    assert path.map_path.adapter_ids == ["v3-to-v2.affine", "v2-to-v1.affine"]
    reachable = [
        (p.gallery, p.is_identity)
        for p in embedreg.reachable("v3", registry=reg, policy=RoutingPolicy(min_quality=0.0))
    ]
    assert reachable[0] == ("v3", True)
    assert {g for g, _ in reachable} == {"v3", "v2", "v1"}
    assert [p.gallery for p in embedreg.reachable("v1", registry=reg)] == [
        "v1"
    ]  # nothing maps v1 anywhere
    found = embedreg.compatible("v3", registry=reg, policy=RoutingPolicy(min_quality=0.0))
    assert found.galleries == [] and found.generations[0].gallery == "v3"


def test_unmeasured_adapters_are_not_trusted(tmp_path: Path, vecs: dict[str, np.ndarray]) -> None:
    from dataclasses import replace

    reg = registry(tmp_path)
    train(reg, vecs, "v3", "v2")
    record = reg.adapter("v3-to-v2.affine")
    reg.add_adapter(replace(record, figures=Figures()), replace=True)
    with pytest.raises(NoCompatiblePath, match="unmeasured"):
        Resolver(reg).resolve("v3", "v2")


def test_gains_above_one_do_not_compound_along_a_chain(tmp_path: Path) -> None:
    """Retention > 1 (adapted queries beat the gallery's own) is capped when hops combine."""
    from embedreg.registry import AdapterRecord

    reg = registry(tmp_path)
    for source, target, retention in (("v3", "v1", 1.01), ("v3", "v2", 1.03), ("v2", "v1", 1.03)):
        reg.add_adapter(
            AdapterRecord(
                id=f"{source}-to-{target}",
                source=source,
                target=target,
                direction="backward",
                family="affine",
                location=f"adapters/{source}-to-{target}",
                sha256="0" * 64,
                figures=Figures(retention=retention),
            )
        )
    path = Resolver(reg).resolve("v3", "v1")
    assert path.adapter_ids == ["v3-to-v1"]  # not the chain, whose raw product is 1.061
    assert path.quality == 1.0 and path.hops[0].retention == 1.01  # the figure itself is kept
    assert [a.quality for a in path.alternatives] == [1.0]
