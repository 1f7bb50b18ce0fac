"""A rich progress bar on stderr that library progress callbacks can drive."""

from __future__ import annotations

import time
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
            if speed is None and task.elapsed:
                speed = task.completed / task.elapsed
            return Text("… items/s" if speed is None else f"{speed:,.0f} items/s", style="cyan")

    return RateColumn()


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yield a ``progress(done, total)`` callback that moves a bar with items/s.

    On a terminal the bar is live; when stderr is not a terminal (logs, CI,
    pipes) one summary line with the rate is printed when the work ends.  If
    the work fails, no bar or summary is left behind, so the error stays the
    only line the user sees.

    Example:
        >>> with progress_bar("Embedding") as update:  # doctest: +SKIP
        ...     embed_inputs(gen, "docs.txt", "e.safetensors", progress=update)
    """
    con = console()
    if not con.is_terminal:
        state: dict[str, int] = {"done": 0}
        start = time.perf_counter()

        def record(done: int, total: int | None) -> None:
            state["done"] = done

        yield record
        elapsed = time.perf_counter() - start
        done = state["done"]
        if done:
            rate = done / elapsed if elapsed > 0 else float("inf")
            con.print(f"{description}: {done:,} items in {elapsed:.1f}s ({rate:,.0f} items/s)")
        return

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
    with Progress(*columns, console=con, transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            yield update
        except BaseException:
            bar.live.transient = True  # clear the bar: the error is what matters now
            raise
