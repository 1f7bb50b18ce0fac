"""Routing: which measured path a query of one generation takes to a gallery of another.

- :mod:`.scale`: the one quality scale (bases that compare) and the criterion flags;
- :mod:`.hops`: a path's steps and its quality (product of retentions, capped at 1);
- :mod:`.policy`: :class:`RoutingPolicy`, which paths a caller accepts (one value), and :class:`PathKind`;
- :mod:`.graph`: :class:`Resolver`, the registry as a graph of measured adapters;
- :mod:`.path`: :class:`QueryPath`, the chosen route, explained and applied;
- :mod:`.compiled`, :mod:`.pretransform`: applying a path to numpy, torch or FAISS.

Galleries (which generation embedded which items) are :mod:`embedreg.gallery`;
:func:`embedreg.resolve` takes either.

Example:
    >>> from embedreg.routing import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY
    >>> DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY
    (3, 0.5)
"""

from __future__ import annotations

from .graph import Resolver, reachable
from .hops import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY, Candidate, Hop
from .path import QueryPath
from .policy import PathKind, RoutingPolicy
from .pretransform import FaissIndex
from .scale import LEGACY_BASIS, SCALE_BASES, on_scale

__all__ = [
    "DEFAULT_MAX_HOPS",
    "DEFAULT_MIN_QUALITY",
    "LEGACY_BASIS",
    "SCALE_BASES",
    "Candidate",
    "FaissIndex",
    "Hop",
    "PathKind",
    "QueryPath",
    "Resolver",
    "RoutingPolicy",
    "on_scale",
    "reachable",
]
