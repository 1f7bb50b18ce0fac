"""Issue 26 #2 to #4, #6, #14: builds write only into their own folders, one wins, ids dedup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from embedreg.data.embeddings import save_embeddings
from embedreg.errors import DuplicateName, InputError, ValidationError
from embedreg.gallery import Gallery, add_to_gallery, build_gallery, remove_from_gallery
from embedreg.registry import Generation, HubSource, Recipe, Registry


@pytest.fixture
def world(tmp_path: Path) -> tuple[Registry, Path]:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    v1 = reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 8))
    x = np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32)
    ids = [f"d{i}" for i in range(30)]
    save_embeddings(
        tmp_path / "a.safetensors", x[:20], ids=ids[:20], generation=v1, role="document"
    )
    save_embeddings(
        tmp_path / "b.safetensors", x[20:], ids=ids[20:], generation=v1, role="document"
    )
    return reg, tmp_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != ".gallery.lock"
    }


@pytest.mark.parametrize("names", [["results.1.jsonl", "model.2.faiss"], ["notes.txt"]])
def test_build_refuses_a_folder_of_other_files(
    world: tuple[Registry, Path], names: list[str]
) -> None:
    reg, tmp = world
    out = tmp / "mine"
    out.mkdir()
    for n, name in enumerate(names):
        (out / name).write_bytes(f"user data {n}".encode())
    before = _snapshot(out)
    with pytest.raises(ValidationError, match="not empty and holds no gallery"):
        build_gallery(reg, "v1", tmp / "a.safetensors", out)
    assert _snapshot(out) == before and reg.galleries() == []
    # an empty folder is fine
    (empty := tmp / "empty").mkdir()
    assert len(build_gallery(reg, "v1", tmp / "a.safetensors", empty)) == 20


def test_saves_spare_user_files_that_only_look_versioned(world: tuple[Registry, Path]) -> None:
    reg, tmp = world
    out = tmp / "g"
    build_gallery(reg, "v1", tmp / "a.safetensors", out)
    (out / "results.1.jsonl").write_text("mine\n")
    add_to_gallery(reg, out, tmp / "b.safetensors")
    assert (out / "results.1.jsonl").read_text() == "mine\n"


_BUILDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from embedreg.errors import EmbedRegError
    from embedreg.gallery import build_gallery
    from embedreg.registry import Registry
    reg, src, out, name, gate = sys.argv[1:6]
    while not Path(gate).exists():
        time.sleep(0.005)
    try:
        build_gallery(Registry.open(reg), "v1", src, out, name=name)
    except EmbedRegError as exc:
        print("refused:", exc.message)
        sys.exit(1)
    print("built")
    """
)


def test_two_builds_into_one_folder_one_wins(world: tuple[Registry, Path]) -> None:
    """#3: exactly one build wins, the other is refused in one line, one record, one gallery."""
    reg, tmp = world
    for round_ in range(2):
        out, gate = tmp / f"race{round_}", tmp / f"gate{round_}"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _BUILDER,
                    str(tmp / "reg"),
                    str(tmp / src),
                    str(out),
                    name,
                    str(gate),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for src, name in (
                ("a.safetensors", f"first{round_}"),
                ("b.safetensors", f"second{round_}"),
            )
        ]
        gate.touch()
        results = [(p.wait(timeout=120), p.communicate()) for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 1], results
        loser = next(out_err for code, out_err in results if code == 1)
        assert loser[0].startswith("refused:") and len(loser[0].strip().splitlines()) == 1
        winner = 0 if results[0][0] == 0 else 1
        g = Gallery.load(out)
        assert g.name == ("first" if winner == 0 else "second") + str(round_)
        assert len(g) == (20 if winner == 0 else 10)
        records = [r for r in reg.galleries() if r.location == str(out)]
        assert [r.name for r in records] == [g.name]


def test_a_second_record_for_one_folder_is_refused(world: tuple[Registry, Path]) -> None:
    from embedreg.registry import GalleryRecord

    reg, tmp = world
    build_gallery(reg, "v1", tmp / "a.safetensors", tmp / "g")
    with pytest.raises(DuplicateName, match="gallery 'g'"):
        reg.add_gallery(GalleryRecord("other", str(tmp / "g"), "v1"))


def test_adding_a_file_again_restores_removed_items(world: tuple[Registry, Path]) -> None:
    """#4: dedup by item ids, not by file identity."""
    reg, tmp = world
    out = tmp / "g"
    build_gallery(reg, "v1", tmp / "a.safetensors", out)
    assert add_to_gallery(reg, out, tmp / "b.safetensors") == 10
    remove_from_gallery(out, ["d3", "d25"])
    assert add_to_gallery(reg, out, tmp / "b.safetensors") == 1
    assert add_to_gallery(reg, out, tmp / "a.safetensors") == 1
    assert sorted(Gallery.load(out).ids()) == sorted(f"d{i}" for i in range(30))
    assert add_to_gallery(reg, out, tmp / "a.safetensors") == 0


def test_raw_inputs_checked_before_lock_and_model(world: tuple[Registry, Path]) -> None:
    """#4, #6, #14: empty input, a pipe, repeated ids: one line, before any model loads.

    The generation's model is a Hub repo that cannot be fetched here: had a
    model been loaded, the error would be another one.
    """
    reg, tmp = world
    out = tmp / "g"
    build_gallery(reg, "v1", tmp / "a.safetensors", out)
    before = _snapshot(out)
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="holds no items"):
        add_to_gallery(reg, out, empty)
    dup = tmp / "dup.jsonl"
    dup.write_text("".join(json.dumps({"id": i, "text": "t"}) + "\n" for i in ("x", "y", "x")))
    with pytest.raises(InputError, match=r"line 3.*'x' was given on line 1"):
        add_to_gallery(reg, out, dup)
    with pytest.raises(InputError, match=r"line 3.*'x' was given on line 1"):
        build_gallery(reg, "v1", dup, tmp / "g2")
    taken = tmp / "taken.jsonl"
    taken.write_text(json.dumps({"id": "d4", "text": "t"}) + "\n")
    with pytest.raises(DuplicateName, match="'d4'"):
        add_to_gallery(reg, out, taken)
    fifo = tmp / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        add_to_gallery(reg, out, fifo)  # used to hang, holding the gallery lock
    assert _snapshot(out) == before


_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from embedreg_cli.main import main
    main(sys.argv[2:])
    """
)


@pytest.mark.parametrize("limit", [1000, 1500, 1850])  # the index, items, manifest
def test_a_full_disk_is_one_line_naming_the_file(world: tuple[Registry, Path], limit: int) -> None:
    """#10: a write that fails (here: past a file-size limit) names its file; no temp stays."""
    reg, tmp = world
    out = tmp / "g"
    build_gallery(reg, "v1", tmp / "a.safetensors", out)
    before = _snapshot(out)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _FULL_DISK,
            str(limit),
            "--registry",
            str(tmp / "reg"),
            "gallery",
            "add",
            str(out),
            str(tmp / "b.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # what came before the error (the finished bar's summary; faiss's own C++ message) may
    # stand on stderr: the error itself is one line, the last
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if "Error: " in line]
    assert result.returncode == 1 and errors == lines[-1:], result.stderr
    assert "internal error" not in lines[-1] and str(out) in lines[-1], lines[-1]
    assert "free some space" in lines[-1]
    assert _snapshot(out) == before  # no temporary file, nothing changed
    assert len(Gallery.load(out)) == 20
