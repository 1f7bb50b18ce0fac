"""Issue 26 #6, #14: inputs and outputs are checked before models load or locks are taken.

The generations are Hub repos that cannot be fetched here: had a model been
loaded first, every error below would be another one (the repo is missing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.data.embeddings import save_embeddings

from conftest import run_cli  # type: ignore[import-not-found]


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    env = {"EMBEDREG_REGISTRY": str(tmp_path / "reg")}

    def cli(*args: str) -> Any:
        return run_cli(*args, env=env)

    assert cli("init").returncode == 0
    hub = ["org/unreachable", "--revision", "1" * 40, "--dim", "8", "--no-fingerprint"]
    assert cli("gen", "add", "g1", *hub).returncode == 0
    vectors = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    g1 = Registry.open(tmp_path / "reg").generation("g1")
    save_embeddings(tmp_path / "g1.safetensors", vectors, generation=g1, role="document")
    built = cli(
        "gallery", "build", "g1", str(tmp_path / "g1.safetensors"), "-o", str(tmp_path / "gal")
    )
    assert built.returncode == 0, built.stderr
    (tmp_path / "docs.txt").write_text("one\ntwo\n")
    return {"cli": cli, "tmp": tmp_path}


def _one_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "internal error" not in lines[0] and "unreachable" not in lines[0], lines[0]
    return lines[0]


def test_an_unwritable_output_is_refused_before_the_model_loads(world: dict[str, Any]) -> None:
    cli, tmp = world["cli"], world["tmp"]
    blocker = tmp / "afile"
    blocker.write_text("not a folder")
    line = _one_line(
        cli("embed", "g1", str(tmp / "docs.txt"), "-o", str(blocker / "out.safetensors"))
    )
    assert str(blocker) in line and "Not a directory" in line
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp / "ro"
        ro.mkdir(mode=0o555)
        line = _one_line(cli("embed", "g1", str(tmp / "docs.txt"), "-o", str(ro / "o.safetensors")))
        assert str(ro) in line and "Permission denied" in line


def test_a_huge_sparse_input_is_refused_at_its_first_line(world: dict[str, Any]) -> None:
    cli, tmp = world["cli"], world["tmp"]
    sparse = tmp / "sparse.jsonl"
    with open(sparse, "wb") as fh:
        fh.truncate(1 << 30)  # 1 GB of holes: no line break anywhere
    line = _one_line(cli("gallery", "add", str(tmp / "gal"), str(sparse)))
    assert "line 1" in line and "longer than" in line
    assert not (tmp / "gal" / ".gallery.lock").exists()  # refused before the lock was taken


def test_a_pipe_and_repeated_ids_are_refused_in_one_line(world: dict[str, Any]) -> None:
    cli, tmp = world["cli"], world["tmp"]
    fifo = tmp / "pipe.txt"
    os.mkfifo(fifo)
    assert "not a regular file" in _one_line(cli("gallery", "add", str(tmp / "gal"), str(fifo)))
    assert "not a" in _one_line(cli("embed", "g1", str(fifo), "-o", str(tmp / "e.safetensors")))
    dup = tmp / "dup.jsonl"
    dup.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    line = _one_line(cli("gallery", "add", str(tmp / "gal"), str(dup)))
    assert "line 2" in line and "'a' was given on line 1" in line
    assert not (tmp / "gal" / ".gallery.lock").exists()  # refused before the lock was taken


def test_a_held_gallery_lock_is_named_as_the_gallery_lock(tmp_path: Path) -> None:
    from embedreg.errors import LockTimeout
    from embedreg.gallery import storage
    from filelock import FileLock

    (tmp_path / "gallery.json").write_text("{}")
    held = FileLock(str(tmp_path / ".gallery.lock"))
    held.acquire()
    try:
        with (
            pytest.raises(LockTimeout, match=r"^gallery lock .*\.gallery\.lock still held"),
            storage.locked(tmp_path, timeout=0.05),
        ):
            pass
    finally:
        held.release()


def test_huge_or_odd_figures_print_short() -> None:
    from embedreg_cli.figures import format_figure

    assert format_figure("retention", 1e308) == "1e+308"
    assert format_figure("cmc@1", 1e300) == "1e+302"
    assert format_figure("retention.interval", ["a", {}]) == "[a, {}]"
    assert len(format_figure("note", "x" * 1000)) == 40
