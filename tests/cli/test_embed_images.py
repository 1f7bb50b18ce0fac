"""``embedreg gen add`` of a two-tower model and ``embedreg embed`` of images, bad ones included."""

from __future__ import annotations

import shutil
from pathlib import Path

from embedreg.data.embeddings import load_embeddings

from conftest import run_cli


def test_gen_add_and_embed_a_folder_with_a_corrupt_image(
    registry_dir: Path, vlm_old_dir: Path, digits_dir: Path, tmp_path: Path
) -> None:
    assert run_cli("init").returncode == 0
    added = run_cli(
        "gen",
        "add",
        "old",
        str(vlm_old_dir),
        "--pooling",
        "mean",
        "--max-tokens",
        "128",
        "--no-fingerprint",
    )
    assert added.returncode == 0, added.stderr
    assert "text and image towers" in added.stderr
    shown = run_cli("gen", "show", "old", "--json")
    assert '"modality": "text+image"' in shown.stdout and '"image_recipe"' in shown.stdout

    folder = tmp_path / "photos"
    folder.mkdir()
    for png in sorted((digits_dir / "images").glob("*.png"))[:12]:
        shutil.copy(png, folder / png.name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but the rest is not")
    out = tmp_path / "photos.safetensors"

    failed = run_cli("embed", "old", str(folder), "-o", str(out), "--device", "cpu")
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "broken.png" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".*photos*"))

    done = run_cli("embed", "old", str(folder), "-o", str(out), "--device", "cpu", "--skip-bad")
    assert done.returncode == 0, done.stderr
    assert "Skipped 1 image(s)" in done.stderr and "broken.png" in done.stderr
    emb = load_embeddings(out)
    assert len(emb) == 12 and emb.meta.tower == "image" and emb.meta.generation == "old"
    assert emb.ids is not None and "broken.png" not in emb.ids

    texts = run_cli("embed", "v9", str(folder), "-o", str(tmp_path / "x.safetensors"))
    assert texts.returncode != 0 and "unknown generation" in texts.stderr
