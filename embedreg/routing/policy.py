"""The routing policy: which query paths a caller accepts, as one value.

A :class:`RoutingPolicy` says how long a chain of adapters may be
(``max_hops``), the lowest path quality accepted (``min_quality``, on the one
scale of :mod:`.scale`; ``None`` accepts any), whether every adapter on the
path must have passed the compatibility criterion on held-out data
(``require_compatible``), which kinds of path are allowed (``kinds``) and the
most a query may cost (``max_query_cost``; ``None``: no limit).  It travels
as one value from the command line or the Python API to the
:class:`~embedreg.routing.Resolver`, and every layer that routes (galleries,
upgrades, reports, exports) takes it whole.

Example:
    >>> policy = RoutingPolicy(max_hops=2, require_compatible=True)
    >>> policy.max_hops, policy.floor, policy.allows(PathKind.MAP)
    (2, 0.5, True)
    >>> policy.replace(min_quality=None).floor
    0.0
    >>> sorted(k.value for k in RoutingPolicy(kinds=frozenset({PathKind.MAP})).kinds)
    ['map']
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..constants import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY
from ..errors import ValidationError

__all__ = ["PathKind", "RoutingPolicy"]


class PathKind(str, Enum):
    """The kinds of query path: a compiled map, a fused path, a re-ranking cascade.

    ``map`` applies the adapters' compiled map to the query; ``fused`` also
    embeds the query with the gallery's own generation and combines the two;
    ``cascade`` re-scores a routed path's top candidates in the query's space.

    Example:
        >>> PathKind("map") is PathKind.MAP, PathKind.CASCADE.value
        (True, 'cascade')
    """

    MAP = "map"
    FUSED = "fused"
    CASCADE = "cascade"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RoutingPolicy:
    """Which paths a caller accepts: hops, minimum quality, criterion, kinds and cost.

    Args:
        max_hops: the longest chain of adapters considered (≥ 0).
        min_quality: paths whose quality (product of retentions) is lower are
            refused; ``None`` accepts any quality.
        require_compatible: refuse paths unless every adapter on them passed the
            compatibility criterion on held-out data (label-free adapters are
            not judged, so they are refused too).
        kinds: the path kinds allowed (all by default).
        max_query_cost: the most a query may cost (``None``: no limit); a
            compiled map costs nothing beyond the query's own encoding.

    Raises:
        ValidationError: a negative hop count, quality or cost, or no kind allowed.

    Example:
        >>> RoutingPolicy().max_hops, RoutingPolicy().min_quality
        (3, 0.5)
        >>> RoutingPolicy(max_hops=-1)
        Traceback (most recent call last):
        ...
        embedreg.errors.ValidationError: max_hops must be ≥ 0, got -1
    """

    max_hops: int = DEFAULT_MAX_HOPS
    min_quality: float | None = DEFAULT_MIN_QUALITY
    require_compatible: bool = False
    kinds: frozenset[PathKind] = field(default_factory=lambda: frozenset(PathKind))
    max_query_cost: float | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_hops, bool)
            or not isinstance(self.max_hops, int)
            or self.max_hops < 0
        ):
            raise ValidationError(f"max_hops must be ≥ 0, got {self.max_hops}")
        if self.min_quality is not None and not self.min_quality >= 0.0:
            raise ValidationError(f"min_quality must be ≥ 0, got {self.min_quality}")
        if self.max_query_cost is not None and not self.max_query_cost >= 0.0:
            raise ValidationError(f"max_query_cost must be ≥ 0, got {self.max_query_cost}")
        kinds = frozenset(PathKind(k) for k in self.kinds)
        if not kinds:
            raise ValidationError(
                "a routing policy allows no path kind",
                f"allow at least one of {', '.join(k.value for k in PathKind)}",
            )
        object.__setattr__(self, "kinds", kinds)

    @property
    def floor(self) -> float:
        """The lowest quality accepted as a number (0.0 when any is)."""
        return 0.0 if self.min_quality is None else float(self.min_quality)

    def allows(self, kind: PathKind | str) -> bool:
        """Whether paths of ``kind`` may be taken."""
        return PathKind(kind) in self.kinds

    def within_cost(self, cost: float) -> bool:
        """Whether a path costing ``cost`` per query is within ``max_query_cost``."""
        return self.max_query_cost is None or (math.isfinite(cost) and cost <= self.max_query_cost)

    def replace(self, **changes: Any) -> RoutingPolicy:
        """A copy with ``changes`` (the same fields as the constructor)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (kinds sorted).

        Example:
            >>> RoutingPolicy(kinds=frozenset({PathKind.MAP})).to_dict()["kinds"]
            ['map']
        """
        return {
            "max_hops": self.max_hops,
            "min_quality": self.min_quality,
            "require_compatible": self.require_compatible,
            "kinds": sorted(k.value for k in self.kinds),
            "max_query_cost": self.max_query_cost,
        }
