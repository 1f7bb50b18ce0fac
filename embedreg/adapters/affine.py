"""Affine least squares: ``B(h) = W h + b`` by closed-form ridge regression.

The ridge penalty is relative (see :func:`~embedreg.adapters.linear.ridge_from_moments`):
``AffineConfig.ridge`` times the mean input variance, so one value suits any
embedding scale.  This is the paper's "plain affine map" (λ = ∞) baseline.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 3)).astype(np.float32)
    >>> W = np.array([[2.0, 0, 0], [0, 1, 1]], dtype=np.float32)
    >>> a = AffineAdapter.fit(x, x @ W.T + 1, AffineConfig(ridge=0.0))
    >>> bool(np.allclose(a.weight, W, atol=1e-3)), bool(np.allclose(a.bias, 1, atol=1e-3))
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import FamilyConfig, check_non_negative
from .linear import LinearAdapter, moments, ridge_from_moments

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AffineConfig(FamilyConfig):
    """Options of the ``affine`` family."""

    ridge: float = field(
        default=1e-2, metadata={"help": "ridge penalty, relative to the mean input variance"}
    )

    def __post_init__(self) -> None:
        check_non_negative("ridge", self.ridge)


class AffineAdapter(LinearAdapter):
    """``B(h) = W h + b``, unconstrained, by closed-form ridge regression."""

    family = "affine"
    order = 20
    config_class = AffineConfig

    @classmethod
    def auto_candidates(
        cls, *, n_train: int, input_dim: int, output_dim: int, labels: bool
    ) -> list[dict[str, Any]]:
        return [{}]

    @classmethod
    def fit(
        cls, source: FloatArray, target: FloatArray, config: FamilyConfig, *, device: str = "cpu"
    ) -> AffineAdapter:
        """Centred ridge regression of ``target`` on ``source``."""
        cfg = cls.make_config(config)
        assert isinstance(cfg, AffineConfig)  # make_config returns a config_class instance
        m = moments(source, target, device)
        w, b = ridge_from_moments(m, cfg.ridge)
        return cls(w.astype(np.float32), b.astype(np.float32), cfg)
