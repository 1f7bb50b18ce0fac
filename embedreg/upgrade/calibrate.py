"""Fitting score calibrations for a gallery of mixed generations.

After a partial upgrade the re-embedded items are known in both spaces:
their old vectors ``H`` (the gallery kept them) and their new vectors ``G``
(the job just made them).  Queries of the new generation score the items
``⟨g_i, g_j⟩`` in the new space, and ``⟨B(g_i), h_j⟩`` in the old segment
through the query path ``B``.  Merging decides at the top of each ranking,
so the fit matches *rank profiles*: for each query, the k-th best routed
score is paired with the k-th best native score (k = 1 … :data:`TOP`, the
item itself left out), and a least-squares line through those pairs maps
routed scores onto the native scale: the k-th best hit of a routed segment
then scores about what the k-th best of a native segment of the same items
would.  (A regression of each pair's native score on its routed score
would shrink routed scores towards the mean, and the routed segment would
lose the top ranks it deserves.)  The same is done the other way (old
queries, new segment through a forward path) when there is one.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = rng.standard_normal((200, 8)).astype("float32")
    >>> g /= np.linalg.norm(g, axis=1, keepdims=True)
    >>> c = fit_calibration(g, g, 0.5 * g, g, metric="ip")
    >>> round(c.scale, 3), abs(round(c.shift, 3))
    (2.0, 0.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..gallery import Calibration

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["MAX_ITEMS", "TOP", "fit_calibration"]

#: Items used for a fit (their pairwise scores: MAX_ITEMS² at most).
MAX_ITEMS = 600
#: Each query contributes its ``TOP`` best scores in each space, rank against rank.
TOP = 20


def _scores(q: FloatArray, x: FloatArray, metric: str) -> FloatArray:
    import numpy as np

    if metric == "ip":
        out: FloatArray = (q @ x.T).astype(np.float32)
        return out
    sq = (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * q @ x.T
    neg: FloatArray = (-sq).astype(np.float32)
    return neg


def fit_calibration(
    native_queries: FloatArray,
    native_items: FloatArray,
    routed_queries: FloatArray,
    routed_items: FloatArray,
    *,
    metric: str,
    basis: str = "",
) -> Calibration | None:
    """The line mapping routed scores onto native ones (``None`` when it cannot be fitted).

    Row ``i`` of all four arrays is the same item: its vector as a native
    query, as a native gallery item, mapped by the path as a query, and as the
    routed segment stores it.  An item's score with itself is left out.
    """
    import numpy as np

    n = min(len(native_queries), MAX_ITEMS)
    if n < 3:
        return None
    pick = np.linspace(0, len(native_queries) - 1, n).astype(int)
    t = _scores(native_queries[pick], native_items[pick], metric)
    r = _scores(routed_queries[pick], routed_items[pick], metric)
    np.fill_diagonal(t, -np.inf)
    np.fill_diagonal(r, -np.inf)
    top = min(TOP, n - 1)
    # each query's best ``top`` scores in both spaces, best first: rank k against rank k
    y = -np.sort(-t, axis=1)[:, :top].astype(np.float64).ravel()
    x = -np.sort(-r, axis=1)[:, :top].astype(np.float64).ravel()
    if x.size < 3 or float(np.var(x)) <= 1e-12:
        return None
    scale, shift = np.polyfit(x, y, 1)
    if not scale > 0:
        return None
    rmse = float(np.sqrt(np.mean((scale * x + shift - y) ** 2)))
    return Calibration(
        float(scale),
        float(shift),
        pairs=int(x.size),
        rmse=round(rmse, 5),
        basis=basis or f"rank profiles: the top {top} scores of {n} items in both spaces",
    )
