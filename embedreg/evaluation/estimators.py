"""The label-free retention estimate: the gallery generation judges what a path retrieves.

Without labels nobody says which items are relevant to a query, so the
estimate lets the *gallery generation itself* judge: for held-out item ``i``,
its own gallery vector ``t_i`` says how related another gallery item ``j`` is,
by the cosine ``s(i, j) = cos(t_i, t_j)``.  A query of the path (``A(src_i)``)
retrieves its top ``k`` gallery items (item ``i`` itself left out, as for
CMC); so does the gallery generation's own query (``t_i``), which by
definition retrieves the ``k`` items it judges most related.  Against a random
retrieval (the mean of ``s(i, j)`` over all other items):

    estimate = Σ_i (s̄_A(i) − r(i)) / Σ_i (s̄_T(i) − r(i))

with ``s̄_A(i)`` / ``s̄_T(i)`` the mean judged similarity of the path's / the
gallery generation's own top ``k`` and ``r(i)`` the random baseline.  So the
gallery generation's own queries score exactly 1.0, a path that retrieves at
random scores about 0, and no path scores above 1: the same scale as the
labelled retention ``cmc@1(A(src)) / cmc@1(tgt)`` (1.0 = as good for
retrieval on this gallery as the gallery generation's own queries).

**Limits** (validated against labelled retention in ``bench/RESULTS.md``):
the judge is the gallery generation, so a path can never be shown to beat it
(the estimate is capped at 1 where labelled retention may exceed it), and a
path that retrieves items the gallery model considers only loosely related
is marked down even where coarse labels (a topic) would count them as hits:
the estimate is below labelled retention for good adapters on topic labels.
It measures fidelity to the gallery generation's own notion of relevance,
not relevance as a human would judge it.

Example:
    >>> import numpy as np
    >>> t = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    >>> round(judged_similarity(t, t), 6)
    1.0
    >>> judged_similarity(t[::-1].copy(), t) < 0.3
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .bootstrap import Interval, bootstrap_interval
from .metrics import _check, _tensor

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "ESTIMATE_BASIS",
    "ESTIMATE_K",
    "judged_similarity",
    "judged_similarity_parts",
    "judged_similarity_with_interval",
]

#: How many retrieved items the judge looks at per query.
ESTIMATE_K = 10
#: The ``retention.basis`` of the label-free estimate.
ESTIMATE_BASIS = f"judged-sim@{ESTIMATE_K}"
_CHUNK = 1024


def judged_similarity_parts(
    queries: FloatArray, gallery: FloatArray, k: int = ESTIMATE_K, *, device: str = "cpu"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per query ``(s̄_A − r, s̄_T − r)``: the path's and the gallery's own gain over random.

    ``queries[i]`` is the path's query of item ``i`` and ``gallery[i]`` the
    gallery generation's vector of the same item (which is also its own query).
    """
    import torch

    _check(queries, gallery, True)
    n = gallery.shape[0]
    k = min(k, n - 1)
    if k < 1:
        raise ValueError("the estimate needs at least two items")
    q_all = _tensor(queries, device)
    g = _tensor(gallery, device)
    path_gain: list[npt.NDArray[np.float64]] = []
    own_gain: list[npt.NDArray[np.float64]] = []
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        rows = torch.arange(stop - start, device=g.device)
        judge = g[start:stop] @ g.T  # s(i, j) for the chunk's items
        base = (judge.sum(1) - judge[rows, rows + start]) / (n - 1)
        judge[rows, rows + start] = -torch.inf
        own = torch.topk(judge, k, dim=1).values.mean(1)
        sims = q_all[start:stop] @ g.T
        sims[rows, rows + start] = -torch.inf
        picked = torch.topk(sims, k, dim=1).indices
        path = torch.gather(judge, 1, picked).mean(1)
        path_gain.append((path - base).double().cpu().numpy())
        own_gain.append((own - base).double().cpu().numpy())
    return np.concatenate(path_gain), np.concatenate(own_gain)


def judged_similarity(
    queries: FloatArray, gallery: FloatArray, k: int = ESTIMATE_K, *, device: str = "cpu"
) -> float:
    """The label-free retention estimate (see the module docstring), in about [0, 1]."""
    path, own = judged_similarity_parts(queries, gallery, k, device=device)
    total = float(own.sum())
    return float(path.sum()) / total if total > 0 else 0.0


def judged_similarity_with_interval(
    queries: FloatArray, gallery: FloatArray, k: int = ESTIMATE_K, *, device: str = "cpu"
) -> tuple[float, Interval | None]:
    """The estimate and its bootstrap interval over queries (``None`` when too few)."""
    path, own = judged_similarity_parts(queries, gallery, k, device=device)
    total = float(own.sum())
    value = float(path.sum()) / total if total > 0 else 0.0
    return value, bootstrap_interval(path, own)
