"""One writer at a time on a database gallery (issue 24): real processes, real databases.

A writer (``gallery add``, ``upgrade apply``, ...) takes the gallery's writer
lock before it reads the manifest: a PostgreSQL advisory lock, or the
embedded database's own lock on its folder (Qdrant's local mode).  Two
``embedreg gallery add`` processes started while a third writer holds the
gallery both wait, then run one after the other: no source and no item is
lost to an interleaved manifest write.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import run_cli

DIM = 8


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """A registry with one synthetic generation and three embeddings files of it."""
    from embedreg import Registry
    from embedreg.data.embeddings import save_embeddings
    from embedreg.registry import Generation, HubSource, Recipe

    reg = Registry.open(tmp_path / "registry")
    reg.init()
    gen = reg.add_generation(Generation("old", HubSource("org/old", "1" * 40), Recipe(), DIM))
    rng = np.random.default_rng(0)
    files = {}
    for part in ("base", "a", "b"):
        x = rng.standard_normal((40, DIM)).astype(np.float32)
        files[part] = save_embeddings(
            tmp_path / f"{part}.safetensors",
            x,
            generation=gen,
            role="document",
            ids=[f"{part}-{i}" for i in range(40)],
        )
    return {"reg": reg, "files": files, "env": {"EMBEDREG_REGISTRY": str(tmp_path / "registry")}}


def _url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    name = f"locked{uuid.uuid4().hex[:8]}"
    if backend == "qdrant":
        return f"qdrant://{tmp / 'qdrant'}?collection={name}"
    uri = request.getfixturevalue("pg_uri")
    return f"{uri}{'&' if '?' in uri else '?'}table={name}"


@pytest.mark.parametrize("backend", ["pgvector", "qdrant"])
def test_a_second_writer_waits_for_the_first_and_times_out_in_one_line(
    backend: str, world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from embedreg.errors import LockTimeout
    from embedreg.gallery import build_gallery
    from embedreg.gallery.database import DatabaseGallery

    url = _url(backend, tmp_path, request)
    build_gallery(world["reg"], "old", world["files"]["base"], url, register=False)
    with (
        DatabaseGallery.open(url, write=True),
        pytest.raises(LockTimeout, match="still held by another process"),
    ):
        DatabaseGallery.open(url, write=True, timeout=0.3)
    # released with the first writer's connection: the next one takes it
    with DatabaseGallery.edit(url, timeout=0.3) as g:
        assert len(g) == 40


@pytest.mark.parametrize("backend", ["pgvector", "qdrant"])
def test_two_concurrent_adds_in_real_processes_both_land(
    backend: str, world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from embedreg.gallery import build_gallery
    from embedreg.gallery.database import DatabaseGallery

    url = _url(backend, tmp_path, request)
    build_gallery(world["reg"], "old", world["files"]["base"], url, register=False)
    exe = Path(sys.executable).with_name("embedreg")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "embedreg_cli"]
    env = {**os.environ, **world["env"]}
    holder = DatabaseGallery.open(url, write=True)
    procs = [
        subprocess.Popen(
            [*cmd, "gallery", "add", url, str(world["files"][part])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in ("a", "b")
    ]
    time.sleep(3)  # both start and wait for the writer lock the holder keeps
    assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    holder.close()  # now they race for the lock
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[1] for o in outs)
    with DatabaseGallery.open(url) as g:
        assert len(g) == 120
        assert {Path(s["path"]).name for s in g.sources} == {
            "base.safetensors",
            "a.safetensors",
            "b.safetensors",
        }
        assert "pending" not in g.state
    again = run_cli("gallery", "info", url, env=world["env"])
    assert again.returncode == 0, again.stderr


def test_a_closed_milvus_lite_gallery_is_free_for_another_process(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Milvus Lite keeps a file locked for its whole process; embedreg's last close unlocks it."""
    pytest.importorskip("milvus_lite")
    from embedreg.gallery.database import DatabaseGallery

    url = f"milvus://{tmp_path / 'lite' / 'g.db'}"
    gen = world["reg"].generation("old")
    rng = np.random.default_rng(1)
    with DatabaseGallery.create(url, gen) as g:  # this process opens and closes the file
        g.add(
            rng.standard_normal((5, DIM)).astype(np.float32),
            [f"i{i}" for i in range(5)],
            generation=gen,
        )
        g.state = {}
        g.save()
    code = (
        "import sys\n"
        "from embedreg.gallery.database import DatabaseGallery\n"
        "g = DatabaseGallery.open(sys.argv[1], timeout=5)\n"
        "print(g.count('old')); g.close()\n"
    )  # another process, while this one lives on: waits at most 5 s for the lock
    done = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "5"
    # and this process can open it again after the other closed it
    with DatabaseGallery.open(url, timeout=5) as again:
        assert again.count("old") == 5
