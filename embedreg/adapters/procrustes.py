"""Orthogonal Procrustes (B⊥): ``B(h) = R h`` with ``R`` semi-orthogonal.

``R`` is the closed-form solution of ``min ‖X Rᵀ − Y‖_F`` over matrices with
orthonormal rows (when the map reduces the dimension, ``R Rᵀ = I``) or
orthonormal columns (when it expands it, ``Rᵀ R = I``): the SVD of the
cross-covariance ``XᵀY = U S Vᵀ`` gives ``R = V Uᵀ``.  No bias, so cosine
geometry is kept exactly whenever the output dimension is not smaller.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((100, 4)).astype(np.float32)
    >>> a = ProcrustesAdapter.fit(x, x[:, ::-1].copy(), ProcrustesAdapter.make_config())
    >>> round(a.defect(), 6)
    0.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .config import FamilyConfig
from .linear import LinearAdapter, defect, procrustes_weight

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


class ProcrustesAdapter(LinearAdapter):
    """``B(h) = R h``, R semi-orthogonal, in closed form (defect 0 up to rounding)."""

    family = "procrustes"
    order = 10

    @classmethod
    def fit(
        cls, source: FloatArray, target: FloatArray, config: FamilyConfig, *, device: str = "cpu"
    ) -> ProcrustesAdapter:
        """Solve orthogonal Procrustes on the paired rows (uncentred, no bias)."""
        weight = procrustes_weight(source, target, device)
        return cls(weight, np.zeros(weight.shape[0], dtype=np.float32))

    def defect(self) -> float:
        """``‖WWᵀ − I‖_F`` (or ``‖WᵀW − I‖_F`` when expanding); 0 for Procrustes."""
        return defect(self.weight)
