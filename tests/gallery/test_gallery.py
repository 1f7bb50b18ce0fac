from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe
from embedreg.errors import (
    DimensionMismatch,
    DuplicateName,
    GalleryError,
    GenerationMismatch,
    NotFound,
    ValidationError,
)
from embedreg.gallery import Gallery, IndexSpec


def gen(name: str, dim: int = 16, commit: str = "0" * 40, normalize: bool = True) -> Generation:
    return Generation(
        name, HubSource("org/model", commit), Recipe(normalize=normalize), dimension=dim
    )


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def v2() -> Generation:
    return gen("v2")


def test_search_finds_each_item_itself(v2: Generation) -> None:
    x = unit(np.random.default_rng(0), 50, 16)
    g = Gallery.create(v2)
    ids = [f"doc-{i}" for i in range(50)]
    assert g.add(x, ids, generation=v2) == 50
    hits = g.search_vectors(x, k=3, generation=v2)
    assert [row[0] for row in hits.ids] == ids
    assert all(row[0] == pytest.approx(1.0, abs=1e-5) for row in hits.scores)
    assert hits.paths == {}  # same generation: no mapping
    assert all(s == ["v2"] * 3 for s in hits.segments)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_flat_matches_brute_force(v2: Generation, metric: str) -> None:
    rng = np.random.default_rng(1)
    x, q = unit(rng, 200, 16), unit(rng, 5, 16)
    g = Gallery.create(v2, metric=metric)
    g.add(x, [str(i) for i in range(200)], generation=v2)
    hits = g.search_vectors(q, k=10, generation=v2)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]  # unit vectors: same order for both metrics
    assert [[int(i) for i in row] for row in hits.ids] == truth.tolist()


def test_save_load_round_trip(tmp_path: Path, v2: Generation) -> None:
    x = unit(np.random.default_rng(2), 20, 16)
    g = Gallery.create(v2, name="news")
    g.add(x, [f"d{i}" for i in range(20)], generation=v2, texts=[f"text {i}" for i in range(20)])
    g.save(tmp_path / "g")
    loaded = Gallery.load(tmp_path / "g")
    assert len(loaded) == 20 and loaded.name == "news"
    assert loaded.item("d3").text == "text 3"
    assert loaded.segments["v2"].count == 20
    assert loaded.info()["content_hash"] == g.info()["content_hash"] is not None
    np.testing.assert_array_equal(loaded.vectors(["d0", "d5"]), x[[0, 5]])
    manifest = json.loads((tmp_path / "g" / "gallery.json").read_text())
    seg = manifest["segments"]["v2"]
    assert (seg["pin"], seg["recipe_hash"], seg["dimension"]) == (v2.pin, v2.recipe.hash, 16)
    assert manifest["metric"] == "ip" and manifest["count"] == 20


def test_saves_replace_files_and_clean_up(tmp_path: Path, v2: Generation) -> None:
    g = Gallery.create(v2)
    g.add(unit(np.random.default_rng(3), 5, 16), list("abcde"), generation=v2)
    g.save(tmp_path / "g")
    g.remove(["a"])
    g.save()
    names = sorted(p.name for p in (tmp_path / "g").iterdir())
    # the version just replaced stays for readers that read its manifest; older ones go
    assert names == ["gallery.json", "items.1.jsonl", "items.2.jsonl", "v2.1.faiss", "v2.2.faiss"]
    g.remove(["b"])
    g.save()
    names = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert names == ["gallery.json", "items.2.jsonl", "items.3.jsonl", "v2.2.faiss", "v2.3.faiss"]
    assert Gallery.load(tmp_path / "g").ids() == list("cde")


def test_refuses_wrong_generation_and_dimension(v2: Generation) -> None:
    g = Gallery.create(v2)
    with pytest.raises(DimensionMismatch):
        g.add(np.zeros((1, 8), dtype=np.float32), ["x"], generation=v2)
    with pytest.raises(GenerationMismatch, match="v3"):
        g.add(np.zeros((1, 16), dtype=np.float32), ["x"], generation=gen("v3"))
    impostor = gen("v2", commit="1" * 40)  # same name, other weights
    with pytest.raises(GenerationMismatch, match="pinned"):
        g.add(np.zeros((1, 16), dtype=np.float32), ["x"], generation=impostor)
    with pytest.raises(DimensionMismatch):
        g.search_vectors(np.zeros((1, 8), dtype=np.float32), generation=v2)


def test_refuses_bad_items(v2: Generation) -> None:
    g = Gallery.create(v2)
    g.add(unit(np.random.default_rng(4), 2, 16), ["a", "b"], generation=v2)
    with pytest.raises(DuplicateName):
        g.add(unit(np.random.default_rng(5), 1, 16), ["a"], generation=v2)
    with pytest.raises(DuplicateName):
        g.add(unit(np.random.default_rng(5), 2, 16), ["c", "c"], generation=v2)
    bad = np.zeros((1, 16), dtype=np.float32)
    bad[0, 3] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        g.add(bad, ["n"], generation=v2)
    with pytest.raises(ValidationError):
        g.add(unit(np.random.default_rng(5), 2, 16), ["x"], generation=v2)
    with pytest.raises(NotFound):
        g.remove(["zzz"])
    assert len(g) == 2


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_remove_and_reload_for_each_index_kind(tmp_path: Path, kind: str) -> None:
    v = gen("v2", dim=32)
    rng = np.random.default_rng(6)
    x = unit(rng, 2000, 32)
    spec = IndexSpec(kind, nlist=16, pq_m=8, pq_bits=5, nprobe=16)
    g = Gallery.create(v, index=spec)
    ids = [f"i{n}" for n in range(2000)]
    g.add(x, ids, generation=v)
    removed = ids[:100]
    assert g.remove(removed) == 100
    g.save(tmp_path / kind)
    loaded = Gallery.load(tmp_path / kind)
    assert len(loaded) == 1900
    hits = loaded.search_vectors(x[:100], k=5, generation=v)
    assert not set(removed) & {i for row in hits.ids for i in row}
    found = loaded.search_vectors(x[100:200], k=1, generation=v)
    recall = np.mean([row[0] == ids[100 + n] for n, row in enumerate(found.ids)])
    assert recall >= (1.0 if kind == "flat" else 0.8)


def test_ivfpq_needs_enough_training_vectors() -> None:
    v = gen("v2", dim=32)
    g = Gallery.create(v, index=IndexSpec("ivfpq", nlist=64, pq_m=8))
    with pytest.raises(ValidationError, match="at least 9984"):
        g.add(unit(np.random.default_rng(7), 100, 32), [str(i) for i in range(100)], generation=v)


def test_tampered_files_refused(tmp_path: Path, v2: Generation) -> None:
    g = Gallery.create(v2)
    g.add(unit(np.random.default_rng(8), 10, 16), [str(i) for i in range(10)], generation=v2)
    folder = g.save(tmp_path / "g")
    index_file = next(folder.glob("*.faiss"))
    data = bytearray(index_file.read_bytes())
    data[-5] ^= 0xFF
    index_file.write_bytes(bytes(data))
    with pytest.raises(GalleryError, match="sha256"):
        Gallery.load(folder)
    items = next(folder.glob("items.*.jsonl"))
    index_file.write_bytes(bytes(data[:-5]) + bytes([data[-5] ^ 0xFF]) + bytes(data[-4:]))
    items.write_text(items.read_text().replace('"0"', '"zero"'))
    with pytest.raises(GalleryError, match="content hash"):
        Gallery.load(folder)
    (folder / "gallery.json").write_text('{"format": "embedreg.gallery", ')
    with pytest.raises(GalleryError, match="corrupted"):
        Gallery.load(folder)


def test_missing_gallery(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="gallery build"):
        Gallery.load(tmp_path / "nothing")


def test_save_refuses_to_overwrite_another_gallery(tmp_path: Path, v2: Generation) -> None:
    Gallery.create(v2).save(tmp_path / "g")
    with pytest.raises(DuplicateName):
        Gallery.create(v2).save(tmp_path / "g")


def _add_items(folder: str, worker: int) -> None:
    v = gen("v2")
    rng = np.random.default_rng(worker)
    for n in range(5):
        with Gallery.edit(folder) as g:
            g.add(unit(rng, 2, 16), [f"w{worker}-{n}-a", f"w{worker}-{n}-b"], generation=v)


def test_concurrent_edits_lose_nothing(tmp_path: Path, v2: Generation) -> None:
    Gallery.create(v2).save(tmp_path / "g")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_add_items, args=(str(tmp_path / "g"), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(Gallery.load(tmp_path / "g")) == 40


def test_segments_keep_their_generations(tmp_path: Path, v2: Generation) -> None:
    v3 = gen("v3", dim=24)
    g = Gallery.create(v2)
    g.add(unit(np.random.default_rng(9), 3, 16), ["a", "b", "c"], generation=v2)
    g.add_segment(v3)
    g.add(unit(np.random.default_rng(9), 2, 24), ["d", "e"], generation=v3)
    g.save(tmp_path / "g")
    loaded = Gallery.load(tmp_path / "g")
    assert {n: s.count for n, s in loaded.segments.items()} == {"v2": 3, "v3": 2}
    assert loaded.item("d").segment == "v3"
    assert loaded.ids("v2") == ["a", "b", "c"]
    with pytest.raises(GenerationMismatch, match="registry"):
        loaded.search_vectors(unit(np.random.default_rng(1), 1, 16), generation=v2)
