"""Gallery operations from files: progress knows the work's size from its start."""

from __future__ import annotations

import json
from pathlib import Path

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
