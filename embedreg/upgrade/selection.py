"""Which items a partial upgrade re-embeds first.

Orders (``--order``):

- ``given``: the gallery's own order (the order items were added);
- ``random``: a seeded random permutation (``--seed``), so a fraction is an
  unbiased sample of the gallery;
- ``worst``: the items that the query path serves worst first.  Without
  running the new model on every item, an item's *round trip* is the
  measure: its stored vector ``h`` is mapped into the new space by the
  forward path ``F`` and back by the query path ``B`` that new queries take
  to reach it, and ``cos(B(F(h)), h)`` says how faithfully the two maps
  carry that region of the space.  Items whose round trip lands far from
  where they started sit where the adapters are least accurate: those are
  re-embedded first.  It needs a forward path (``adapter train
  --direction forward``).  It is a proxy, not a measurement of each item's
  retrieval: ``bench/RESULTS.md`` measures it against ``random``.

Example:
    >>> select(["a", "b", "c", "d"], 2, "given")
    ['a', 'b']
    >>> select(["a", "b", "c", "d"], 2, "worst", scores={"a": 0.9, "b": 0.2, "c": 0.5, "d": 0.95})
    ['b', 'c']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..constants import ItemOrder
from ..errors import ValidationError
from ..routing import QueryPath

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["ORDERS", "round_trip", "select"]

#: The orders a partial upgrade re-embeds items in (:class:`~embedreg.constants.ItemOrder`).
ORDERS: tuple[str, ...] = ItemOrder.values()


def round_trip(vectors: FloatArray, forward: QueryPath, back: QueryPath) -> FloatArray:
    """``cos(back(forward(h)), h)`` per row: how faithfully the two paths carry each vector."""
    import numpy as np

    there = forward.apply(vectors)
    again = np.asarray(back.apply(there), dtype=np.float32)
    h = np.asarray(vectors, dtype=np.float32)
    num = (again * h).sum(axis=1)
    den = np.linalg.norm(again, axis=1) * np.linalg.norm(h, axis=1)
    out: FloatArray = (num / np.maximum(den, 1e-12)).astype(np.float32)
    return out


def select(
    ids: Sequence[str],
    count: int,
    order: str,
    *,
    seed: int = 0,
    scores: Mapping[str, float] | None = None,
) -> list[str]:
    """The first ``count`` of ``ids`` in ``order`` (``worst`` needs ``scores``: low first)."""
    import numpy as np

    if order not in ORDERS:
        raise ValidationError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if order == "given":
        return list(ids[:count])
    if order == "random":
        picks = np.random.default_rng(seed).permutation(len(ids))[:count]
        return [ids[i] for i in picks.tolist()]
    if scores is None:
        raise ValidationError("the 'worst' order needs each item's round-trip score")
    ranked = sorted(range(len(ids)), key=lambda i: (scores[ids[i]], i))
    return [ids[i] for i in ranked[:count]]
