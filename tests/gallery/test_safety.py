"""Gallery folders under hostile conditions (issue 14): tampered manifests, readers beside writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from embedreg.errors import GalleryError
from embedreg.gallery import Gallery
from embedreg.registry import Generation, HubSource, Recipe

V2 = Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 8)


def unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    g = Gallery.create(V2, name="g")
    g.add(unit(6, 0), list("abcdef"), generation=V2, texts=list("ABCDEF"))
    return g.save(tmp_path / "g")


def edit_manifest(folder: Path, change: object) -> None:
    path = folder / "gallery.json"
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


def test_a_removed_content_hash_does_not_hide_an_edited_items_file(folder: Path) -> None:
    items = next(folder.glob("items.*.jsonl"))
    items.write_text(items.read_text().replace('"A"', '"edited"'))
    with pytest.raises(GalleryError, match="content hash"):
        Gallery.load(folder)
    edit_manifest(folder, lambda d: d.pop("content_hash"))
    with pytest.raises(GalleryError, match="must record its content hash"):
        Gallery.load(folder)


def test_a_lowered_next_id_is_refused_before_any_write(folder: Path) -> None:
    edit_manifest(folder, lambda d: d.update(next_id=2))
    with pytest.raises(GalleryError, match="not below next_id 2"):
        Gallery.load(folder)
    with pytest.raises(GalleryError), Gallery.edit(folder) as g:
        g.add(unit(1, 9), ["z"], generation=V2)


def test_segment_and_file_names_cannot_leave_the_folder(folder: Path, tmp_path: Path) -> None:
    def escape(data: dict) -> None:
        seg = data["segments"].pop("v2")
        seg["generation"] = "../../escaped"
        data["segments"]["../../escaped"] = seg

    original = (folder / "gallery.json").read_text()
    edit_manifest(folder, escape)
    with pytest.raises(GalleryError, match="not a generation name"):
        Gallery.load(folder)
    (folder / "gallery.json").write_text(original)
    edit_manifest(folder, lambda d: d["segments"]["v2"].update(index_file="../../x.faiss"))
    with pytest.raises(GalleryError, match="names index file"):
        Gallery.load(folder)
    (folder / "gallery.json").write_text(original)
    edit_manifest(folder, lambda d: d.update(items_file="../items.1.jsonl"))
    with pytest.raises(GalleryError, match="is not the one of version"):
        Gallery.load(folder)
    assert not (tmp_path / "escaped").exists()


def test_temporary_files_of_killed_writers_go_with_the_next_save(folder: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    leftovers = [
        folder / f".items.2.jsonl.{pid}.abc.tmp",
        folder / f".gallery.json.{pid}.def.tmp",
        folder / f".v2.2.faiss.{pid}.w.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"x" * 1000)
    uncommitted = folder / "v2.7.faiss"  # a version written but never switched to
    uncommitted.write_bytes(b"x")
    with Gallery.edit(folder) as g:
        g.add(unit(1, 5), ["g"], generation=V2)
    assert not any(p.exists() for p in leftovers) and not uncommitted.exists()
    assert Gallery.load(folder).ids() == list("abcdefg")


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from embedreg.gallery import Gallery
    from embedreg.registry import Generation, HubSource, Recipe
    v2 = Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 8)
    folder, w = sys.argv[1], int(sys.argv[2])
    for n in range(6):
        x = np.random.default_rng(100 * w + n).standard_normal((3, 8)).astype("float32")
        with Gallery.edit(folder, timeout=120) as g:
            g.add(x, [f"w{w}-{n}-{i}" for i in range(3)], generation=v2)
    """
)


def test_readers_see_no_error_while_eight_writers_add(folder: Path) -> None:
    """Acceptance: Gallery.load and `gallery info` looped beside 8 writing processes never fail."""
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(w)], stderr=subprocess.PIPE, text=True
        )
        for w in range(8)
    ]
    exe = Path(sys.executable).with_name("embedreg")
    loads = infos = 0
    sizes: set[int] = set()  # the states the readers saw: proof that they read between writes
    try:
        while any(w.poll() is None for w in writers):
            g = Gallery.load(folder)
            assert len(g) == len(g.ids()) and len(g) >= 6
            sizes.add(len(g))
            loads += 1
            if loads % 10 == 1:
                info = subprocess.run(
                    [str(exe), "gallery", "info", str(folder), "--json"],
                    capture_output=True,
                    text=True,
                )
                assert info.returncode == 0, info.stderr
                assert json.loads(info.stdout)["count"] >= 6
                infos += 1
            time.sleep(0.001)
    finally:
        errors = [w.communicate()[1] for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    final = Gallery.load(folder)
    # How many loads fit beside the writers depends on the machine's load; that the readers
    # saw the gallery grow (several sizes) shows they read while the writers wrote.
    assert len(final) == 6 + 8 * 6 * 3 and len(sizes) >= 2 and infos >= 1
    assert os.listdir(folder).count("gallery.json") == 1
