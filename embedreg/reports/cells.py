"""One matrix cell measured through its path's kind: a map, a fused path or a cascade.

An evaluation set is embedded by every generation of the matrix, so each
kind of path can be measured on it exactly as serving would take it:

- **map**: the query generation's queries through the adapters, searched in
  the gallery generation's items (:meth:`Judge.score`);
- **fused**: the mapped queries slerped toward the gallery generation's own
  query vectors at the adapter's ``t``
  (:func:`~embedreg.evaluation.paths.slerp`);
- **cascade**: the first stage (the map or the fused path) picks the top
  ``K`` items, which are scored again with the query generation's own
  vectors of the queries and the items
  (:func:`~embedreg.evaluation.paths.cascade_scores`, the same cascade
  measurement as an adapter's held-out cascade figures).

Leave-one-out (label sets) leaves a query's own item out of both stages.

Example:
    >>> import numpy as np
    >>> from embedreg.evaluation.ranking import Judge
    >>> from embedreg.routing.kinds import PathOption
    >>> from embedreg.routing.policy import PathKind
    >>> x = np.eye(4, dtype=np.float32)
    >>> judge = Judge.for_labels(np.array([0, 0, 1, 1]))
    >>> own = CellVectors(mapped=x, own=x, query=x, query_items=x, items=x)
    >>> cascade = PathOption(PathKind.CASCADE, 1.0, "pass", 4, k=2, first="map")
    >>> cell_scores(judge, cascade, own).shape
    (4,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluation.paths import cascade_scores, normalize_rows, slerp, top_columns
from ..routing.policy import PathKind

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..evaluation.ranking import Judge
    from ..routing.kinds import PathOption

__all__ = ["CellVectors", "cell_scores"]

#: Queries scored at once by a cascade (two ``chunk × items`` score matrices).
CASCADE_CHUNK = 512


@dataclass(frozen=True)
class CellVectors:
    """The vectors one cell needs (rows: every query of the set, scored or not).

    Attributes:
        mapped: the query generation's queries through the path's map.
        own: the gallery generation's own vectors of the same queries.
        query: the query generation's own vectors of the queries.
        query_items: the query generation's vectors of the items.
        items: the gallery generation's vectors of the items (the gallery).
    """

    mapped: Any
    own: Any
    query: Any
    query_items: Any
    items: Any


def cell_scores(
    judge: Judge, option: PathOption, vectors: CellVectors, *, device: str = "cpu"
) -> npt.NDArray[np.float64]:
    """Per scored query, the judge's metric through ``option`` (see the module)."""
    if option.kind is PathKind.MAP:
        return judge.score(np.asarray(vectors.mapped, np.float32), vectors.items, device=device)
    fused = option.kind is PathKind.FUSED or option.first == "fused"
    first = (
        slerp(vectors.own, vectors.mapped, float(option.t or 0.0))
        if fused
        else normalize_rows(vectors.mapped)
    )
    if option.kind is PathKind.FUSED:
        return judge.score(first, vectors.items, device=device)
    return judge.score_ranking(_cascade_top(judge, first, vectors, int(option.k or 1)))


def _cascade_top(judge: Judge, first: Any, vectors: CellVectors, k: int) -> npt.NDArray[np.int64]:
    """The top ``judge.depth`` items per scored query after re-scoring the first stage's ``k``."""
    rows = judge.query_rows(first.shape[0])
    items = normalize_rows(vectors.items)
    query_items = normalize_rows(vectors.query_items)
    query = normalize_rows(vectors.query)
    depth = min(judge.depth, items.shape[0] - (1 if judge.exclude_self else 0))
    parts = []
    for start in range(0, len(rows), CASCADE_CHUNK):
        part = rows[start : start + CASCADE_CHUNK]
        stage1 = (first[part] @ items.T).astype(np.float32)
        stage2 = (query[part] @ query_items.T).astype(np.float32)
        # with label sets the queries are the items: a query's own item is no candidate
        own = part if judge.exclude_self else None
        scores, _ = cascade_scores(stage1, stage2, k, own=own)
        parts.append(top_columns(scores, depth))
    return np.concatenate(parts).astype(np.int64)
