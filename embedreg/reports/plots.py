"""Plots as PNG files: the matrix heatmap, backfill curves, CMC / recall curves.

matplotlib is an optional extra (``pip install 'embedreg[plots]'``); it is
imported only inside these functions, through its object API (no pyplot, no
global state, the Agg canvas), and every file is written atomically.
Without it, :func:`plots_available` is ``False`` and the functions raise
:class:`~embedreg.errors.PlotsUnavailable`, whose hint says how to get plots;
commands then still give their tables and JSON.

Example:
    >>> plots_available()  # doctest: +SKIP
    True
    >>> curve_plot("cmc.png", [1, 5, 10], {"A(v3)/v2": [0.95, 0.98, 0.99]}, title="CMC")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import PlotsUnavailable
from ..util.atomic import atomic_write_bytes

__all__ = ["curve_plot", "heatmap_plot", "plots_available"]


def plots_available() -> bool:
    """Whether matplotlib (the ``plots`` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    if not plots_available():
        raise PlotsUnavailable()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    out = Path(path)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def heatmap_plot(
    path: str | os.PathLike[str],
    values: Sequence[Sequence[float | None]],
    labels: Sequence[str],
    *,
    title: str,
    metric: str,
    optimistic: Sequence[Sequence[bool]] | None = None,
) -> Path:
    """A lower-triangular heatmap: rows are query generations, columns gallery generations.

    Cells marked in ``optimistic`` (measured on an adapter's own training
    data) read ``0.918*``, with a footnote saying so.
    """
    import numpy as np

    fig = _figure(1.6 + 1.1 * len(labels), 1.2 + 1.0 * len(labels))
    ax = fig.add_subplot()
    grid = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in values], dtype=float
    )
    finite = grid[np.isfinite(grid)]
    low = float(finite.min()) if finite.size else 0.0
    image = ax.imshow(grid, cmap="viridis", vmin=min(low, 1.0), vmax=1.0)
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("gallery generation")
    ax.set_ylabel("query generation")
    fig.suptitle(title)  # above the axes and the colorbar both: neither covers it
    for t, row in enumerate(values):
        for j, v in enumerate(row):
            if j > t:
                continue
            text = "no path" if v is None else f"{v:.3f}"
            if v is not None and optimistic is not None and optimistic[t][j]:
                text += "*"
            ax.text(
                j,
                t,
                text,
                ha="center",
                va="center",
                color="white" if v is None or v < (low + 1) / 2 else "black",
            )
    if optimistic is not None and any(any(row) for row in optimistic):
        fig.text(0.01, 0.01, "* on training data: optimistic", fontsize="small", ha="left")
    return _save(fig, path)


def curve_plot(
    path: str | os.PathLike[str],
    xs: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    xlabel: str = "k",
    ylabel: str = "",
) -> Path:
    """Lines over shared x values, one per named series."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    for name, ys in series.items():
        clean = [float("nan") if y is None or not math.isfinite(y) else y for y in ys]
        ax.plot(list(xs), clean, marker="o", markersize=3, label=name)
    if xs and all(float(x).is_integer() for x in xs):  # k = 1, 2, 3, 5 …: whole ticks only
        ax.set_xticks([int(x) for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, path)
