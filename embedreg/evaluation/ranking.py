"""Scoring rankings with whatever relevance there is: class labels or judged queries.

A :class:`Judge` turns the top of each query's ranking into one value per
query, so the compatibility matrix, backfill curves and reports score any
search the same way (and bootstrap the values):

- class labels (``Judge.for_labels``): ``cmc@1`` / ``cmc@5``, a hit is an item
  of the query's label; queries are the gallery's own items, each left out of
  its own ranking (leave-one-out);
- judged queries (``Judge.for_qrels``): ``ndcg@10`` / ``recall@10`` over the
  corpus, from BEIR qrels (:mod:`.qrels`).

:func:`merged_topk` ranks a gallery whose items live in two spaces (part
re-embedded by a new generation, part still old): each query is scored
against every item in the item's own space, on one cosine scale, as a mixed
gallery's search merges its segments.

Example:
    >>> import numpy as np
    >>> x = np.eye(4, dtype=np.float32)[[0, 0, 1, 1]] + 0.01
    >>> judge = Judge.for_labels(np.array([0, 0, 1, 1]))
    >>> judge.score(x, x).tolist()
    [1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ValidationError
from .metrics import _check, _tensor, topk_indices
from .qrels import Relevance, ndcg_from_ranking, recall_from_ranking

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]

__all__ = ["LABEL_METRICS", "QRELS_METRICS", "Judge", "merged_topk"]

#: Metrics a judge with class labels computes.
LABEL_METRICS: tuple[str, ...] = ("cmc@1", "cmc@5")
#: Metrics a judge with qrels computes.
QRELS_METRICS: tuple[str, ...] = ("ndcg@10", "recall@10")
_CHUNK = 1024


@dataclass(frozen=True)
class Judge:
    """How one query's ranking is scored.

    Attributes:
        metric: ``cmc@1``, ``cmc@5``, ``ndcg@10`` or ``recall@10``.
        labels: class label codes of the items (queries are the items).
        relevance: judged relevance of separate queries over the corpus.
    """

    metric: str
    labels: IntArray | None = None
    relevance: Relevance | None = None

    @classmethod
    def for_labels(cls, labels: IntArray, metric: str = "cmc@1") -> Judge:
        """A judge of leave-one-out search among labelled items."""
        if metric not in LABEL_METRICS:
            raise ValidationError(
                f"with class labels the metric is one of {', '.join(LABEL_METRICS)}, got {metric!r}"
            )
        return cls(metric, labels=np.asarray(labels, dtype=np.int64))

    @classmethod
    def for_qrels(cls, relevance: Relevance, metric: str = "ndcg@10") -> Judge:
        """A judge of judged queries over a corpus."""
        if metric not in QRELS_METRICS:
            raise ValidationError(
                f"with qrels the metric is one of {', '.join(QRELS_METRICS)}, got {metric!r}"
            )
        if len(relevance) == 0:
            raise ValidationError(
                "no query has a relevant item in the corpus",
                "check that the qrels name the queries' and the corpus' ids",
            )
        return cls(metric, relevance=relevance)

    @property
    def exclude_self(self) -> bool:
        """Queries are the gallery's own items (left out of their own ranking)."""
        return self.labels is not None

    @property
    def depth(self) -> int:
        """How much of each ranking the metric reads."""
        return int(self.metric.split("@")[1])

    @property
    def queries(self) -> int:
        """Number of queries scored."""
        if self.labels is not None:
            return int(self.labels.shape[0])
        assert self.relevance is not None
        return len(self.relevance)

    def query_rows(self, n_queries: int) -> npt.NDArray[np.intp]:
        """Rows of the query matrix that are scored."""
        if self.relevance is not None:
            return self.relevance.rows
        return np.arange(n_queries, dtype=np.intp)

    def score_ranking(self, top: IntArray) -> npt.NDArray[np.float64]:
        """Per scored query, the metric of its ranked gallery rows ``top`` (one row per query)."""
        if self.labels is not None:
            hits = self.labels[top[:, : self.depth]] == self.labels[: top.shape[0], None]
            return np.asarray(hits.any(axis=1), dtype=np.float64)
        assert self.relevance is not None
        fn = ndcg_from_ranking if self.metric.startswith("ndcg") else recall_from_ranking
        return fn(top[:, : self.depth], self.relevance)

    def score(
        self, queries: FloatArray, gallery: FloatArray, *, device: str = "cpu"
    ) -> npt.NDArray[np.float64]:
        """Per scored query, the metric of searching ``gallery`` with ``queries`` (exact cosine)."""
        rows = self.query_rows(queries.shape[0])
        top = topk_indices(
            queries[rows], gallery, self.depth, exclude_self=self.exclude_self, device=device
        )
        return self.score_ranking(top)


def merged_topk(
    queries_a: FloatArray,
    gallery_a: FloatArray,
    queries_b: FloatArray,
    gallery_b: FloatArray,
    in_a: BoolArray,
    k: int,
    *,
    exclude_self: bool = False,
    device: str = "cpu",
) -> IntArray:
    """Top-``k`` gallery rows when item ``j`` is scored in space A if ``in_a[j]``, else in B.

    ``queries_a[i]`` / ``queries_b[i]`` are query ``i`` in each space (row
    ``i`` of both), ``gallery_a[j]`` / ``gallery_b[j]`` item ``j``; scores are
    cosines, so the two spaces merge on one scale.
    """
    import torch

    _check(queries_a, gallery_a, exclude_self)
    _check(queries_b, gallery_b, exclude_self)
    n = gallery_a.shape[0]
    if gallery_b.shape[0] != n or in_a.shape[0] != n:
        raise ValidationError("both galleries and the mask must hold the same items")
    k = min(k, n - (1 if exclude_self else 0))
    qa, ga = _tensor(queries_a, device), _tensor(gallery_a, device)
    qb, gb = _tensor(queries_b, device), _tensor(gallery_b, device)
    mask = torch.as_tensor(np.asarray(in_a, dtype=bool), device=ga.device)
    parts = []
    for start in range(0, qa.shape[0], _CHUNK):
        sims = torch.where(
            mask, qa[start : start + _CHUNK] @ ga.T, qb[start : start + _CHUNK] @ gb.T
        )
        if exclude_self:
            rows = torch.arange(sims.shape[0], device=sims.device)
            sims[rows, rows + start] = -torch.inf
        parts.append(torch.topk(sims, k, dim=1).indices.cpu())
    return torch.cat(parts).numpy().astype(np.int64)
