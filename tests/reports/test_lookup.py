"""The compatibility lookup: registered galleries a query generation can search, and why not."""

from __future__ import annotations

import json
from pathlib import Path

import embedreg
import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.gallery import Gallery
from embedreg.registry import GalleryRecord
from embedreg.routing import RoutingPolicy
from embedreg.training import train_adapter

N = 600


@pytest.fixture
def world(tmp_path: Path) -> Registry:
    """v1 ← v2 ← v3 (planted linear views of one latent set), adapters v3 → v2 → v1, three galleries."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((N, 8)).astype(np.float32)
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    vecs = {}
    parent = None
    for n, (name, dim) in enumerate((("v1", 10), ("v2", 12), ("v3", 16))):
        x = z @ rng.standard_normal((8, dim)).astype(np.float32)
        vecs[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
        reg.add_generation(
            Generation(name, HubSource(f"org/{name}", f"{n:040x}"), Recipe(), dim, parent=parent)
        )
        parent = name
    ids = [f"i{k}" for k in range(N)]
    labels = [str(k % 4) for k in range(N)]
    for new, old in (("v3", "v2"), ("v2", "v1")):
        pairs = PairedEmbeddings(ids, vecs[new], vecs[old], labels)
        train_adapter(reg, new, old, pairs, family="affine")
    for name, gens in (("old", ["v1"]), ("mid", ["v2"]), ("mixed", ["v1", "v2"])):
        g = Gallery.create(reg.generation(gens[0]), name=name)
        for k, gen in enumerate(gens):
            if k:
                g.add_segment(reg.generation(gen))
            rows = slice(100 * k, 100 * k + 50)
            g.add(vecs[gen][rows], ids[rows], generation=reg.generation(gen))
        folder = tmp_path / name
        g.save(folder)
        reg.add_gallery(GalleryRecord(name=name, location=str(folder), generation=gens[0]))
    return reg


def test_galleries_and_generations_are_listed_separately(world: Registry) -> None:
    found = embedreg.compatible("v3", registry=world)
    assert found.query == "v3"
    by_name = {g.name: g for g in found.galleries}
    assert set(by_name) == {"old", "mid", "mixed"}
    old = by_name["old"]
    assert old.generation == "v1" and old.generations == ["v1"] and Path(old.folder).is_dir()
    assert old.path.adapter_ids == ["v3-to-v2.affine", "v2-to-v1.affine"]
    assert old.basis == "cmc@1" and old.criterion in ("pass", "fail")
    assert old.interval is not None and old.quality == pytest.approx(old.path.quality)
    mixed = by_name["mixed"]
    assert mixed.generations == ["v1", "v2"] and set(mixed.paths) == {"v1", "v2"}
    assert mixed.quality == min(p.quality for p in mixed.paths.values())
    assert [p.gallery for p in found.generations] == ["v3", "v2", "v1"][: len(found.generations)]
    data = found.to_dict()
    assert {g["name"] for g in data["galleries"]} == {"old", "mid", "mixed"}
    assert data["generations"][0] == {
        "generation": "v3",
        "quality": 1.0,
        "basis": "identity",
        "interval": [1.0, 1.0],
        "criterion": "pass",
        "adapters": [],
    }
    assert all(isinstance(g["folder"], str) and g["generation"] for g in data["galleries"])


def test_unreachable_galleries_say_why(world: Registry, tmp_path: Path) -> None:
    found = embedreg.compatible("v1", registry=world)  # nothing maps v1 into a newer space
    assert found.galleries and [g.name for g in found.galleries] == ["old"]
    reasons = {u.name: u.reason for u in found.unreachable}
    assert set(reasons) == {"mid", "mixed"} and "no compatible path" in reasons["mid"]
    # a gallery embedded by another pin of v1 (the manifest says so) cannot be searched
    manifest = Path(world.gallery("old").location) / "gallery.json"
    data = json.loads(manifest.read_text())
    data["segments"]["v1"]["pin"] = "org/v1@" + "f" * 40
    manifest.write_text(json.dumps(data))
    again = {u.name: u.reason for u in embedreg.compatible("v3", registry=world).unreachable}
    assert "old" in again and "re-embed the gallery" in again["old"]


def test_strict_lookup_refuses_galleries_behind_unjudged_paths(world: Registry) -> None:
    strict = embedreg.compatible(
        "v3", registry=world, policy=RoutingPolicy(require_compatible=True)
    )
    for g in strict.galleries:
        assert g.criterion == "pass"
    for u in strict.unreachable:
        assert "compatibility is required" in u.reason
