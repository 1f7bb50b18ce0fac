"""Terminal output: JSON on stdout, everything for humans on stderr.

Machine-readable output (``--json``) is the only thing a command writes to
stdout, so ``embedreg gen list --json | jq`` always gets clean JSON; tables,
messages and progress go to stderr through one rich console.

Tables stay readable on narrow terminals (80 columns, and logs, where rich
assumes 80): a table that does not fit is never cut to ``DIRE…``.  A table of
records (one row per item) is printed as one block per record instead; a
table of figures (a label column, then one column per adapter or family) is
split into several tables that each fit, every one repeating the labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

_console: Console | None = None


def console() -> Console:
    """The shared rich console, writing to stderr."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _console


def emit_json(value: Any) -> None:
    """Print ``value`` as indented, key-sorted JSON on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def say(message: str) -> None:
    """A line for humans on stderr (rich markup allowed)."""
    console().print(message)


def say_plain(message: str) -> None:
    """A line for humans on stderr, printed as it is (brackets are text, not markup)."""
    console().print(message, markup=False)


@dataclass
class Table:
    """Rows for a table, printed by :func:`show` in a layout that fits the terminal.

    Attributes:
        columns: the headers.
        title: printed above.
        caption: printed below (a legend).
        labelled: the first column labels the rows (a figure table): when too
            wide, the other columns are split over several tables.
    """

    columns: tuple[str, ...]
    title: str | None = None
    caption: str | None = None
    labelled: bool = False
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        """Append a row (one cell per column)."""
        self.rows.append(tuple(cells))


def table(*columns: str, title: str | None = None, labelled: bool = False) -> Table:
    """A :class:`Table` with the given column headers."""
    return Table(tuple(columns), title=title, labelled=labelled)


def _rich(t: Table, columns: list[int], title: str | None, caption: str | None) -> RichTable:
    from rich.cells import cell_len
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(title=title, header_style="bold", title_justify="left", caption=caption)
    if caption:
        out.caption_justify = "left"
    for n, i in enumerate(columns):
        # a header is never squeezed (no "DIRE…"): the layout changes instead
        out.add_column(t.columns[i], no_wrap=n == 0, min_width=cell_len(t.columns[i]))
    for row in t.rows:
        out.add_row(*(Text(row[i]) for i in columns))  # cells are data, never markup
    return out


def _fits(rendered: RichTable, width: int, *, whole: bool) -> bool:
    """Whether ``rendered`` fits ``width``: with its cells wrapped, or ``whole`` (unwrapped)."""
    from rich.measure import Measurement

    con = console()
    size = Measurement.get(con, con.options.update_width(10_000), rendered)
    return (size.maximum if whole else size.minimum) <= width


def show(t: Table) -> None:
    """Print ``t`` on stderr: as a table when it fits, else as blocks or split tables."""
    con = console()
    everything = list(range(len(t.columns)))
    whole = _rich(t, everything, t.title, t.caption)
    if _fits(whole, con.width, whole=t.labelled):  # figures are never wrapped
        con.print(whole)
        return
    if len(t.columns) == 2:
        _show_pairs(t)
    elif t.labelled:
        _show_split(t, con.width)
    else:
        _show_blocks(t)


def _show_split(t: Table, width: int) -> None:
    con = console()
    rest = list(range(1, len(t.columns)))
    groups: list[list[int]] = []
    while rest:
        group = [rest.pop(0)]
        while rest and _fits(_rich(t, [0, *group, rest[0]], None, None), width, whole=True):
            group.append(rest.pop(0))
        groups.append(group)
    for n, group in enumerate(groups):
        title = t.title if n == 0 else None
        caption = t.caption if n == len(groups) - 1 else None
        con.print(_rich(t, [0, *group], title, caption))


def _show_pairs(t: Table) -> None:
    """A two-column table as ``key  value`` lines, never cut inside a value.

    A value longer than the terminal runs on (the terminal wraps it for the
    eye; copied, a hash or a path comes out whole), and no line is padded.
    """
    from rich.text import Text

    con = console()
    if t.title:
        con.print(Text(t.title, style="bold"), soft_wrap=True)
    pad = max((len(key) for key, _ in t.rows), default=0)
    for key, value in t.rows:
        lines = value.split("\n")
        con.print(Text(key.ljust(pad), style="bold") + Text(f"  {lines[0]}"), soft_wrap=True)
        for more in lines[1:]:
            con.print(Text(" " * (pad + 2) + more), soft_wrap=True)
    if t.caption:
        con.print(Text(t.caption), soft_wrap=True)


def _show_blocks(t: Table) -> None:
    from rich.markup import escape

    con = console()
    if t.title:
        con.print(f"[bold]{escape(t.title)}[/]")
    pad = max((len(c) for c in t.columns[1:]), default=0)
    for row in t.rows:
        con.print(f"[bold]{escape(row[0])}[/]")
        for header, cell in zip(t.columns[1:], row[1:], strict=False):
            value = escape(cell) if cell.strip() else "—"  # an empty cell, not trailing spaces
            con.print(f"  {escape(header):<{pad}}  {value}")
    if t.caption:
        con.print(t.caption)


def short_pin(pin: str, keep: int = 12) -> str:
    """``sha256:ab12…`` / ``repo@c0ffee…``: a pin shortened for tables."""
    head, sep, digest = pin.rpartition("@") if "@" in pin else pin.partition(":")
    if not sep:
        return pin
    return f"{head}{sep}{digest[:keep]}…" if len(digest) > keep else pin
