"""Embeddings files: round trips, shards, streaming, pinning to a generation, atomicity."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, __version__
from embedreg.data.embeddings import (
    EmbeddingsWriter,
    iter_embeddings,
    load_embeddings,
    read_meta,
    save_embeddings,
)
from embedreg.errors import (
    DimensionMismatch,
    EmbeddingsFileError,
    GenerationMismatch,
    ValidationError,
)
from safetensors.numpy import load_file, save_file


def make_gen(name: str = "v2", dim: int = 8, commit: str = "a", **recipe: object) -> Generation:
    return Generation(name, HubSource("org/model", commit * 40), Recipe(**recipe), dimension=dim)  # type: ignore[arg-type]


def rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_single_file_round_trip_with_ids_labels_and_metadata(tmp_path: Path) -> None:
    gen = make_gen()
    vectors = rows(10)
    ids = [f"doc-{i}" for i in range(9)] + ["é-✓"]
    labels = ["a", "b"] * 5
    path = save_embeddings(
        tmp_path / "e.safetensors", vectors, generation=gen, role="document", ids=ids, labels=labels
    )
    assert path.is_file()
    emb = load_embeddings(path, generation=gen)
    np.testing.assert_array_equal(emb.vectors, vectors)
    assert emb.vectors.dtype == np.float32
    assert emb.ids == ids and emb.labels == labels
    meta = emb.meta
    assert (meta.generation, meta.pin, meta.recipe_hash) == (gen.name, gen.pin, gen.recipe.hash)
    assert (meta.role, meta.count, meta.dimension) == ("document", 10, 8)
    assert meta.embedreg_version == __version__ and meta.created.endswith("Z")
    # a plain safetensors reader sees the same tensors without embedreg
    plain = load_file(str(path))
    np.testing.assert_array_equal(plain["embeddings"], vectors)
    offsets = plain["ids_offsets"]
    assert offsets.shape == (11,) and offsets[-1] == len(plain["ids_data"])
    assert bytes(plain["ids_data"][offsets[9] : offsets[10]]).decode() == "é-✓"
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


def test_without_ids_and_empty(tmp_path: Path) -> None:
    gen = make_gen()
    emb = load_embeddings(save_embeddings(tmp_path / "q.st", rows(3), generation=gen, role="query"))
    assert emb.ids is None and emb.labels is None and emb.meta.role == "query"
    empty = save_embeddings(
        tmp_path / "empty.st", np.zeros((0, 8), np.float32), generation=gen, role="document"
    )
    loaded = load_embeddings(empty, generation=gen)
    assert loaded.vectors.shape == (0, 8) and loaded.meta.count == 0
    assert list(iter_embeddings(empty, batch_rows=4)) == []


def test_sharded_folder_streams_and_reads_back(tmp_path: Path) -> None:
    gen = make_gen()
    data = rows(250)
    ids = [str(i) for i in range(250)]
    out = tmp_path / "big.safetensors"
    with EmbeddingsWriter(out, gen, "document", shard_rows=100) as writer:
        for start in range(0, 250, 37):
            writer.write(data[start : start + 37], ids=ids[start : start + 37])
    assert out.is_dir()
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "embeddings-00001.safetensors",
        "embeddings-00002.safetensors",
        "embeddings-00003.safetensors",
        "index.json",
    ]
    index = json.loads((out / "index.json").read_text())
    assert [s["rows"] for s in index["shards"]] == [100, 100, 50]
    # each shard is a complete embeddings file of its own
    shard2 = read_meta(out / "embeddings-00002.safetensors")
    assert shard2.count == 100 and shard2.generation == "v2"
    emb = load_embeddings(out, generation=gen)
    np.testing.assert_array_equal(emb.vectors, data)
    assert emb.ids == ids and emb.meta.count == 250
    batches = list(iter_embeddings(out, batch_rows=64, generation=gen))
    assert [len(b) for b in batches] == [64, 64, 64, 58]
    assert [b.start for b in batches] == [0, 64, 128, 192]
    np.testing.assert_array_equal(np.concatenate([b.vectors for b in batches]), data)
    assert [i for b in batches for i in b.ids or []] == ids


def test_reading_as_another_generation_is_refused(tmp_path: Path) -> None:
    v3 = make_gen("v3", dim=8, commit="c")
    path = save_embeddings(tmp_path / "e.st", rows(4), generation=v3, role="document")
    with pytest.raises(GenerationMismatch) as info:
        load_embeddings(path, generation=make_gen("v2", dim=8, commit="b"))
    message = str(info.value)
    assert "'v3'" in message and "'v2'" in message and "embedreg embed" in message
    with pytest.raises(GenerationMismatch):
        next(iter_embeddings(path, batch_rows=2, generation=make_gen("v2", commit="b")))
    # the same name with other weights, or another recipe, is another space too
    with pytest.raises(GenerationMismatch, match="different pin"):
        load_embeddings(path, generation=make_gen("v3", commit="d"))
    with pytest.raises(GenerationMismatch, match="different recipe"):
        load_embeddings(path, generation=make_gen("v3", commit="c", query_prefix="q: "))
    assert load_embeddings(path, generation=make_gen("v3", commit="c")).meta.generation == "v3"
    # another name on the same weights: the two pins read alike, so the message says what differs
    with pytest.raises(GenerationMismatch, match=r"\[the same weights, another recipe\]"):
        load_embeddings(path, generation=make_gen("v3-short", commit="c", max_tokens=32))
    with pytest.raises(GenerationMismatch, match="the same weights and recipe, registered under"):
        load_embeddings(path, generation=make_gen("v3-copy", commit="c"))


def test_bad_vectors_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    gen = make_gen()
    out = tmp_path / "e.st"
    with pytest.raises(DimensionMismatch):
        save_embeddings(out, rows(3, dim=5), generation=gen, role="document")
    nan = rows(3)
    nan[1, 2] = np.nan
    with pytest.raises(ValidationError, match="vector 1 holds NaN"):
        save_embeddings(out, nan, generation=gen, role="document")
    with pytest.raises(ValidationError, match="3 vectors but 2 ids"):
        save_embeddings(out, rows(3), generation=gen, role="document", ids=["a", "b"])
    with pytest.raises(ValidationError, match="role"):
        save_embeddings(out, rows(3), generation=gen, role="gallery")
    with (
        pytest.raises(ValidationError, match="same of ids/labels"),
        EmbeddingsWriter(out, gen, "document") as writer,
    ):
        writer.write(rows(2), ids=["a", "b"])
        writer.write(rows(2))
    assert not out.exists()
    assert not list(tmp_path.iterdir()), "an aborted write leaves nothing"


def test_failed_rewrite_keeps_the_old_file(tmp_path: Path) -> None:
    gen = make_gen()
    out = tmp_path / "e.st"
    save_embeddings(out, rows(3, seed=1), generation=gen, role="document")
    before = out.read_bytes()
    with pytest.raises(RuntimeError), EmbeddingsWriter(out, gen, "document") as writer:
        writer.write(rows(5))
        raise RuntimeError("interrupted")
    assert out.read_bytes() == before
    # replacing a single file by a sharded folder and back
    save_embeddings(out, rows(30), generation=gen, role="document", shard_rows=10)
    assert out.is_dir() and load_embeddings(out).meta.count == 30
    save_embeddings(out, rows(3), generation=gen, role="document")
    assert out.is_file() and load_embeddings(out).meta.count == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.st"]


def test_a_foreign_folder_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    with pytest.raises(EmbeddingsFileError, match="not an embeddings folder"):
        save_embeddings(folder, rows(3), generation=make_gen(), role="document")
    assert (folder / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_foreign_or_damaged_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingsFileError, match="does not exist"):
        load_embeddings(tmp_path / "missing.st")
    plain = tmp_path / "plain.safetensors"
    save_file({"embeddings": rows(2)}, str(plain))
    with pytest.raises(EmbeddingsFileError, match="not an embedreg embeddings file"):
        load_embeddings(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(EmbeddingsFileError, match="not a readable safetensors file"):
        read_meta(junk)
    folder = tmp_path / "sharded.st"
    save_embeddings(folder, rows(20), generation=make_gen(), role="document", shard_rows=10)
    (folder / "embeddings-00002.safetensors").unlink()
    with pytest.raises(
        EmbeddingsFileError, match=r"shard embeddings-00002\.safetensors is missing"
    ):
        load_embeddings(folder)
    with pytest.raises(EmbeddingsFileError, match=r"folder without index\.json"):
        load_embeddings(tmp_path)


def test_mixed_shards_are_detected(tmp_path: Path) -> None:
    a = tmp_path / "a.st"
    b = tmp_path / "b.st"
    save_embeddings(a, rows(20), generation=make_gen("v2"), role="document", shard_rows=10)
    save_embeddings(b, rows(20), generation=make_gen("v1"), role="document", shard_rows=10)
    (b / "embeddings-00002.safetensors").replace(a / "embeddings-00002.safetensors")
    with pytest.raises(EmbeddingsFileError, match="not written with the rest"):
        load_embeddings(a)


def test_streaming_write_and_read_use_bounded_memory(tmp_path: Path) -> None:
    """200k rows (51 MB of vectors) go through with a few MB of Python/numpy memory."""
    gen = make_gen(dim=64)
    batch = rows(1000, dim=64)
    total_bytes = 200_000 * 64 * 4
    out = tmp_path / "stream.st"
    tracemalloc.start()
    try:
        with EmbeddingsWriter(out, gen, "document", shard_rows=50_000) as writer:
            for start in range(0, 200_000, 1000):
                writer.write(batch, ids=[str(i) for i in range(start, start + 1000)])
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = 0
        for part in iter_embeddings(out, batch_rows=2000, generation=gen):
            seen += len(part)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 200_000 and read_meta(out).count == 200_000
    assert write_peak < total_bytes / 8, f"writer peak {write_peak} bytes"
    assert read_peak < total_bytes / 8, f"reader peak {read_peak} bytes"


def test_a_count_that_disagrees_with_the_rows_is_refused(tmp_path: Path) -> None:
    """Issue 14 #9: metadata claiming fewer rows than the file holds is an error, not a truncation."""
    path = tmp_path / "e.safetensors"
    save_embeddings(path, rows(10), generation=make_gen(), role="document", ids=list("abcdefghij"))
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as fh:
        meta = dict(fh.metadata())
    tensors = load_file(str(path))
    save_file(tensors, str(path), metadata={**meta, "count": "7"})
    with pytest.raises(EmbeddingsFileError, match="holds 10 vectors but its metadata says 7"):
        load_embeddings(path)
    with pytest.raises(EmbeddingsFileError, match="holds 10 vectors but its metadata says 7"):
        list(iter_embeddings(path, batch_rows=3))
    short_ids = {**tensors, "ids_offsets": tensors["ids_offsets"][:-2]}
    save_file(short_ids, str(path), metadata=meta)
    with pytest.raises(EmbeddingsFileError, match="holds 8 ids for 10 vectors"):
        load_embeddings(path)
