"""Query paths beyond one map: fusion with the gallery generation's query, re-ranking cascades.

A *map* path sends the query generation's vector through adapters into the
gallery's space.  Two kinds go further (issue 23):

- **fused**: the gallery generation embeds the query too, and its own vector
  ``a`` is combined with the mapped one ``b`` by spherical interpolation,
  ``slerp(a, b, t)``; ``t = 0`` is the gallery generation's own query (so the
  fused path can always fall back to old/old), ``t = 1`` the map alone.
- **cascade**: a first stage (map or fused) fetches the top ``K`` gallery
  items, which are then scored again with the query generation's own vectors
  (``query · item`` in the query's space), so the top of the list approaches
  what the query generation would find in a gallery of its own.

This module is the arithmetic, on numpy arrays: the interpolation, score
matrices with an item's own vector left out (leave-one-out, as
:mod:`.figures` measures), the cascade's re-scoring and CMC@1 / average
precision read from a score matrix.  Fitting ``t`` and measuring ``K`` is
:mod:`embedreg.training.paths`; applying them to a gallery is
:mod:`embedreg.routing.kinds`.

Example:
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0]], np.float32); b = np.array([[0.0, 1.0]], np.float32)
    >>> [round(float(v), 3) for v in slerp(a, b, 0.5)[0]]
    [0.707, 0.707]
    >>> slerp(a, b, 0.0).tolist() == a.tolist()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "CASCADE_OFFSET",
    "cascade_scores",
    "leave_out",
    "normalize_rows",
    "rank_figures",
    "slerp",
    "slerp_weights",
    "top_columns",
]

#: Added to the re-scored candidates of a cascade so that they rank above every other item.
CASCADE_OFFSET = 1000.0


def normalize_rows(x: Any) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero)."""
    out = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    scaled: FloatArray = (out / np.maximum(norms, 1e-12)[:, None]).astype(np.float32)
    return scaled


def slerp_weights(a: FloatArray, b: FloatArray, t: float) -> tuple[FloatArray, FloatArray]:
    """Per row, ``(α, β)`` with ``slerp(a, b, t) = α·â + β·b̂`` (``â``, ``b̂`` unit rows).

    Scores are linear in the query, so ``slerp(a, b, t) · g = α (â·g) + β (b̂·g)``:
    a grid of weights costs one product with the gallery per side.
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    a, b = normalize_rows(a), normalize_rows(b)
    cos = np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0).astype(np.float64)
    theta = np.arccos(cos)
    sin = np.sin(theta)
    near = sin < 1e-6  # (anti)parallel rows: interpolate linearly
    safe = np.where(near, 1.0, sin)
    alpha = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    beta = np.where(near, t, np.sin(t * theta) / safe)
    if np.any(near):  # the linear fallback, renormalised
        mixed = alpha[near, None] * a[near] + beta[near, None] * b[near]
        norm = np.maximum(np.linalg.norm(mixed, axis=1), 1e-12)
        alpha[near] /= norm
        beta[near] /= norm
    return alpha.astype(np.float32), beta.astype(np.float32)


def slerp(a: Any, b: Any, t: float) -> FloatArray:
    """Spherical interpolation of unit rows: ``t = 0`` gives ``a``, ``t = 1`` gives ``b``."""
    a_n, b_n = normalize_rows(a), normalize_rows(b)
    alpha, beta = slerp_weights(a_n, b_n, t)
    return np.ascontiguousarray(alpha[:, None] * a_n + beta[:, None] * b_n, dtype=np.float32)


def cascade_scores(
    first: FloatArray, query_space: FloatArray, k: int, *, own: Any = None
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """A first stage's scores with its top ``k`` per row re-scored in the query's own space.

    ``first`` is ``(n_queries, n_items)`` (``-inf`` for items left out);
    ``query_space`` the same shape, the query generation's own scores.  The
    top ``k`` of ``first`` get ``CASCADE_OFFSET + query_space`` (so they rank
    first, in the query space's order); the rest keep the first stage's order.
    ``own`` (leave-one-out, as :mod:`.figures` measures): row ``i``'s own
    item, column ``own[i]``, is left out (``-inf``); it is never a candidate,
    so its query-space score never counts.  Neither input is changed.
    Returns the scores and the candidates' columns.

    This is the one cascade measurement: the matrix cells of
    :mod:`embedreg.reports.cells` (ranked by :func:`top_columns`) and the
    adapter's fitted and held-out variants of :mod:`embedreg.training.paths`
    (read by :func:`rank_figures`) both rank through it.

    Example:
        >>> first = np.array([[0.9, 0.8, 0.1]], np.float32)
        >>> mine = np.array([[0.0, 0.5, 0.9]], np.float32)
        >>> scores, _ = cascade_scores(first, mine, 2, own=[0])  # item 0 left out
        >>> top_columns(scores, 2).tolist()  # candidates 1 and 2, in the query's own order
        [[2, 1]]
        >>> top_columns(cascade_scores(first, mine, 1)[0], 3).tolist()  # 0 re-scored, then 1, 2
        [[0, 1, 2]]
    """
    out = first.copy()
    if own is not None:
        leave_out(out, own)
    n_items = out.shape[1]
    kk = max(1, min(k, n_items))
    top = (
        np.argpartition(-out, kk - 1, axis=1)[:, :kk]
        if kk < n_items
        else (np.tile(np.arange(n_items), (out.shape[0], 1)))
    )
    rows = np.arange(out.shape[0])[:, None]
    fresh = np.take_along_axis(query_space, top, axis=1)
    valid = np.isfinite(np.take_along_axis(out, top, axis=1))
    out[rows, top] = np.where(valid, CASCADE_OFFSET + fresh, -np.inf)
    return out, top


def top_columns(scores: FloatArray, depth: int) -> npt.NDArray[np.intp]:
    """Per row, the columns of the ``depth`` highest scores, best first (ties in column order
    as :func:`numpy.argpartition` leaves them, then a stable sort).

    Example:
        >>> top_columns(np.array([[0.1, 0.7, 0.3]], np.float32), 2).tolist()
        [[1, 2]]
    """
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    ranked: npt.NDArray[np.intp] = np.take_along_axis(top, order, axis=1)
    return ranked


def rank_figures(
    scores: FloatArray, query_labels: Any, item_labels: Any
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Per query: a same-label item at rank 1 (CMC@1), and average precision.

    Items scored ``-inf`` are left out (not candidates), as leave-one-out
    leaves a query's own item out.
    """
    q = np.asarray(query_labels)
    g = np.asarray(item_labels)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    relevant = (g[order] == q[:, None]) & np.isfinite(ranked)
    hits = relevant[:, 0]
    cum = np.cumsum(relevant, axis=1)
    positions = np.arange(1, scores.shape[1] + 1)
    precision = np.where(relevant, cum / positions, 0.0)
    total = relevant.sum(axis=1)
    ap = np.where(total > 0, precision.sum(axis=1) / np.maximum(total, 1), 0.0)
    return hits, ap.astype(np.float64)


def leave_out(scores: FloatArray, own: Any) -> FloatArray:
    """``scores`` with each query's own item (column ``own[i]``) set to ``-inf``, in place."""
    cols = np.asarray(own, dtype=np.intp)
    scores[np.arange(scores.shape[0]), cols] = -np.inf
    return scores
