"""The identity family: the "do nothing" baseline, only between equal dimensions.

Example:
    >>> import numpy as np
    >>> a = IdentityAdapter(3)
    >>> a.transform(np.ones((1, 3), dtype=np.float32)).tolist()
    [[1.0, 1.0, 1.0]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DimensionMismatch, ValidationError
from .config import FamilyConfig
from .linear import LinearAdapter, as_float32, check_parts, check_shapes

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


class IdentityAdapter(LinearAdapter):
    """``B(h) = h``: the do-nothing baseline, between equal dimensions only."""

    family = "identity"
    order = 0
    numpy_map = "y = x.copy()"

    def __init__(self, dim: int) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValidationError(f"identity adapter dimension must be positive, got {dim!r}")
        super().__init__(np.eye(dim, dtype=np.float32), np.zeros(dim, dtype=np.float32))

    @classmethod
    def min_train_pairs(cls, input_dim: int) -> int:
        return 1  # nothing is fit

    @classmethod
    def auto_candidates(
        cls, *, n_train: int, input_dim: int, output_dim: int, labels: bool
    ) -> list[dict[str, Any]]:
        return [{}] if input_dim == output_dim else []

    def transform(self, x: FloatArray) -> FloatArray:
        arr = as_float32(x, "input")
        if arr.shape[1] != self.input_dim:
            raise DimensionMismatch(self.input_dim, arr.shape[1], "identity adapter input")
        out: FloatArray = arr.copy()
        return out

    def tensors(self) -> dict[str, FloatArray]:
        return {}

    @classmethod
    def from_parts(cls, config: dict[str, Any], tensors: dict[str, FloatArray]) -> IdentityAdapter:
        check_parts(cls, config, tensors, set())
        adapter = cls(int(config.get("input_dim", 0)))
        check_shapes(adapter, config)
        return adapter

    @classmethod
    def fit(
        cls, source: FloatArray, target: FloatArray, config: FamilyConfig, *, device: str = "cpu"
    ) -> IdentityAdapter:
        """Nothing to fit; refuses data whose two sides differ in dimension."""
        if source.shape[1] != target.shape[1]:
            raise DimensionMismatch(
                source.shape[1],
                target.shape[1],
                "identity adapter",
                hint="the identity only joins generations of equal dimension; pick another family",
            )
        return cls(int(source.shape[1]))
