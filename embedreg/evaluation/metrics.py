"""Retrieval metrics: exact cosine search in torch, in chunks, on any device.

Query ``i`` and gallery item ``i`` may be the same item (one held-out set
seen by two generations); label-based metrics then leave it out
(*leave-one-out*), which keeps ``A(new)/old`` comparable with ``old/old``.
Also the summaries of a compatibility matrix over a chain of generations (AC
and AM, see ``method.md``).

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

from ..errors import DimensionMismatch

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]

__all__ = [
    "AGREEMENT_K",
    "average_compatibility",
    "average_multimodel_accuracy",
    "average_precisions",
    "cmc",
    "cmc_hits",
    "flip_rates",
    "mean_average_precision",
    "neighbour_agreement",
    "own_pair_ranks",
    "recall_at_k",
    "topk_indices",
]


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
    """0-based rank of gallery item ``i`` for query ``i``: the other items at least as similar.

    Ties count against the query (an item as similar as its own pair ranks
    before it), so degenerate vectors (all equal, all zero) rank last, not first.
    """
    import torch

    _check(queries, gallery, True)
    out = []
    for start, sims in _chunks(queries, gallery, device, False):
        rows = torch.arange(sims.shape[0], device=sims.device)
        own = sims[rows, rows + start]
        out.append(((sims >= own[:, None]).sum(1) - 1).cpu())
    return torch.cat(out).numpy().astype(np.int64)


def recall_at_k(
    queries: FloatArray, gallery: FloatArray, ks: Sequence[int] = (1, 10), *, device: str = "cpu"
) -> dict[int, float]:
    """Recall@k: the fraction of queries whose own paired gallery item is in the top k."""
    ranks = own_pair_ranks(queries, gallery, device=device)
    return {k: float(np.mean(ranks < k)) for k in ks}


def _label_matches(
    queries: FloatArray,
    gallery: FloatArray,
    query_labels: IntArray,
    gallery_labels: IntArray,
    k: int,
    exclude_self: bool,
    device: str,
) -> npt.NDArray[np.bool_]:
    """``(Q, k)``: does the j-th nearest gallery item share query i's label?"""
    top = topk_indices(queries, gallery, k, exclude_self=exclude_self, device=device)
    match: npt.NDArray[np.bool_] = gallery_labels[top] == query_labels[:, None]
    return match


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
    match = _label_matches(queries, gallery, query_labels, gallery_labels, k, exclude_self, device)
    hits: npt.NDArray[np.bool_] = np.asarray(match.any(axis=1), dtype=bool)
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
    match = _label_matches(
        queries, gallery, query_labels, gallery_labels, max(ks), exclude_self, device
    )
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
    total, counted = 0.0, 0
    for _, ap, keep in _average_precisions(
        queries, gallery, query_labels, gallery_labels, exclude_self, device
    ):
        total += float(ap[keep].sum())
        counted += int(keep.sum())
    return float(total / counted) if counted else 0.0


def average_precisions(
    queries: FloatArray,
    gallery: FloatArray,
    query_labels: IntArray,
    gallery_labels: IntArray,
    *,
    exclude_self: bool = True,
    device: str = "cpu",
) -> npt.NDArray[np.float64]:
    """Each query's average precision over the full ranking; NaN where nothing is relevant.

    Example:
        >>> q = np.eye(3, dtype=np.float32)
        >>> average_precisions(q, q, np.array([0, 0, 1]), np.array([0, 0, 1])).tolist()
        [1.0, 1.0, nan]
    """
    out = np.full(len(queries), np.nan)
    for start, ap, keep in _average_precisions(
        queries, gallery, query_labels, gallery_labels, exclude_self, device
    ):
        part = ap.double().cpu().numpy()
        part[~keep.cpu().numpy()] = np.nan
        out[start : start + len(part)] = part
    return out


def _average_precisions(
    queries: FloatArray,
    gallery: FloatArray,
    query_labels: IntArray,
    gallery_labels: IntArray,
    exclude_self: bool,
    device: str,
) -> Any:
    """Yield ``(start, ap, keep)`` per chunk of queries: AP and whether anything is relevant."""
    import torch

    _check(queries, gallery, exclude_self)
    g_lab = torch.as_tensor(gallery_labels, device=device)
    q_lab = torch.as_tensor(query_labels, device=device)
    for start, sims in _chunks(queries, gallery, device, exclude_self):
        order = torch.argsort(sims, dim=1, descending=True, stable=True)
        rel = (g_lab[order] == q_lab[start : start + sims.shape[0], None]).float()
        if exclude_self:  # the left-out item sorts last; it is not a candidate
            rel[:, -1] = 0.0
        n_rel = rel.sum(1)
        ranks = torch.arange(1, rel.shape[1] + 1, device=rel.device, dtype=torch.float32)
        precision = rel.cumsum(1) / ranks
        yield start, (precision * rel).sum(1) / n_rel.clamp(min=1), n_rel > 0


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
