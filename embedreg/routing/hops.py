"""Steps of a query path and how a path's quality is scored.

A :class:`Hop` is one edge of the registry's graph: an adapter (with its
measured held-out retention, its basis, interval and criterion verdict) or an
identity join between two generations with the same pin and recipe.  A
path's quality is the product of its hops' retentions, each capped at 1: a
hop whose adapted queries beat the gallery's own queries passes no gain down
a chain (losses compound, gains do not).  Only bases that can be compared are
multiplied (:mod:`.scale`); a path's interval multiplies its hops' bounds the
same way, and its criterion is the worst of its hops' verdicts.

Example:
    >>> hops = (Hop("v3", "v2", 0.98, "v3-to-v2.lambda-orth"), Hop("v2", "v1", 1.2, "v2-to-v1.affine"))
    >>> round(Candidate(hops).quality, 3), Candidate(hops).label()
    (0.98, 'v3-to-v2.lambda-orth → v2-to-v1.affine')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..constants import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY
from ..evaluation.bootstrap import Interval
from ..registry.figures import Figures
from .scale import (
    IDENTITY_BASIS,
    hop_basis,
    hop_criterion,
    hop_interval,
    path_criterion,
    scored_together,
)

__all__ = [
    "DEFAULT_MAX_HOPS",
    "DEFAULT_MIN_QUALITY",
    "Candidate",
    "Hop",
    "adapter_hops",
    "path_interval",
    "quality",
]


@dataclass(frozen=True)
class Hop:
    """One step of a path: an adapter, or an identity join between equal spaces."""

    source: str
    target: str
    retention: float
    adapter_id: str | None = None
    family: str | None = None
    figures: Figures = field(default_factory=Figures)
    sha256: str | None = None  # the adapter's weights, as the registry records them

    @property
    def is_identity(self) -> bool:
        """True for a join of two generations with the same pin and recipe."""
        return self.adapter_id is None

    @property
    def basis(self) -> str:
        """What the retention was measured with (``cmc@1``, ``judged-sim@10``, …)."""
        return IDENTITY_BASIS if self.is_identity else hop_basis(self.figures)

    @property
    def interval(self) -> Interval | None:
        """The retention's bootstrap interval (exact for an identity join)."""
        return Interval(1.0, 1.0) if self.is_identity else hop_interval(self.figures)

    @property
    def criterion(self) -> bool | None:
        """The adapter's criterion verdict on held-out data (``None``: not judged)."""
        return True if self.is_identity else hop_criterion(self.figures)

    def describe(self) -> str:
        """``v3 → v2 by v3-to-v2.lambda-orth (lambda-orth, retention 0.981 by cmc@1 …)``."""
        if self.is_identity:
            return f"{self.source} → {self.target} by identity (same pin and recipe)"
        ci = self.interval
        verdict = {True: "pass", False: "FAIL", None: "not judged"}[self.criterion]
        return (
            f"{self.source} → {self.target} by {self.adapter_id} ({self.family}, retention "
            f"{self.retention:.3f}{' ' + ci.format() if ci else ''} by {self.basis}, "
            f"criterion {verdict})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        ci = self.interval
        return {
            "source": self.source,
            "target": self.target,
            "adapter": self.adapter_id,
            "family": self.family,
            "retention": self.retention,
            "basis": self.basis,
            "interval": ci.to_list() if ci else None,
            "criterion": self.criterion,
            "figures": self.figures.to_dict(),
        }


def quality(hops: Sequence[Hop]) -> float:
    """Product of the hops' retentions, each capped at 1 (1.0 for no hop)."""
    # A hop's retention may exceed 1 (adapted queries beat the gallery's own); that gain is
    # measured against the hop's own target alone, so it is not carried along a chain: losses
    # compound, gains do not, and a chain never outranks a direct adapter by stacking them.
    return float(math.prod(min(h.retention, 1.0) for h in hops))


def path_interval(hops: Sequence[Hop]) -> Interval | None:
    """The hops' interval bounds multiplied like the quality (``None`` if a hop has none).

    A conservative band: it assumes the hops' errors move together.
    """
    intervals = [h.interval for h in hops]
    if any(i is None for i in intervals):
        return None
    lows = [min(i.low, 1.0) for i in intervals if i is not None]
    highs = [min(i.high, 1.0) for i in intervals if i is not None]
    measured = [i.n for h, i in zip(hops, intervals, strict=True) if i and not h.is_identity]
    n = min(measured) if measured else 0  # the fewest queries any hop was measured on
    return Interval(float(math.prod(lows)), float(math.prod(highs)), n=n)


def adapter_hops(hops: Sequence[Hop]) -> int:
    """Hops that apply an adapter (identity joins are free)."""
    return sum(not h.is_identity for h in hops)


@dataclass(frozen=True)
class Candidate:
    """A path considered by the resolver, with its quality."""

    hops: tuple[Hop, ...]

    @property
    def quality(self) -> float:
        """Product of the hops' retentions, each capped at 1 (1.0 for the empty path)."""
        return quality(self.hops)

    @property
    def adapter_hops(self) -> int:
        """Number of hops that apply an adapter (identity joins are free)."""
        return adapter_hops(self.hops)

    @property
    def basis(self) -> str:
        """The bases of the adapter hops, ``×``-joined in order of first use (``identity`` if none)."""
        seen = list(dict.fromkeys(h.basis for h in self.hops if not h.is_identity))
        return " × ".join(seen) if seen else IDENTITY_BASIS

    @property
    def scored(self) -> bool:
        """Whether the hops' bases can be multiplied into one quality (:mod:`.scale`)."""
        return scored_together(h.basis for h in self.hops)

    @property
    def criterion(self) -> str:
        """``pass``, ``fail`` or ``unknown`` (the worst of the hops' verdicts)."""
        return path_criterion(h.criterion for h in self.hops)

    @property
    def interval(self) -> Interval | None:
        """See :func:`path_interval`."""
        return path_interval(self.hops)

    def label(self) -> str:
        """The adapters the path uses, or ``same space``."""
        ids = [h.adapter_id for h in self.hops if h.adapter_id]
        return " → ".join(ids) if ids else "same space"
