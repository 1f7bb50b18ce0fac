"""Progress bars on a narrow terminal: the description gives way, the figures never do."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.progress import TextColumn
from rich.table import Column

from embedreg_cli import output, progress


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(
        file=io.StringIO(), width=80, force_terminal=True, record=True, color_system=None
    )
    monkeypatch.setattr(output, "_console", console)
    return console


def test_a_long_description_is_shortened_and_the_figures_stay_whole(terminal: Console) -> None:
    bars = progress._progress(progress._rate_column())
    url = "qdrant:///tmp/somewhere/rather/long/vectors?collection=news_db"
    bars.update(bars.add_task(f"Building {url}", total=600, unit="items"), completed=300)
    bars.update(bars.add_task("Embedding with v2-short", total=742, unit="items"), completed=300)
    terminal.print(bars.get_renderable())
    lines = terminal.export_text().rstrip("\n").splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)  # one line a bar
    building, embedding = lines
    assert building.startswith("Building qdrant:///") and "…" in building and url not in building
    for line, counts in ((building, "300/600"), (embedding, "300/742")):
        assert counts in line and "items/s" in line and line.rstrip().endswith("-:--:--")
    assert "Embedding with v2-short" in embedding  # a short description is left whole


def test_training_stats_fit_beside_the_epochs(terminal: Console) -> None:
    stats = TextColumn("{task.fields[stats]}", table_column=Column(no_wrap=True))
    bars = progress._progress(stats)
    task = bars.add_task("  lambda-orth epochs (cpu)", total=40, stats="")
    bars.update(task, completed=21, stats="loss 0.7736 D 5.967 CMC@1 75.0%")
    terminal.print(bars.get_renderable())
    (line,) = terminal.export_text().rstrip("\n").splitlines()
    assert "21/40" in line and "loss 0.7736 D 5.967 CMC@1 75.0%" in line and len(line) <= 80
