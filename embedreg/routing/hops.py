"""Steps of a query path and how a path's quality is scored.

A :class:`Hop` is one edge of the registry's graph: an adapter (with its
measured held-out retention) or an identity join between two generations
with the same pin and recipe.  A path's quality is the product of its hops'
retentions, each capped at 1: a hop whose adapted queries beat the gallery's
own queries passes no gain down a chain (losses compound, gains do not).

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

__all__ = ["DEFAULT_MAX_HOPS", "DEFAULT_MIN_QUALITY", "Candidate", "Hop", "adapter_hops", "quality"]


@dataclass(frozen=True)
class Hop:
    """One step of a path: an adapter, or an identity join between equal spaces."""

    source: str
    target: str
    retention: float
    adapter_id: str | None = None
    family: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None  # the adapter's weights, as the registry records them

    @property
    def is_identity(self) -> bool:
        """True for a join of two generations with the same pin and recipe."""
        return self.adapter_id is None

    def describe(self) -> str:
        """``v3 → v2 by v3-to-v2.lambda-orth (lambda-orth, retention 0.981)``."""
        how = (
            "identity (same pin and recipe)"
            if self.is_identity
            else f"{self.adapter_id} ({self.family}"
        )
        if not self.is_identity:
            how += f", retention {self.retention:.3f})"
        return f"{self.source} → {self.target} by {how}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "target": self.target,
            "adapter": self.adapter_id,
            "family": self.family,
            "retention": self.retention,
            "figures": dict(self.figures),
        }


def quality(hops: Sequence[Hop]) -> float:
    """Product of the hops' retentions, each capped at 1 (1.0 for no hop)."""
    # A hop's retention may exceed 1 (adapted queries beat the gallery's own); that gain is
    # measured against the hop's own target alone, so it is not carried along a chain: losses
    # compound, gains do not, and a chain never outranks a direct adapter by stacking them.
    return float(math.prod(min(h.retention, 1.0) for h in hops))


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

    def label(self) -> str:
        """The adapters the path uses, or ``same space``."""
        ids = [h.adapter_id for h in self.hops if h.adapter_id]
        return " → ".join(ids) if ids else "same space"
