"""Backfill curves: retrieval quality as a fraction β of the gallery is re-embedded.

An upgrade from an old generation to a new one re-embeds the gallery item by
item.  Until it is done the gallery is mixed: the re-embedded fraction β
lives in the new space, the rest is either still old and searched through a
query path (new → old, ``rest="path"``: the mixed gallery's search) or
forward-adapted into the new space (old → new, ``rest="forward"``).  New
queries search the whole gallery at each β; :func:`backfill_curve` gives the
metric at each step and :func:`curve_area` the area under it over β ∈ [0, 1]
(the trapezoid rule; 1.0 is perfect retrieval throughout).

Which items go first is the *order*:

- ``random``: a seeded permutation (the baseline);
- ``worst-first``: items whose two vectors disagree most first, by the
  misalignment ``1 − cos`` between the item's old vector and where the path
  puts its new one (``1 − cos(P(new_i), old_i)``; forward: ``1 − cos(F(old_i),
  new_i)``).  It reads every item's new vector, so it is the reference an
  ordering can at best reach, not a plan that saves embedding work;
- ``predicted``: a practical worst-first.  A probe sample (``probe`` of the
  items, random) is re-embedded first; a ridge regression from the old
  vector to the measured misalignment, fit on the probe, orders the rest.
  It needs only the old vectors of the items not yet re-embedded (as
  FastFill's learned uncertainty does).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> new = rng.standard_normal((40, 6)).astype(np.float32)
    >>> old = new + 0.5 * rng.standard_normal((40, 6)).astype(np.float32)
    >>> from embedreg.evaluation.ranking import Judge
    >>> judge = Judge.for_labels(np.arange(40) % 4)
    >>> betas, values = backfill_curve(judge, new, new, new, old, random_order(40, 0), steps=4)
    >>> betas
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> 0.0 <= curve_area(betas, values) <= 1.0
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..constants import BackfillOrder
from ..errors import ValidationError
from .ranking import Judge, merged_topk

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "ORDERS",
    "backfill_curve",
    "curve_area",
    "misalignment",
    "predicted_order",
    "random_order",
    "worst_first_order",
]

#: Orders :func:`backfill_curve` is measured with.
ORDERS: tuple[str, ...] = BackfillOrder.values()
#: Default share of the items in the probe of the ``predicted`` order.
DEFAULT_PROBE = 0.1


def _unit(x: FloatArray) -> FloatArray:
    out: FloatArray = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    unit: FloatArray = out / np.maximum(norms, 1e-12)
    return unit


def misalignment(mapped: FloatArray, reference: FloatArray) -> npt.NDArray[np.float64]:
    """Per item ``1 − cos(mapped_i, reference_i)`` (0: the two vectors agree)."""
    cos = np.einsum("ij,ij->i", _unit(mapped), _unit(reference))
    return np.asarray(1.0 - cos, dtype=np.float64)


def random_order(n: int, seed: int = 0) -> npt.NDArray[np.intp]:
    """A seeded random order of ``n`` items."""
    return np.random.default_rng(seed).permutation(n).astype(np.intp)


def worst_first_order(bad: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Items by decreasing misalignment (ties by position)."""
    return np.argsort(-np.asarray(bad, dtype=np.float64), kind="stable").astype(np.intp)


def predicted_order(
    old: FloatArray,
    bad: npt.ArrayLike,
    *,
    probe: float = DEFAULT_PROBE,
    seed: int = 0,
    ridge: float = 1.0,
) -> npt.NDArray[np.intp]:
    """The probe first (random), then the rest by misalignment predicted from old vectors.

    Only the probe's ``bad`` values are read: the predictor is a ridge
    regression ``old → bad`` fit on the probe.
    """
    bad_arr = np.asarray(bad, dtype=np.float64)
    n = old.shape[0]
    if not 0.0 < probe < 1.0:
        raise ValidationError(f"the probe share must be in (0, 1), got {probe}")
    perm = random_order(n, seed)
    n_probe = max(2, round(n * probe))
    probe_rows, rest = perm[:n_probe], perm[n_probe:]
    x = np.hstack([_unit(old).astype(np.float64), np.ones((n, 1))])
    xp = x[probe_rows]
    gram = xp.T @ xp + ridge * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, xp.T @ bad_arr[probe_rows])
    predicted = x[rest] @ weights
    return np.concatenate([probe_rows, rest[np.argsort(-predicted, kind="stable")]]).astype(np.intp)


def backfill_curve(
    judge: Judge,
    queries_new: FloatArray,
    gallery_new: FloatArray,
    queries_rest: FloatArray,
    gallery_rest: FloatArray,
    order: npt.ArrayLike,
    *,
    steps: int = 10,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[float], list[float]]:
    """``(betas, values)``: the judge's mean metric at β = 0, 1/steps, …, 1.

    ``queries_new`` are the new generation's queries, ``gallery_new`` the
    items re-embedded by it; ``queries_rest`` / ``gallery_rest`` the same
    queries and items in the space of the items not yet re-embedded (the old
    space reached through the path, or the new space after a forward map:
    then ``queries_rest`` is ``queries_new``).  ``order`` lists item rows in
    the order they are re-embedded.
    """
    if steps < 1:
        raise ValidationError(f"steps must be at least 1, got {steps}")
    rank = np.empty(gallery_new.shape[0], dtype=np.int64)
    rank[np.asarray(order, dtype=np.intp)] = np.arange(gallery_new.shape[0])
    rows = judge.query_rows(queries_new.shape[0])
    qa, qb = queries_new[rows], queries_rest[rows]
    betas = [i / steps for i in range(steps + 1)]
    values = []
    for i, beta in enumerate(betas):
        done = rank < round(beta * gallery_new.shape[0])
        top = merged_topk(
            qa,
            gallery_new,
            qb,
            gallery_rest,
            done,
            judge.depth,
            exclude_self=judge.exclude_self,
            device=device,
        )
        values.append(float(judge.score_ranking(top).mean()))
        if progress is not None:
            progress(i + 1, len(betas))
    return betas, values


def curve_area(betas: list[float], values: list[float]) -> float:
    """Area under the curve over β (trapezoid rule); β spans [0, 1]."""
    x, y = np.asarray(betas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
