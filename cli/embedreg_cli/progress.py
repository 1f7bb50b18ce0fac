"""A rich progress bar on stderr that library progress callbacks can drive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .output import console

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text


def _rate_column() -> ProgressColumn:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, as measured by rich over the recent past."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("… items/s" if speed is None else f"{speed:,.0f} items/s", style="cyan")

    return RateColumn()


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yield a ``progress(done, total)`` callback that moves a bar with items/s.

    Example:
        >>> with progress_bar("Embedding") as update:  # doctest: +SKIP
        ...     embed_inputs(gen, "docs.txt", "e.safetensors", progress=update)
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console(), transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
