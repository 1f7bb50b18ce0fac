"""Tables fit the terminal: nothing is cut, whatever the width (rich assumes 80 off a terminal)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from embedreg_cli import output


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, highlight=False, soft_wrap=True)
    monkeypatch.setattr(output, "_console", console)
    return buffer


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().rstrip("\n").splitlines()


def test_a_table_that_fits_is_a_table(screen: io.StringIO) -> None:
    tbl = output.table("ALIAS", "GENERATION")
    tbl.add_row("production", "v2")
    output.show(tbl)
    text = screen.getvalue()
    assert "┃ ALIAS" in text and "production" in text


def test_wide_records_become_blocks_without_cutting(screen: io.StringIO) -> None:
    tbl = output.table("ID", "MAPS", "DIRECTION", "FAMILY", "RETENTION", "CRITERION", "R@1")
    tbl.add_row(
        "v2-short-to-v2.lambda-orth",
        "v2-short → v2",
        "backward",
        "lambda-orth",
        "0.976",
        "FAIL",
        "100.00",
    )
    tbl.add_row("v3-to-v2.affine", "v3 → v2", "backward", "affine", "", "", "99.00")
    output.show(tbl)
    out = lines(screen)
    assert out[0] == "v2-short-to-v2.lambda-orth"
    assert any(line.split() == ["CRITERION", "—"] for line in out)  # an empty cell says so
    assert all(line == line.rstrip() for line in out)
    assert any(line.split() == ["DIRECTION", "backward"] for line in out)
    assert any(line.split() == ["RETENTION", "0.976"] for line in out)
    assert "…" not in screen.getvalue() and all(len(line) <= 80 for line in out)


def test_key_value_tables_never_break_a_value(screen: io.StringIO) -> None:
    tbl = output.table("FIELD", "VALUE", title="generation v2")
    pin = "sha256:" + "ab" * 32
    path = "local: /a/long/path/" + "segment/" * 8 + "model"
    tbl.add_row("pin", pin)
    tbl.add_row("source", path)
    tbl.add_row("[bold]markup[/]", "is data")  # never interpreted
    output.show(tbl)
    text = screen.getvalue()
    out = text.splitlines()
    assert out[0] == "generation v2"
    # a pin or a path copied from the screen is whole: one line each, even past 80 columns
    assert out[1].split() == ["pin", pin] and out[2].split(maxsplit=1) == ["source", path]
    assert "[bold]markup[/]" in text
    assert all(line == line.rstrip() for line in out)  # no padding


def test_wide_figure_tables_split_and_repeat_the_labels(screen: io.StringIO) -> None:
    families = ["identity", "procrustes", "affine", "lambda-orth", "lowrank", "mlp", "centred"]
    tbl = output.table("FIGURE", *families, title="every family", labelled=True)
    tbl.caption = "rates in %"
    for figure in ("recall@1", "CMC@1 tgt/tgt", "retention"):
        tbl.add_row(figure, *(f"{n}.{n}0" for n in range(len(families))))
    output.show(tbl)
    text = screen.getvalue()
    assert text.count("CMC@1 tgt/tgt") >= 2  # more than one table, each with the labels
    assert all(name in text for name in families) and "…" not in text
    assert text.count("every family") == 1 and text.rstrip().endswith("rates in %")
    assert all(len(line) <= 80 for line in lines(screen))
