"""Plots: a matrix cell measured on an adapter's training data is marked on the heatmap too."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedreg.reports.plots import heatmap_plot


def test_heatmap_marks_cells_measured_on_training_data(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    values = [[0.895, None], [0.918, 0.868]]
    labels = ["v2", "v2-short"]

    def draw(name: str, optimistic: list[list[bool]] | None) -> bytes:
        path = heatmap_plot(
            tmp_path / name, values, labels, title="m", metric="cmc@1", optimistic=optimistic
        )
        return path.read_bytes()

    plain = draw("plain.png", None)
    assert plain.startswith(b"\x89PNG")
    # nothing flagged draws exactly the plain heatmap; a flagged cell (and its footnote) changes it
    assert draw("none.png", [[False, False], [False, False]]) == plain
    assert draw("flagged.png", [[False, False], [True, False]]) != plain
