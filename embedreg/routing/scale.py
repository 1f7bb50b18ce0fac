"""The one quality scale of query paths, and the compatibility criterion as routing sees it.

A hop's quality is its adapter's held-out ``retention``: 1.0 means as good,
for retrieval on the gallery, as the gallery generation's own queries.  Its
**basis** says what it was measured with, and every basis below is an
estimate of that same quantity, so they combine in one path:

==================  ===================================================================
basis               measured
==================  ===================================================================
``cmc@1``           class labels: ``cmc@1(A(src)) / cmc@1(tgt)`` (may exceed 1)
``ndcg@10``         judged queries (qrels): ``ndcg@10(A(src)) / ndcg@10(tgt)``
``judged-sim@10``   no labels: the label-free estimate (:mod:`embedreg.evaluation.estimators`)
``unspecified``     a record that states no basis (written by hand or another tool)
``identity``        two generations with the same pin and recipe (exactly 1)
==================  ===================================================================

Any other basis is **not on the scale** and is never multiplied with another
basis in one path.  The one embedreg itself wrote is ``agreement@10``: label-
free records measured before the estimate existed, whose ``retention`` is the
top-10 overlap with the gallery generation's own queries (a stricter figure
that stays far below labelled retention: bench/RESULTS.md).  Such a record
stays readable and routable as it was, with its own figure, in paths whose
every adapter hop has that basis; a path mixing it with other bases is not
scored (the resolver skips it and says why).  Re-measuring the adapter puts it
on the scale.

The **criterion** (BCT: the path's queries do at least as well as the gallery
generation's own) comes from each record's ``criterion`` figure: a path
*passes* when every adapter hop passed, *fails* when one failed, and is
*unknown* otherwise (label-free figures cannot judge it).

Example:
    >>> hop_basis(Figures(retention=0.97, retention_basis="judged-sim@10"))
    'judged-sim@10'
    >>> on_scale("agreement@10"), on_scale("cmc@1")
    (False, True)
    >>> path_criterion([True, None]), path_criterion([True, False]), path_criterion([])
    ('unknown', 'fail', 'pass')
"""

from __future__ import annotations

from collections.abc import Iterable

from ..evaluation import ESTIMATE_BASIS, JUDGED_BASIS
from ..evaluation.bootstrap import Interval
from ..registry.figures import Figures

__all__ = [
    "IDENTITY_BASIS",
    "LEGACY_BASIS",
    "SCALE_BASES",
    "UNSPECIFIED_BASIS",
    "hop_basis",
    "hop_criterion",
    "hop_interval",
    "on_scale",
    "path_criterion",
    "scored_together",
]

#: The basis of an identity join (same pin and recipe).
IDENTITY_BASIS = "identity"
#: A record that names no basis.
UNSPECIFIED_BASIS = "unspecified"
#: Label-free records written before the estimate: top-10 agreement, not on the scale.
LEGACY_BASIS = "agreement@10"
#: Bases that estimate the one scale (1.0 = the gallery generation's own queries).
SCALE_BASES = frozenset({"cmc@1", JUDGED_BASIS, ESTIMATE_BASIS, UNSPECIFIED_BASIS, IDENTITY_BASIS})


def hop_basis(figures: Figures) -> str:
    """The basis of a record's ``retention`` (``unspecified`` when it names none)."""
    return figures.retention_basis or UNSPECIFIED_BASIS


def on_scale(basis: str) -> bool:
    """Whether ``basis`` estimates the one quality scale."""
    return basis in SCALE_BASES


def hop_interval(figures: Figures) -> Interval | None:
    """The record's bootstrap interval of ``retention`` (``None`` when it has none)."""
    return Interval.from_value(figures.retention_interval, n=figures.count)


def hop_criterion(figures: Figures) -> bool | None:
    """The record's criterion verdict (``None``: not measured, e.g. without labels)."""
    return figures.criterion


def path_criterion(verdicts: Iterable[bool | None]) -> str:
    """``fail`` if a hop failed, else ``unknown`` if a hop was not judged, else ``pass``."""
    seen = list(verdicts)
    if any(v is False for v in seen):
        return "fail"
    if any(v is None for v in seen):
        return "unknown"
    return "pass"


def scored_together(bases: Iterable[str]) -> bool:
    """Whether hops of these bases may be multiplied into one quality.

    All on the scale, or all one and the same basis off it (identity joins
    go with anything).
    """
    rest = {b for b in bases if b != IDENTITY_BASIS}
    return all(on_scale(b) for b in rest) or len(rest) == 1
