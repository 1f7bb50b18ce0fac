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
``retention``          the one number paths are ranked by; it multiplies over hops:
                       labels: ``cmc@1 / target.cmc@1`` (above 1 when the path beats the
                       target's own queries); without labels: ``agreement@10`` (the target's
                       own queries agree with themselves, so its reference is exactly 1)
``retention.basis``    ``"cmc@1"`` or ``"agreement@10"``
``gallery.cmc@1``      joint λ-orth only: ``A(src)`` queries on the gallery ``F̃(tgt)``
``gallery.recall@1``   … the same, own pair
=====================  ====================================================================

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((50, 8)).astype(np.float32)
    >>> recall_at_k(x, x, (1,))
    {1: 1.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .devices import resolve_device
from .errors import DimensionMismatch

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    from .adapters.base import Adapter
    from .pairs import PairedEmbeddings

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

#: Queries per chunk of the exact similarity computation.
QUERY_CHUNK = 1024
#: k of the label-free neighbourhood agreement.
AGREEMENT_K = 10


def _tensor(x: FloatArray, device: str) -> torch.Tensor:
    import torch

    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)
    return torch.nn.functional.normalize(t, dim=1)


def _check(queries: FloatArray, gallery: FloatArray, same_items: bool) -> None:
    if queries.shape[1] != gallery.shape[1]:
        raise DimensionMismatch(gallery.shape[1], queries.shape[1], "query vectors vs gallery")
    if same_items and queries.shape[0] != gallery.shape[0]:
        raise DimensionMismatch(gallery.shape[0], queries.shape[0], "paired query/gallery rows")


def _chunks(queries: FloatArray, gallery: FloatArray, device: str, exclude_self: bool) -> Any:
    """Yield ``(start, sims)``: cosine similarities of a chunk of queries to the gallery.

    With ``exclude_self`` the similarity of query ``i`` to gallery item ``i``
    is set to ``-inf`` (leave-one-out).
    """
    import torch

    q_all = _tensor(queries, device)
    g = _tensor(gallery, device)
    for start in range(0, q_all.shape[0], QUERY_CHUNK):
        sims = q_all[start : start + QUERY_CHUNK] @ g.T
        if exclude_self:
            rows = torch.arange(sims.shape[0], device=sims.device)
            sims[rows, rows + start] = -torch.inf
        yield start, sims


def topk_indices(
    queries: FloatArray,
    gallery: FloatArray,
    k: int,
    *,
    exclude_self: bool = False,
    device: str = "cpu",
) -> IntArray:
    """Indices ``(Q, k)`` of the ``k`` most similar gallery items for each query (exact)."""
    import torch

    _check(queries, gallery, exclude_self)
    k = min(k, gallery.shape[0] - (1 if exclude_self else 0))
    parts = [
        torch.topk(s, k, dim=1).indices.cpu()
        for _, s in _chunks(queries, gallery, device, exclude_self)
    ]
    return torch.cat(parts).numpy().astype(np.int64)


def own_pair_ranks(queries: FloatArray, gallery: FloatArray, *, device: str = "cpu") -> IntArray:
    """0-based rank of gallery item ``i`` for query ``i`` (items more similar than it)."""
    import torch

    _check(queries, gallery, True)
    out = []
    for start, sims in _chunks(queries, gallery, device, False):
        rows = torch.arange(sims.shape[0], device=sims.device)
        own = sims[rows, rows + start]
        out.append((sims > own[:, None]).sum(1).cpu())
    return torch.cat(out).numpy().astype(np.int64)


def recall_at_k(
    queries: FloatArray, gallery: FloatArray, ks: Sequence[int] = (1, 10), *, device: str = "cpu"
) -> dict[int, float]:
    """Recall@k: the fraction of queries whose own paired gallery item is in the top k."""
    ranks = own_pair_ranks(queries, gallery, device=device)
    return {k: float(np.mean(ranks < k)) for k in ks}


def cmc_hits(
    queries: FloatArray,
    gallery: FloatArray,
    query_labels: IntArray,
    gallery_labels: IntArray,
    k: int,
    *,
    exclude_self: bool = True,
    device: str = "cpu",
) -> npt.NDArray[np.bool_]:
    """Per query: is an item of the same label among the top ``k``? (leave-one-out by default)."""
    top = topk_indices(queries, gallery, k, exclude_self=exclude_self, device=device)
    hits: npt.NDArray[np.bool_] = (gallery_labels[top] == query_labels[:, None]).any(axis=1)
    return hits


def cmc(
    queries: FloatArray,
    gallery: FloatArray,
    query_labels: IntArray,
    gallery_labels: IntArray,
    ks: Sequence[int] = (1, 5),
    *,
    exclude_self: bool = True,
    device: str = "cpu",
) -> dict[int, float]:
    """CMC top-k: the fraction of queries with a same-label gallery item in the top k."""
    kmax = max(ks)
    top = topk_indices(queries, gallery, kmax, exclude_self=exclude_self, device=device)
    match = gallery_labels[top] == query_labels[:, None]
    return {k: float(match[:, :k].any(axis=1).mean()) for k in ks}


def mean_average_precision(
    queries: FloatArray,
    gallery: FloatArray,
    query_labels: IntArray,
    gallery_labels: IntArray,
    *,
    exclude_self: bool = True,
    device: str = "cpu",
) -> float:
    """mAP over the full ranking (relevant: same label; own item left out by default).

    Queries without any relevant gallery item are skipped.
    """
    import torch

    _check(queries, gallery, exclude_self)
    g_lab = torch.as_tensor(gallery_labels, device=device)
    q_lab = torch.as_tensor(query_labels, device=device)
    total, counted = 0.0, 0
    for start, sims in _chunks(queries, gallery, device, exclude_self):
        order = torch.argsort(sims, dim=1, descending=True, stable=True)
        rel = (g_lab[order] == q_lab[start : start + sims.shape[0], None]).double()
        if exclude_self:  # the left-out item sorts last; it is not a candidate
            rel[:, -1] = 0.0
        n_rel = rel.sum(1)
        ranks = torch.arange(1, rel.shape[1] + 1, device=rel.device, dtype=torch.float64)
        precision = rel.cumsum(1) / ranks
        ap = (precision * rel).sum(1) / n_rel.clamp(min=1)
        keep = n_rel > 0
        total += float(ap[keep].sum())
        counted += int(keep.sum())
    return float(total / counted) if counted else 0.0


def neighbour_agreement(
    queries: FloatArray,
    gallery: FloatArray,
    reference_queries: FloatArray,
    reference_gallery: FloatArray,
    k: int = AGREEMENT_K,
    *,
    device: str = "cpu",
) -> float:
    """Mean overlap (in [0, 1]) of the top-k of ``queries`` on ``gallery`` and of the reference.

    Item ``i``'s own gallery vector is left out on both sides, so the figure
    describes search for items not in the gallery.
    """
    a = topk_indices(queries, gallery, k, exclude_self=True, device=device)
    b = topk_indices(reference_queries, reference_gallery, k, exclude_self=True, device=device)
    k_eff = int(a.shape[1])
    overlap = [len(set(ra.tolist()) & set(rb.tolist())) for ra, rb in zip(a, b, strict=True)]
    return float(np.mean(overlap)) / k_eff


def flip_rates(before: npt.NDArray[np.bool_], after: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(positive, negative) flip rates between per-query successes before and after."""
    return float(np.mean(~before & after)), float(np.mean(before & ~after))


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def average_compatibility(matrix: Sequence[Sequence[float | None]]) -> float:
    """AC: fraction of pairs ``j < t`` with ``C[t][j] > C[j][j]`` (lower triangle of C).

    Example:
        >>> average_compatibility([[0.5, None], [0.6, 0.7]])
        1.0
    """
    pairs = [(t, j) for t in range(len(matrix)) for j in range(t) if matrix[t][j] is not None]
    if not pairs:
        return 0.0
    wins = sum(1 for t, j in pairs if _num(matrix[t][j]) > _num(matrix[j][j]))
    return wins / len(pairs)


def average_multimodel_accuracy(matrix: Sequence[Sequence[float | None]]) -> float:
    """AM: mean of the lower triangle of C, diagonal included.

    Example:
        >>> average_multimodel_accuracy([[0.5, None], [0.6, 0.7]])
        0.6
    """
    vals = [
        _num(matrix[t][j])
        for t in range(len(matrix))
        for j in range(t + 1)
        if matrix[t][j] is not None
    ]
    return round(sum(vals) / len(vals), 12) if vals else 0.0


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

    Example:
        >>> import numpy as np
        >>> from embedreg.adapters.identity import IdentityAdapter
        >>> from embedreg.pairs import PairedEmbeddings
        >>> x = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
        >>> figs = measure(IdentityAdapter(4), PairedEmbeddings([str(i) for i in range(40)], x, x))
        >>> figs["recall@1"], figs["retention"], figs["criterion"]
        (1.0, 1.0, None)
    """
    dev = resolve_device(device)
    src, tgt = heldout.source, heldout.target
    if src.shape[1] != adapter.input_dim:
        raise DimensionMismatch(adapter.input_dim, src.shape[1], "held-out source vectors")
    if tgt.shape[1] != adapter.output_dim:
        raise DimensionMismatch(adapter.output_dim, tgt.shape[1], "held-out target vectors")
    adapted = adapter.transform(src)
    rec = recall_at_k(adapted, tgt, (1, 10), device=dev)
    figs: dict[str, Any] = {
        "heldout": len(heldout),
        "labels": heldout.labels is not None,
        "recall@1": rec[1],
        "recall@10": rec[10],
        "agreement@10": neighbour_agreement(adapted, tgt, tgt, tgt, device=dev),
    }
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
        figs["retention"] = figs["cmc@1"] / reference if reference > 0 else 0.0
        figs["retention.basis"] = "cmc@1"
    else:
        figs["adapted.agreement@10"] = neighbour_agreement(adapted, adapted, src, src, device=dev)
        figs["geometry"] = figs["adapted.agreement@10"] - 1.0
        figs["criterion"] = None
        before = np.ones(len(heldout), dtype=bool)
        after = own_pair_ranks(adapted, tgt, device=dev) == 0
        figs["retention"] = figs["agreement@10"]
        figs["retention.basis"] = "agreement@10"
    figs["flips.positive"], figs["flips.negative"] = flip_rates(before, after)
    weight = adapter.defect_weight()
    if weight is not None:
        from .adapters._linear import defect

        figs["defect"] = defect(weight)
    else:
        figs["defect"] = None
    gallery_map = getattr(adapter, "gallery", None)
    if gallery_map is not None:
        adapted_gallery = gallery_map.apply(tgt)
        figs["gallery.recall@1"] = recall_at_k(adapted, adapted_gallery, (1,), device=dev)[1]
        if labels is not None:
            figs["gallery.cmc@1"] = cmc(adapted, adapted_gallery, labels, labels, (1,), device=dev)[
                1
            ]
    return figs
