"""Affine least squares: ``B(h) = W h + b`` by closed-form ridge regression.

The ridge penalty is relative (see :func:`~embedreg.adapters._linear.ridge_from_moments`):
``TrainConfig.ridge`` times the mean input variance, so one value suits any
embedding scale.  This is the paper's "plain affine map" (λ = ∞) baseline.

Example:
    >>> import numpy as np
    >>> from embedreg.training import TrainConfig
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 3)).astype(np.float32)
    >>> W = np.array([[2.0, 0, 0], [0, 1, 1]], dtype=np.float32)
    >>> a = AffineAdapter.fit(x, x @ W.T + 1, TrainConfig(ridge=0.0, device="cpu"))
    >>> bool(np.allclose(a.weight, W, atol=1e-3)), bool(np.allclose(a.bias, 1, atol=1e-3))
    (True, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..devices import resolve_device
from ._linear import LinearAdapter, moments, ridge_from_moments

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..training import TrainConfig

    FloatArray = npt.NDArray[np.float32]


class AffineAdapter(LinearAdapter):
    """Unconstrained affine map, the ridge-regression solution."""

    family = "affine"

    @classmethod
    def fit(cls, source: FloatArray, target: FloatArray, config: TrainConfig) -> AffineAdapter:
        """Centred ridge regression of ``target`` on ``source``."""
        m = moments(source, target, resolve_device(config.device))
        w, b = ridge_from_moments(m, config.ridge)
        return cls(w.astype(np.float32), b.astype(np.float32), ridge=config.ridge)
