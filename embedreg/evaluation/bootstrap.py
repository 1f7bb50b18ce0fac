"""Bootstrap confidence intervals for held-out figures.

Every headline figure is a mean over queries (a hit rate, an nDCG, a
label-free estimate) or a ratio of two such means measured on the same
queries (a retention: the path's figure over the gallery generation's own).
Resampling the *queries* with replacement and recomputing the figure gives
its sampling spread; the percentile interval of the resampled values is the
confidence interval.  The gallery is held fixed: the interval describes how
much the figure would move with another draw of queries from the same
population, not another gallery.

A held-out set of fewer than :data:`MIN_INTERVAL_QUERIES` queries is too
small for a meaningful percentile interval: :func:`bootstrap_interval`
returns ``None`` for it and :func:`interval_note` says so.

Example:
    >>> import numpy as np
    >>> hits = np.array([1.0] * 90 + [0.0] * 10)
    >>> ci = bootstrap_interval(hits)
    >>> ci.low < 0.9 < ci.high, ci.level
    (True, 0.95)
    >>> bootstrap_interval(hits[:10]) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "CONFIDENCE_LEVEL",
    "MIN_INTERVAL_QUERIES",
    "Interval",
    "bootstrap_interval",
    "interval_note",
]

#: Fewest queries a percentile interval is computed for.
MIN_INTERVAL_QUERIES = 30
#: Resamples per interval.
BOOTSTRAP_RESAMPLES = 1000
#: Two-sided coverage of the intervals.
CONFIDENCE_LEVEL = 0.95
#: Resamples drawn at once (bounds memory at ``_CHUNK × n`` indices).
_CHUNK = 100


@dataclass(frozen=True)
class Interval:
    """A two-sided percentile bootstrap interval.

    Attributes:
        low, high: the bounds.
        level: coverage (0.95: the 2.5th and 97.5th percentiles).
        n: the number of queries resampled.
    """

    low: float
    high: float
    level: float = CONFIDENCE_LEVEL
    n: int = 0

    def to_list(self) -> list[float]:
        """``[low, high]``, the form figures store."""
        return [self.low, self.high]

    @classmethod
    def from_value(cls, value: Any, n: int = 0) -> Interval | None:
        """The interval a figure stores (``[low, high]``), or ``None`` when absent or malformed.

        ``n``: the queries it was measured on (the figures' ``heldout``), which
        the stored form does not carry.
        """
        if (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            return cls(float(value[0]), float(value[1]), n=n)
        return None

    def format(self, digits: int = 3) -> str:
        """``[0.951, 0.987]``."""
        return f"[{self.low:.{digits}f}, {self.high:.{digits}f}]"


def interval_note(n: int) -> str | None:
    """Why no interval is given for ``n`` queries (``None`` when one is)."""
    if n >= MIN_INTERVAL_QUERIES:
        return None
    return (
        f"{n} held-out queries are too few for a meaningful interval "
        f"(at least {MIN_INTERVAL_QUERIES} needed)"
    )


def bootstrap_interval(
    numerator: npt.ArrayLike,
    denominator: npt.ArrayLike | None = None,
    *,
    level: float = CONFIDENCE_LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Percentile interval of ``mean(numerator)`` (over ``mean(denominator)`` when given).

    Both arrays hold one value per query, aligned; each resample draws the
    same queries for the numerator and the denominator (a paired bootstrap).
    A resample whose denominator mean is 0 counts as a ratio of 0.

    Returns ``None`` for fewer than :data:`MIN_INTERVAL_QUERIES` queries.
    """
    num = np.asarray(numerator, dtype=np.float64).ravel()
    den = None if denominator is None else np.asarray(denominator, dtype=np.float64).ravel()
    n = num.shape[0]
    if den is not None and den.shape[0] != n:
        raise ValueError(f"numerator has {n} values, denominator {den.shape[0]}")
    if n < MIN_INTERVAL_QUERIES:
        return None
    rng = np.random.default_rng(seed)
    values: list[npt.NDArray[np.float64]] = []
    for start in range(0, resamples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, resamples - start), n))
        top = num[idx].mean(axis=1)
        if den is None:
            values.append(top)
            continue
        bottom = den[idx].mean(axis=1)
        safe = np.where(bottom != 0, bottom, 1.0)
        values.append(np.where(bottom != 0, top / safe, 0.0))
    allv = np.concatenate(values)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(allv, [tail, 1.0 - tail])
    return Interval(float(low), float(high), level, n)
