"""Held-out figures of an adapter: retrieval metrics, the criterion, flips, geometry.

Retrieval here is exact (every query against every gallery vector, in torch,
in chunks) with cosine similarity: both sides are L2-normalised, which for
a FAISS inner-product gallery of normalised vectors ranks exactly as the
served search does.  Query ``i`` and gallery item ``i`` are the same item
(one held-out set seen by two generations), so label-based metrics are
*leave-one-out*: the item's own vector is removed from the gallery, which
keeps ``A(new)/old`` comparable with ``old/old``.

Figures (the stored keys of the :class:`~embedreg.registry.Figures` that
:func:`measure` returns, each an attribute of it: ``recall@1`` is
``recall_at_1``, ``target.cmc@1`` is ``target.cmc_at_1``; kept in
``AdapterRecord.figures``;
rates are fractions in [0, 1]; ``src`` = the adapter's source generation,
``tgt`` = its target, ``A`` = the adapter):

=====================  ====================================================================
key                    definition
=====================  ====================================================================
``heldout``            number of held-out pairs measured
``labels``             whether the held-out pairs carry class labels
``recall@1``           fraction of ``A(src)`` queries whose own paired ``tgt`` vector ranks 1st
``recall@10``          … ranks in the top 10
``agreement@10``       mean overlap of the top 10 of ``A(src)`` and of ``tgt`` queries over
                       the ``tgt`` gallery (own item left out): how faithfully the path
                       reproduces the target's own search
``cmc@1``, ``cmc@5``   labels: fraction of ``A(src)`` queries with a same-label item in the
                       top 1 / 5 of the ``tgt`` gallery (leave-one-out)
``map``                labels: mean average precision of ``A(src)`` over ``tgt`` (leave-one-out)
``target.*``           the same metrics for ``tgt`` queries on the ``tgt`` gallery
                       (old/old for a backward adapter)
``source.*``           the same for ``src`` queries on the ``src`` gallery (new/new)
``adapted.*``          the same for ``A(src)`` queries on an ``A(src)`` gallery
``geometry``           geometry preservation: ``adapted.cmc@1 − source.cmc@1`` with labels,
                       else ``adapted.agreement@10 − 1`` (neighbourhoods of ``A(src)``
                       against those of ``src``); 0 means the new space is intact
``criterion``          labels: ``cmc@1 ≥ target.cmc@1`` (the empirical compatibility
                       criterion, BCT); ``None`` without labels (it needs relevance)
``flips.positive``     fraction of queries where ``tgt``/``tgt`` fails at top 1 and
                       ``A(src)``/``tgt`` succeeds (success: same label, leave-one-out;
                       without labels: own pair, which ``tgt`` queries always find)
``flips.negative``     fraction where ``tgt``/``tgt`` succeeds and ``A(src)``/``tgt`` fails
``defect``             ``D = ‖WWᵀ − I‖_F`` of the adapter's linear weight (``None`` for
                       non-affine families)
``judged-sim@10``      the label-free retention estimate (:mod:`.estimators`): how related,
                       as the ``tgt`` generation itself judges, the path's top 10 are to
                       the query's item, against ``tgt``'s own top 10 (1.0) and a random
                       retrieval (0.0); computed with and without labels
``retention``          the one number paths are ranked by, on one scale (1.0 = as good,
                       for retrieval on this gallery, as the ``tgt`` generation's own
                       queries): labels: ``cmc@1 / target.cmc@1`` (above 1 when the path
                       beats them); without labels: the ``judged-sim@10`` estimate (never
                       above 1)
``retention.basis``    ``"cmc@1"`` or ``"judged-sim@10"`` (``"agreement@10"`` in records
                       written before the estimate existed; see :mod:`embedreg.routing.scale`)
``*.interval``         ``[low, high]``: 95 % bootstrap interval over the held-out queries
                       (:mod:`.bootstrap`) of ``retention``, ``recall@1`` and, with labels,
                       ``cmc@1``; ``None`` when fewer than 30 queries were held out, and then
                       ``retention.interval.note`` says so
``gallery.cmc@1``      joint λ-orth only: ``A(src)`` queries on the gallery ``F̃(tgt)``
``gallery.recall@1``   … the same, own pair
=====================  ====================================================================

Example:
    >>> import numpy as np
    >>> from embedreg.adapters.identity import IdentityAdapter
    >>> from embedreg.data.pairs import PairedEmbeddings
    >>> x = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    >>> figs = measure(IdentityAdapter(4), PairedEmbeddings([str(i) for i in range(40)], x, x))
    >>> figs.recall_at_1, figs.retention, figs.retention_basis, figs.criterion
    (1.0, 1.0, 'judged-sim@10', None)
    >>> [round(v, 3) for v in figs.retention_interval]
    [1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..adapters import Adapter
from ..adapters.linear import defect
from ..data.pairs import PairedEmbeddings
from ..devices import select_device
from ..errors import DimensionMismatch
from ..registry.figures import Figures, Scores, Span
from .bootstrap import Interval, bootstrap_interval, interval_note
from .estimators import ESTIMATE_BASIS, judged_similarity_parts
from .metrics import (
    cmc,
    cmc_hits,
    flip_rates,
    mean_average_precision,
    neighbour_agreement,
    own_pair_ranks,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

__all__ = [
    "INTERVAL_SUFFIX",
    "RETENTION",
    "RETENTION_BASIS",
    "RETENTION_INTERVAL",
    "interval_fields",
    "measure",
]

#: The figure that paths are ranked by (it multiplies over hops).
RETENTION = "retention"
#: What :data:`RETENTION` was computed from (``cmc@1``, ``ndcg@10`` or ``judged-sim@10``).
RETENTION_BASIS = "retention.basis"
#: Suffix of a figure's bootstrap interval (``[low, high]`` or ``None``).
INTERVAL_SUFFIX = ".interval"
#: The interval of :data:`RETENTION`.
RETENTION_INTERVAL = RETENTION + INTERVAL_SUFFIX


def interval_fields(interval: Interval | None, n: int) -> tuple[Span | None, str | None]:
    """A figure's stored interval and note: ``None`` with a note when ``n`` queries are too few.

    Example:
        >>> interval_fields(None, 12)[1]
        '12 held-out queries are too few for a meaningful interval (at least 30 needed)'
    """
    span = (interval.low, interval.high) if interval is not None else None
    return span, interval_note(n) if interval is None else None


def _label_scores(
    queries: FloatArray,
    gallery: FloatArray,
    labels: IntArray,
    device: str,
) -> Scores:
    c = cmc(queries, gallery, labels, labels, (1, 5), device=device)
    return Scores(
        cmc_at_1=c[1],
        cmc_at_5=c[5],
        map=mean_average_precision(queries, gallery, labels, labels, device=device),
    )


def _nulls(values: dict[str, object]) -> frozenset[str]:
    """The stored keys of ``values`` measured without a value (stored as ``null``)."""
    return frozenset(k for k, v in values.items() if v is None)


def _labelled(
    common: Figures,
    src: FloatArray,
    tgt: FloatArray,
    adapted: FloatArray,
    labels: IntArray,
    dev: str,
) -> tuple[Figures, Any, Any]:
    """``common`` with the label-based figures, and the per-query top-1 successes before/after."""
    n = len(labels)
    path = _label_scores(adapted, tgt, labels, dev)
    target = _label_scores(tgt, tgt, labels, dev)
    source = _label_scores(src, src, labels, dev)
    adapted_scores = _label_scores(adapted, adapted, labels, dev)
    assert path.cmc_at_1 is not None and target.cmc_at_1 is not None
    assert adapted_scores.cmc_at_1 is not None and source.cmc_at_1 is not None
    before = cmc_hits(tgt, tgt, labels, labels, 1, device=dev)
    after = cmc_hits(adapted, tgt, labels, labels, 1, device=dev)
    cmc_span, cmc_note = interval_fields(bootstrap_interval(after), n)
    retention_span, retention_note = interval_fields(bootstrap_interval(after, before), n)
    figs = replace(
        common,
        cmc_at_1=path.cmc_at_1,
        cmc_at_5=path.cmc_at_5,
        map=path.map,
        target=target,
        source=source,
        adapted=adapted_scores,
        geometry=adapted_scores.cmc_at_1 - source.cmc_at_1,
        criterion=bool(path.cmc_at_1 >= target.cmc_at_1),
        retention=path.cmc_at_1 / target.cmc_at_1 if target.cmc_at_1 > 0 else 0.0,
        retention_basis="cmc@1",
        cmc_at_1_interval=cmc_span,
        cmc_at_1_interval_note=cmc_note,
        retention_interval=retention_span,
        retention_interval_note=retention_note,
        nulls=common.nulls | _nulls({"cmc@1.interval": cmc_span}),
    )
    return figs, before, after


def _label_free(
    common: Figures,
    src: FloatArray,
    adapted: FloatArray,
    own_hits: Any,
    gains: tuple[Any, Any],
    dev: str,
) -> tuple[Figures, Any, Any]:
    """``common`` with the label-free figures, and the per-query successes before/after."""
    n = len(own_hits)
    agreement = neighbour_agreement(adapted, adapted, src, src, device=dev)
    retention_span, retention_note = interval_fields(bootstrap_interval(*gains), n)
    figs = replace(
        common,
        adapted=Scores(agreement_at_10=agreement),
        geometry=agreement - 1.0,
        criterion=None,
        retention=common.judged_sim_at_10,
        retention_basis=ESTIMATE_BASIS,
        retention_interval=retention_span,
        retention_interval_note=retention_note,
        nulls=common.nulls | {"criterion"},
    )
    return figs, np.ones(n, dtype=bool), own_hits


def _gallery_scores(
    adapter: Adapter, adapted: FloatArray, tgt: FloatArray, labels: IntArray | None, dev: str
) -> Scores:
    """``A(src)`` queries on the gallery ``F̃(tgt)`` (joint λ-orth only; else empty)."""
    gallery_map = getattr(adapter, "gallery", None)
    if gallery_map is None:
        return Scores()
    adapted_gallery = gallery_map.apply(tgt)
    return Scores(
        recall_at_1=float(np.mean(own_pair_ranks(adapted, adapted_gallery, device=dev) == 0)),
        cmc_at_1=(
            cmc(adapted, adapted_gallery, labels, labels, (1,), device=dev)[1]
            if labels is not None
            else None
        ),
    )


def measure(adapter: Adapter, heldout: PairedEmbeddings, *, device: str = "auto") -> Figures:
    """All held-out figures of ``adapter`` on ``heldout`` (see the module docstring).

    ``heldout.source`` are the source generation's vectors (the adapter's
    input) and ``heldout.target`` the target generation's, row by row the
    same items.

    """
    dev = select_device(device)
    src, tgt = heldout.source, heldout.target
    if src.shape[1] != adapter.input_dim:
        raise DimensionMismatch(adapter.input_dim, src.shape[1], "held-out source vectors")
    if tgt.shape[1] != adapter.output_dim:
        raise DimensionMismatch(adapter.output_dim, tgt.shape[1], "held-out target vectors")
    n = len(heldout)
    adapted = adapter.transform(src)
    ranks = own_pair_ranks(adapted, tgt, device=dev)
    own_hits = ranks == 0
    path_gain, own_gain = judged_similarity_parts(adapted, tgt, device=dev)
    recall_span, recall_note = interval_fields(bootstrap_interval(own_hits), n)
    labels = heldout.label_codes()
    weight = adapter.defect_weight()
    measured_defect = defect(weight) if weight is not None else None
    common = Figures(
        heldout=n,
        labels=labels is not None,
        recall_at_1=float(np.mean(own_hits)),
        recall_at_10=float(np.mean(ranks < 10)),
        agreement_at_10=neighbour_agreement(adapted, tgt, tgt, tgt, device=dev),
        judged_sim_at_10=(float(path_gain.sum() / own_gain.sum()) if own_gain.sum() > 0 else 0.0),
        recall_at_1_interval=recall_span,
        recall_at_1_interval_note=recall_note,
        defect=measured_defect,
        gallery=_gallery_scores(adapter, adapted, tgt, labels, dev),
        nulls=_nulls({"defect": measured_defect, "recall@1.interval": recall_span}),
    )
    if labels is not None:
        figs, before, after = _labelled(common, src, tgt, adapted, labels, dev)
    else:
        figs, before, after = _label_free(
            common, src, adapted, own_hits, (path_gain, own_gain), dev
        )
    positive, negative = flip_rates(before, after)
    return replace(
        figs,
        flips_positive=positive,
        flips_negative=negative,
        nulls=figs.nulls | _nulls({"retention.interval": figs.retention_interval}),
    )
