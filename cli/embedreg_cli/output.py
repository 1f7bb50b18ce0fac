"""Terminal output: JSON on stdout, everything for humans on stderr.

Machine-readable output (``--json``) is the only thing a command writes to
stdout, so ``embedreg gen list --json | jq`` always gets clean JSON; tables,
messages and progress go to stderr through one rich console.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

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


def table(*columns: str, title: str | None = None) -> Table:
    """A rich table with the given column headers."""
    from rich.table import Table

    tbl = Table(title=title, header_style="bold", title_justify="left")
    for col in columns:
        tbl.add_column(col)
    return tbl


def short_pin(pin: str, keep: int = 12) -> str:
    """``sha256:ab12…`` / ``repo@c0ffee…``: a pin shortened for tables."""
    head, sep, digest = pin.rpartition("@") if "@" in pin else pin.partition(":")
    if not sep:
        return pin
    return f"{head}{sep}{digest[:keep]}…" if len(digest) > keep else pin
