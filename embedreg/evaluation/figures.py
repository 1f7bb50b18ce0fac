"""Held-out figures of an adapter: retrieval metrics, the criterion, flips, geometry.

Retrieval here is exact (every query against every gallery vector, in torch,
in chunks) with cosine similarity: both sides are L2-normalised, which for
a FAISS inner-product gallery of normalised vectors ranks exactly as the
served search does.  Query ``i`` and gallery item ``i`` are the same item
(one held-out set seen by two generations), so label-based metrics are
*leave-one-out*: the item's own vector is removed from the gallery, which
keeps ``A(new)/old`` comparable with ``old/old``.

Figures (the keys of :func:`measure`, stored in ``AdapterRecord.figures``;
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
    >>> figs["recall@1"], figs["retention"], figs["retention.basis"], figs["criterion"]
    (1.0, 1.0, 'judged-sim@10', None)
    >>> [round(v, 3) for v in figs["retention.interval"]]
    [1.0, 1.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..adapters import Adapter
from ..adapters.linear import defect
from ..data.pairs import PairedEmbeddings
from ..devices import select_device
from ..errors import DimensionMismatch
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
    "measure",
    "store_interval",
]

#: The figure that paths are ranked by (it multiplies over hops).
RETENTION = "retention"
#: What :data:`RETENTION` was computed from (``cmc@1``, ``ndcg@10`` or ``judged-sim@10``).
RETENTION_BASIS = "retention.basis"
#: Suffix of a figure's bootstrap interval (``[low, high]`` or ``None``).
INTERVAL_SUFFIX = ".interval"
#: The interval of :data:`RETENTION`.
RETENTION_INTERVAL = RETENTION + INTERVAL_SUFFIX


def store_interval(figs: dict[str, Any], key: str, interval: Interval | None, n: int) -> None:
    """Put ``key``'s interval in ``figs`` (``None`` with a note when ``n`` queries are too few)."""
    figs[key + INTERVAL_SUFFIX] = interval.to_list() if interval is not None else None
    note = interval_note(n)
    if interval is None and note is not None:
        figs[key + INTERVAL_SUFFIX + ".note"] = note


def _label_figures(
    prefix: str,
    queries: FloatArray,
    gallery: FloatArray,
    labels: IntArray,
    device: str,
) -> dict[str, float]:
    c = cmc(queries, gallery, labels, labels, (1, 5), device=device)
    return {
        f"{prefix}cmc@1": c[1],
        f"{prefix}cmc@5": c[5],
        f"{prefix}map": mean_average_precision(queries, gallery, labels, labels, device=device),
    }


def measure(adapter: Adapter, heldout: PairedEmbeddings, *, device: str = "auto") -> dict[str, Any]:
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
    figs: dict[str, Any] = {
        "heldout": n,
        "labels": heldout.labels is not None,
        "recall@1": float(np.mean(own_hits)),
        "recall@10": float(np.mean(ranks < 10)),
        "agreement@10": neighbour_agreement(adapted, tgt, tgt, tgt, device=dev),
        ESTIMATE_BASIS: float(path_gain.sum() / own_gain.sum()) if own_gain.sum() > 0 else 0.0,
    }
    store_interval(figs, "recall@1", bootstrap_interval(own_hits), n)
    labels = heldout.label_codes()
    if labels is not None:
        figs.update(_label_figures("", adapted, tgt, labels, dev))
        figs.update(_label_figures("target.", tgt, tgt, labels, dev))
        figs.update(_label_figures("source.", src, src, labels, dev))
        figs.update(_label_figures("adapted.", adapted, adapted, labels, dev))
        figs["geometry"] = figs["adapted.cmc@1"] - figs["source.cmc@1"]
        figs["criterion"] = bool(figs["cmc@1"] >= figs["target.cmc@1"])
        before = cmc_hits(tgt, tgt, labels, labels, 1, device=dev)
        after = cmc_hits(adapted, tgt, labels, labels, 1, device=dev)
        reference = figs["target.cmc@1"]
        figs[RETENTION] = figs["cmc@1"] / reference if reference > 0 else 0.0
        figs[RETENTION_BASIS] = "cmc@1"
        store_interval(figs, "cmc@1", bootstrap_interval(after), n)
        store_interval(figs, RETENTION, bootstrap_interval(after, before), n)
    else:
        figs["adapted.agreement@10"] = neighbour_agreement(adapted, adapted, src, src, device=dev)
        figs["geometry"] = figs["adapted.agreement@10"] - 1.0
        figs["criterion"] = None
        before = np.ones(n, dtype=bool)
        after = own_hits
        figs[RETENTION] = figs[ESTIMATE_BASIS]
        figs[RETENTION_BASIS] = ESTIMATE_BASIS
        store_interval(figs, RETENTION, bootstrap_interval(path_gain, own_gain), n)
    figs["flips.positive"], figs["flips.negative"] = flip_rates(before, after)
    weight = adapter.defect_weight()
    figs["defect"] = defect(weight) if weight is not None else None
    gallery_map = getattr(adapter, "gallery", None)
    if gallery_map is not None:
        adapted_gallery = gallery_map.apply(tgt)
        figs["gallery.recall@1"] = float(
            np.mean(own_pair_ranks(adapted, adapted_gallery, device=dev) == 0)
        )
        if labels is not None:
            figs["gallery.cmc@1"] = cmc(adapted, adapted_gallery, labels, labels, (1,), device=dev)[
                1
            ]
    return figs
