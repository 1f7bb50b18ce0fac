"""Work folders of sharded embedding: chunk files, resumption, what a dead writer leaves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe
from embedreg.data.embeddings import save_embeddings
from embedreg.errors import EmbedRegError, ValidationError
from embedreg.models.processes import Processes, launched, on_main, processes
from embedreg.models.sharded import (
    WorkSpec,
    chunk_path,
    completed,
    load_spec,
    prepare,
    read_chunks,
)

GEN = Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 4)


def spec(tmp_path: Path, count: int = 10, chunk: int = 4) -> WorkSpec:
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({"id": f"i{n}", "text": f"t{n}"}) + "\n" for n in range(count))
    )
    return WorkSpec(GEN, str(items), input_sha256="x", count=count, chunk_size=chunk)


def write_chunk(work: Path, s: WorkSpec, k: int, rows: int | None = None) -> None:
    n = s.rows(k) if rows is None else rows
    ids = [f"i{k * s.chunk_size + j}" for j in range(n)]
    save_embeddings(chunk_path(work, k), np.ones((n, 4)), generation=GEN, role="document", ids=ids)


def test_chunks_resume_and_bad_leftovers_go(tmp_path: Path) -> None:
    s = spec(tmp_path)
    work = tmp_path / "work"
    assert s.chunks == 3 and [s.rows(k) for k in range(3)] == [4, 4, 2]
    assert prepare(work, s) is False
    assert load_spec(work) == s
    write_chunk(work, s, 0)
    write_chunk(work, s, 2, rows=1)  # a chunk with the wrong number of rows
    (work / "chunks" / ".chunk-000001.safetensors.abc.tmp").mkdir()  # a dead writer's staging
    assert prepare(work, s) is True  # the same work: resumed
    assert completed(work, s) == 4
    assert sorted(p.name for p in (work / "chunks").iterdir()) == ["chunk-000000.safetensors"]
    with pytest.raises(EmbedRegError, match="missing"):
        list(read_chunks(work))
    write_chunk(work, s, 1)
    write_chunk(work, s, 2)
    assert [c.ids for c in read_chunks(work)][2] == ["i8", "i9"]
    other = WorkSpec(GEN, s.input, input_sha256="y", count=10, chunk_size=4)
    assert prepare(work, other) is False and completed(work, other) == 0  # other work: replaced


def test_prepare_refuses_a_folder_that_is_not_work(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValidationError, match="not an embedding work folder"):
        prepare(tmp_path / "mine", spec(tmp_path))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_one_process_outside_a_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched() and processes("cpu") == Processes(0, 1, "cpu")
    assert on_main(Processes(), lambda: 42) == 42
