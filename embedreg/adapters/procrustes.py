"""Orthogonal Procrustes (B⊥): ``B(h) = R h`` with ``R`` semi-orthogonal.

``R`` is the closed-form solution of ``min ‖X Rᵀ − Y‖_F`` over matrices with
orthonormal rows (when the map reduces the dimension, ``R Rᵀ = I``) or
orthonormal columns (when it expands it, ``Rᵀ R = I``): the SVD of the
cross-covariance ``XᵀY = U S Vᵀ`` gives ``R = V Uᵀ``.  No bias, so cosine
geometry is kept exactly whenever the output dimension is not smaller.

Example:
    >>> import numpy as np
    >>> from embedreg.training import TrainConfig
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((100, 4)).astype(np.float32)
    >>> a = ProcrustesAdapter.fit(x, x[:, ::-1].copy(), TrainConfig(device="cpu"))
    >>> round(a.defect(), 6)
    0.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..devices import resolve_device
from ._linear import LinearAdapter, defect, procrustes_weight

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..training import TrainConfig

    FloatArray = npt.NDArray[np.float32]


class ProcrustesAdapter(LinearAdapter):
    """Semi-orthogonal map fit in closed form; its defect ``D`` is 0 up to rounding."""

    family = "procrustes"

    @classmethod
    def fit(cls, source: FloatArray, target: FloatArray, config: TrainConfig) -> ProcrustesAdapter:
        """Solve orthogonal Procrustes on the paired rows (uncentred, no bias)."""
        weight = procrustes_weight(source, target, resolve_device(config.device))
        return cls(weight, np.zeros(weight.shape[0], dtype=np.float32))

    def defect(self) -> float:
        """``‖WWᵀ − I‖_F`` (or ``‖WᵀW − I‖_F`` when expanding); 0 for Procrustes."""
        return defect(self.weight)
