"""Class labels as users have them (strings, integers, any hashable), coded as integers inside.

Labels come from files (strings), from numpy or pandas columns (integers,
sometimes floats when a column had gaps) or from Python lists of anything
hashable (tuples, enums).  :func:`label_codes` turns them into the integer
codes the trainer and the metrics use, and refuses what cannot be one class
label per pair, with a :class:`~embedreg.errors.TrainingDataError` that names
the shape it expected:

* another number of labels than pairs, or a 2-D array (one label per pair
  means shape ``(n,)``);
* a missing label (``None``, NaN), an unhashable one (a list, a dict), or a
  float with a fractional part (a measurement passed by mistake, not a class;
  whole floats such as ``2.0``, from a column that had gaps, are the integer).

Equal labels get equal codes and different labels different codes; codes
follow the sorted order of the labels when they sort, else the order in which
they first appear.

Example:
    >>> label_codes(["sport", "tech", "sport"], 3).tolist()
    [0, 1, 0]
    >>> label_codes([3, 1, 3.0], 3).tolist()
    [1, 0, 1]
    >>> label_codes(["a", "b"], 3)
    Traceback (most recent call last):
    ...
    embedreg.errors.TrainingDataError: labels must be one per pair, shape (3,); got shape (2,); give one class label per pair, in the order of the pairs
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TrainingDataError

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]

__all__ = ["label_codes"]

_HINT = "give one class label per pair, in the order of the pairs"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(float(value))
    return False


def _whole(value: Any, i: int) -> Any:
    """A float label as the integer it is; a fractional or infinite one is refused."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise TrainingDataError(
                f"label {i} is the number {number!r}, which names no class "
                "(labels must be class names or integer codes)",
                _HINT,
            )
        return int(number)
    return value


def label_codes(labels: Any, n: int) -> IntArray | None:
    """``labels`` (one per pair, any hashable values) as integer codes; ``None`` stays ``None``.

    Raises:
        TrainingDataError: not ``n`` labels in a flat sequence, or a label that
            is missing (``None``, NaN) or unhashable.
    """
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)):
        raise TrainingDataError(
            f"labels must be one per pair, shape ({n},); got a single string", _HINT
        )
    shape = getattr(labels, "shape", None)
    if shape is not None and len(shape) != 1:
        raise TrainingDataError(
            f"labels must be one per pair, shape ({n},); got an array of shape {tuple(shape)}",
            _HINT,
        )
    try:
        values = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    except TypeError:
        raise TrainingDataError(
            f"labels must be a sequence of one label per pair, shape ({n},); "
            f"got a {type(labels).__name__}",
            _HINT,
        ) from None
    if len(values) != n:
        raise TrainingDataError(
            f"labels must be one per pair, shape ({n},); got shape ({len(values)},)", _HINT
        )
    codes: dict[Any, int] = {}
    for i, value in enumerate(values):
        if _missing(value):
            raise TrainingDataError(f"label {i} is missing ({value!r})", _HINT)
        value = values[i] = _whole(value, i)
        if not isinstance(value, Hashable) or isinstance(value, (list, np.ndarray)):
            raise TrainingDataError(
                f"label {i} is a {type(value).__name__}, not one class label "
                f"(labels must be one per pair, shape ({n},))",
                _HINT,
            )
        try:
            codes.setdefault(value, len(codes))
        except TypeError:  # a tuple holding something unhashable
            raise TrainingDataError(
                f"label {i} ({value!r}) is not hashable, so it cannot name a class", _HINT
            ) from None
    try:
        ordered = sorted(codes)
    except TypeError:  # labels of types that do not compare: first appearance
        ordered = list(codes)
    rank = {label: code for code, label in enumerate(ordered)}
    return np.fromiter((rank[v] for v in values), dtype=np.int64, count=n)
