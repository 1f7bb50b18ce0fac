"""Gallery search routed through measured adapters, per segment (synthetic planted spaces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import GenerationMismatch, NoCompatiblePath
from embedreg.gallery import Gallery
from embedreg.training import TrainConfig, train_adapter

N = 1200


@pytest.fixture
def world(tmp_path: Path) -> tuple[Registry, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((N, 12)).astype(np.float32)
    vecs = {}
    for name, dim in (("v2", 16), ("v3", 24)):
        x = z @ rng.standard_normal((12, dim)).astype(np.float32)
        x += 0.05 * rng.standard_normal(x.shape).astype(np.float32)
        vecs[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    reg.add_generation(Generation("v2", HubSource("org/a", "1" * 40), Recipe(), 16))
    reg.add_generation(Generation("v3", HubSource("org/b", "2" * 40), Recipe(), 24, parent="v2"))
    train_ids = [f"t{n}" for n in range(800)]
    train_adapter(
        reg,
        "v3",
        "v2",
        PairedEmbeddings(train_ids, vecs["v3"][:800], vecs["v2"][:800]),
        family="affine",
    )
    return reg, vecs


def test_new_queries_search_old_gallery_through_adapter(
    world: tuple[Registry, dict[str, np.ndarray]],
) -> None:
    reg, vecs = world
    v2, v3 = reg.generation("v2"), reg.generation("v3")
    g = Gallery.create(v2)
    ids = [f"d{n}" for n in range(800, N)]
    g.add(vecs["v2"][800:], ids, generation=v2)
    hits = g.search_vectors(vecs["v3"][800:], k=5, generation=v3, registry=reg)
    top1 = np.mean([row[0] == ids[n] for n, row in enumerate(hits.ids)])
    assert top1 > 0.9
    assert hits.paths["v2"].adapter_ids == ["v3-to-v2.affine"]
    # a v3 gallery cannot be searched by v2 queries: no adapter leads there
    g3 = Gallery.create(v3)
    g3.add(vecs["v3"][800:810], ids[:10], generation=v3)
    with pytest.raises(NoCompatiblePath, match=r"'v2' to 'v3'"):
        g3.search_vectors(vecs["v2"][:1], generation=v2, registry=reg)
    with pytest.raises(GenerationMismatch):
        g.search_vectors(vecs["v3"][:1], generation=v3)  # no registry: no way to route


def test_partially_upgraded_gallery_merges_segments(
    world: tuple[Registry, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    reg, vecs = world
    v2, v3 = reg.generation("v2"), reg.generation("v3")
    ids = [f"d{n}" for n in range(800, N)]
    g = Gallery.create(v2)
    g.add(vecs["v2"][800:1000], ids[:200], generation=v2)  # not yet re-embedded
    g.add_segment(v3)
    g.add(vecs["v3"][1000:], ids[200:], generation=v3)  # re-embedded with v3
    g.save(tmp_path / "g")
    loaded = Gallery.load(tmp_path / "g")
    hits = loaded.search_vectors(vecs["v3"][800:], k=3, generation=v3, registry=reg)
    top1 = np.mean([row[0] == ids[n] for n, row in enumerate(hits.ids)])
    assert top1 > 0.9  # each item found in its own segment, scores comparable across segments
    assert set(hits.paths) == {"v2"}  # the v3 segment needs no mapping
    assert {s for row in hits.segments for s in row} == {"v2", "v3"}
    assert all(np.all(np.diff(row) <= 1e-6) for row in hits.scores)  # merged ranking is sorted


def test_search_takes_a_generation_name_and_numpy_or_torch(
    world: tuple[Registry, dict[str, np.ndarray]],
) -> None:
    import torch
    from embedreg.errors import ValidationError

    reg, vecs = world
    v2 = reg.generation("v2")
    g = Gallery.create(v2)
    ids = [f"d{n}" for n in range(800, N)]
    g.add(vecs["v2"][800:], ids, generation=v2)
    by_object = g.search_vectors(
        vecs["v3"][800:], k=5, generation=reg.generation("v3"), registry=reg
    )
    by_name = g.search(vecs["v3"][800:], k=5, generation="v3", registry=reg)
    by_tensor = g.search(torch.from_numpy(vecs["v3"][800:]), k=5, generation="v3", registry=reg)
    assert by_name.ids == by_object.ids == by_tensor.ids
    np.testing.assert_allclose(by_tensor.scores, by_object.scores, rtol=1e-6)
    with pytest.raises(ValidationError, match="registry="):
        g.search(vecs["v3"][800:], generation="v3")
    with pytest.raises(ValidationError, match="non-empty texts"):
        g.search(["fine", "  "], generation="v2", registry=reg)


def _manual_top(
    gallery_vecs: np.ndarray, mapped: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    scores = mapped @ gallery_vecs.T
    order = np.argsort(-scores, axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("family", ["affine", "mlp"])
def test_routed_search_equals_mapping_then_searching(
    world: tuple[Registry, dict[str, np.ndarray]], family: str
) -> None:
    from embedreg.routing import Resolver

    reg, vecs = world
    if family != "affine":  # the only adapter is non-affine: the search maps queries in numpy
        reg.remove_adapter("v3-to-v2.affine")
        train_ids = [f"t{n}" for n in range(800)]
        pairs = PairedEmbeddings(train_ids, vecs["v3"][:800], vecs["v2"][:800])
        config = TrainConfig(device="cpu", epochs=5)
        train_adapter(reg, "v3", "v2", pairs, family=family, config=config)
    v2, v3 = reg.generation("v2"), reg.generation("v3")
    g = Gallery.create(v2)
    ids = [f"d{n}" for n in range(800, N)]
    g.add(vecs["v2"][800:], ids, generation=v2)
    resolver = Resolver(reg)
    path = resolver.resolve("v3", "v2")
    assert path.adapter_ids == [f"v3-to-v2.{family}"]
    hits = g.search_vectors(vecs["v3"][800:], k=5, generation=v3, resolver=resolver)
    order, scores = _manual_top(vecs["v2"][800:], path.apply(vecs["v3"][800:]), 5)
    np.testing.assert_allclose(hits.scores, scores, atol=1e-5)
    assert (
        np.mean([[ids[i] for i in row] == got for row, got in zip(order, hits.ids, strict=True)])
        > 0.99
    )
    again = g.search_vectors(vecs["v3"][800:], k=5, generation=v3, resolver=resolver)
    assert again.ids == hits.ids
    assert len(g.routed) == (1 if family == "affine" else 0)  # the FAISS pre-transform is reused
