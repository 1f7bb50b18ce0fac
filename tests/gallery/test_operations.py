"""Gallery operations from files: progress knows the work's size from its start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedreg.gallery import add_to_gallery, build_gallery
from embedreg.models import register_model
from embedreg.registry import Registry


def test_progress_reports_the_total_before_the_first_item(tmp_path: Path, v2_dir: Path) -> None:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    register_model(reg, "v2", v2_dir, max_tokens=32, fingerprint=False)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(json.dumps({"id": f"d{i}", "text": f"text number {i}"}) + "\n" for i in range(70))
    )
    more = tmp_path / "more.txt"
    more.write_text("".join(f"another text {i}\n" for i in range(30)))
    calls: list[tuple[int, int | None]] = []
    build_gallery(
        reg,
        "v2",
        docs,
        tmp_path / "g",
        device="cpu",
        batch_size=16,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[0] == (0, 70) and calls[-1] == (70, 70)
    assert len(calls) > 2 and all(t == 70 for _, t in calls)  # batch by batch, total known
    calls.clear()
    assert (
        add_to_gallery(
            reg, tmp_path / "g", more, device="cpu", progress=lambda d, t: calls.append((d, t))
        )
        == 30
    )
    assert calls[0] == (0, 30) and calls[-1] == (30, 30)


def test_builds_are_journaled_rerunnable_and_exclusive(tmp_path: Path) -> None:
    """Issue 14 #4: a finished build found again, a killed one redone, a running one respected."""
    import subprocess
    import sys

    import numpy as np
    import pytest
    from embedreg.data.embeddings import save_embeddings
    from embedreg.errors import ConflictError, DuplicateName
    from embedreg.registry import Generation, HubSource, Recipe

    reg = Registry.open(tmp_path / "reg")
    reg.init()
    v1 = reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 8))
    x = np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32)
    save_embeddings(tmp_path / "a.safetensors", x[:20], generation=v1, role="document")
    save_embeddings(tmp_path / "b.safetensors", x[20:], generation=v1, role="document")
    out = tmp_path / "g"
    first = build_gallery(reg, "v1", tmp_path / "a.safetensors", out)
    again = build_gallery(reg, "v1", tmp_path / "a.safetensors", out)
    assert len(again) == len(first) == 20 and not (out / ".embedreg-build.json").exists()
    with pytest.raises(DuplicateName, match="existing gallery"):
        build_gallery(reg, "v1", tmp_path / "b.safetensors", out)
    # a killed build: the journal is still there; running it again redoes the folder
    (out / ".embedreg-build.json").write_text('{"pid": 0}')
    redone = build_gallery(reg, "v1", tmp_path / "b.safetensors", out)
    assert len(redone) == 10 and [g.name for g in reg.galleries()] == ["g"]
    # a build that is running (its process lives) is not disturbed
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / ".embedreg-build.json").write_text(f'{{"pid": {sleeper.pid}}}')
        with pytest.raises(ConflictError, match=f"process {sleeper.pid}"):
            build_gallery(reg, "v1", tmp_path / "a.safetensors", out)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_registering_a_mixed_gallery_says_how_to_make_it_one_generation(tmp_path: Path) -> None:
    from embedreg.errors import ValidationError
    from embedreg.gallery import Gallery
    from embedreg.gallery.operations import register_gallery

    import planted  # type: ignore[import-not-found]

    world = planted.planted_world(tmp_path)
    reg, folder, vecs = world["reg"], world["folder"], world["vecs"]
    with Gallery.edit(folder) as g:
        v2 = reg.generation("v2")
        g.add_segment(v2)
        g.add(vecs["v2"][:3], ["new-0", "new-1", "new-2"], generation=v2)
    with pytest.raises(ValidationError) as refused:
        register_gallery(reg, folder, name="mixed")
    assert "several generations (v1, v2)" in refused.value.message
    assert refused.value.hint is not None
    assert f"'embedreg upgrade apply {Path(folder).resolve()} --to GEN" in refused.value.hint
