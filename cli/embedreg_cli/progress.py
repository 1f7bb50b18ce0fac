"""Progress on stderr: bars the library's progress callbacks drive.

Every bar shows its total and an ETA once the work's size is known.  When
stderr is not a terminal (logs, CI, pipes), nothing live is drawn; one
summary line per bar is printed when the work ends.  If the work fails, no
bar or summary is left behind, so the error stays the only line the user sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import console, say

if TYPE_CHECKING:
    from embedreg.training import TrainerCallback
    from rich.progress import Progress, ProgressColumn, Task
    from rich.text import Text

#: ``progress(done, total)``, as the library calls it.
Update = Callable[[int, "int | None"], None]


def _rate_column() -> ProgressColumn:
    from rich.progress import ProgressColumn
    from rich.table import Column
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, as measured by rich over the recent past."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None and task.elapsed:
                speed = task.completed / task.elapsed
            unit = task.fields.get("unit", "items")
            return Text(f"… {unit}/s" if speed is None else f"{speed:,.0f} {unit}/s", style="cyan")

    return RateColumn(table_column=Column(no_wrap=True))


def _progress(*extra: ProgressColumn | str) -> Progress:
    """Bars whose figures are never cut: on a narrow terminal the description is
    shortened (``…``) and the bar itself shrinks, while the counts, rates and
    times keep their width (at 80 columns a database URL squeezed them to ``300…``).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column

    con = console()
    whole = Column(no_wrap=True)
    return Progress(
        TextColumn(
            "{task.description}",
            table_column=Column(
                no_wrap=True, overflow="ellipsis", max_width=max(12, con.width // 3)
            ),
        ),
        BarColumn(bar_width=24),
        MofNCompleteColumn(table_column=whole),
        *extra,
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        TimeRemainingColumn(table_column=Column(no_wrap=True)),
        console=con,
        transient=False,
    )


class _Summary:
    """Off a terminal: remember each task's progress, print one line per task at the end."""

    def __init__(self) -> None:
        self.start: dict[str, float] = {}
        self.first: dict[str, int] = {}
        self.done: dict[str, tuple[int, str]] = {}
        self.printed: set[str] = set()

    def update(self, name: str, done: int, unit: str = "items", total: int | None = None) -> None:
        self.start.setdefault(name, time.perf_counter())
        self.first.setdefault(name, done)  # work resumed part-way counts from there
        self.done[name] = (done, unit)
        if total is not None and done >= total and name not in self.printed:
            self._line(name)  # as soon as it is done: before what the work goes on to say

    def _line(self, name: str) -> None:
        self.printed.add(name)
        total, unit = self.done[name]
        done = total - self.first.get(name, 0)
        if not done:
            return
        elapsed = time.perf_counter() - self.start[name]
        rate = done / elapsed if elapsed > 0 else float("inf")
        say(f"{name}: {done:,} {unit} in {elapsed:.1f}s ({rate:,.0f} {unit}/s)")

    def print(self) -> None:
        for name in self.done:
            if name not in self.printed:
                self._line(name)


@contextmanager
def progress_bar(description: str) -> Iterator[Update]:
    """Yield a ``progress(done, total)`` callback that moves one bar with items/s and an ETA.

    Example:
        >>> with progress_bar("Embedding") as update:  # doctest: +SKIP
        ...     embed_inputs(gen, "docs.txt", "e.safetensors", progress=update)
    """
    with _bars() as bar:
        yield lambda done, total: bar(description, done, total)


@contextmanager
def _bars() -> Iterator[Callable[..., None]]:
    """One bar per name: ``update(name, done, total, unit="items")``."""
    if not console().is_terminal:
        summary = _Summary()
        yield lambda name, done, total, unit="items": summary.update(name, done, unit, total)
        summary.print()
        return
    progress = _progress(_rate_column())
    tasks: dict[str, Any] = {}

    def update(name: str, done: int, total: int | None, unit: str = "items") -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total, unit=unit)
        progress.update(tasks[name], completed=done, total=total)

    with progress:
        try:
            yield update
        except BaseException:
            progress.live.transient = True  # clear the bars: the error is what matters now
            raise


@contextmanager
def embedding_progress() -> Iterator[
    tuple[Callable[[str, int, int | None], None], Callable[[str, Path], None]]
]:
    """A bar per generation while an input is embedded: ``(progress, on_cached)`` callbacks."""

    def cached(name: str, path: Path) -> None:
        say(f"Vectors of {name} from the cache ({path.name})")

    with _bars() as bar:
        yield (lambda name, done, total: bar(f"Embedding with {name}", done, total)), cached


@contextmanager
def training_progress() -> Iterator[tuple[TrainerCallback, Callable[[str], None]]]:
    """Training progress: epochs with loss, D and validation figures, and an ETA.

    Yields a trainer callback and a stage callback (``on_stage``).
    """
    from embedreg.training import EpochStats, TrainerCallback, TrainResult, TrainStart
    from rich.progress import TextColumn

    terminal = console().is_terminal
    from rich.table import Column

    stats_column = TextColumn("{task.fields[stats]}", table_column=Column(no_wrap=True))
    progress = _progress(stats_column) if terminal else None

    class Bar(TrainerCallback):
        task: Any = None

        def on_train_begin(self, start: TrainStart) -> None:
            where = start.device + ("" if start.resident else ", streamed")
            if start.fitting != "gradient":
                say(f"  {start.family}: closed form on {start.n_train} pairs ({where})")
            elif progress is not None:
                self.task = progress.add_task(
                    f"  {start.family} epochs ({where})", total=start.epochs, stats=""
                )

        def on_epoch_end(self, stats: EpochStats) -> bool | None:
            if progress is not None and self.task is not None:
                d = "—" if stats.defect is None else f"{stats.defect:.3f}"
                text = f"loss {stats.loss:.4f} D {d}"  # with labels CMC@1, else own-pair R@1
                if stats.val_cmc is not None:
                    text += f" CMC@1 {100 * stats.val_cmc:.1f}%"
                else:
                    text += f" R@1 {100 * stats.val_recall:.1f}%"
                progress.update(self.task, completed=stats.epoch, stats=text)
            return None

        def on_train_end(self, result: TrainResult) -> None:
            if progress is not None and self.task is not None:
                progress.update(self.task, total=result.epochs_run, completed=result.epochs_run)
                self.task = None
            elif result.epochs_run:
                say(
                    f"  {result.family}: {result.epochs_run} epoch(s) in {result.seconds:.1f}s, "
                    f"best epoch {result.best_epoch}"
                )

    if progress is None:
        yield Bar(), say
        return
    with progress:
        try:
            yield Bar(), lambda text: progress.console.print(text)
        except BaseException:
            progress.live.transient = True
            raise


@contextmanager
def evaluation_progress() -> Iterator[
    tuple[Callable[[str, int, int | None], None], Callable[[str, int, int], None]]
]:
    """Bars while an evaluation embeds its data and measures: ``(embedding, step)`` callbacks.

    ``embedding(generation, done, total)`` moves one bar per generation and
    role; ``step(name, done, total)`` one bar per stage (matrix cells,
    backfill points).
    """

    def unit(stage: str) -> str:  # "matrix cells" counts cells, "backfill points" points
        last = stage.split()[-1] if stage.split() else ""
        return last if last.endswith("s") and last != stage else "steps"

    with _bars() as bar:
        yield (
            (lambda name, done, total: bar(f"Embedding with {name}", done, total)),
            (lambda name, done, total: bar(f"Measuring {name}", done, total, unit(name))),
        )
