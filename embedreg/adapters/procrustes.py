"""Orthogonal Procrustes (B⊥): ``B(h) = R h`` with ``R`` semi-orthogonal.

``R`` is the closed-form solution of ``min ‖X Rᵀ − Y‖_F`` over matrices with
orthonormal rows (when the map reduces the dimension, ``R Rᵀ = I``) or
orthonormal columns (when it expands it, ``Rᵀ R = I``): the SVD of the
cross-covariance ``XᵀY = U S Vᵀ`` gives ``R = V Uᵀ``.  No bias, so cosine
geometry is kept exactly whenever the output dimension is not smaller.

``-o center=true`` (:class:`ProcrustesConfig`) solves it for the deviations
from each side's mean instead, ``B(h) = R (h − μ_src) + μ_tgt``: still a
rotation (``D = 0``), now with the bias ``b = μ_tgt − R μ_src``.  Embedding
spaces are rarely centred (their mean vector is far from zero), and removing
the means first lets the rotation align what varies rather than the two
means (``bench/RESULTS.md`` measures both).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((100, 4)).astype(np.float32)
    >>> a = ProcrustesAdapter.fit(x, x[:, ::-1].copy(), ProcrustesAdapter.make_config())
    >>> round(a.defect(), 6)
    0.0
    >>> c = ProcrustesAdapter.fit(x + 3, x[:, ::-1] - 1, ProcrustesConfig(center=True))
    >>> bool(np.allclose(c.transform(x[:2] + 3), x[:2, ::-1] - 1, atol=1e-4))
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import FamilyConfig
from .linear import LinearAdapter, defect, moments, procrustes_from_moments

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ProcrustesConfig(FamilyConfig):
    """Options of the ``procrustes`` family."""

    center: bool = field(
        default=False,
        metadata={"help": "rotate deviations from the means, plus a bias: R(h − μ) + μ'"},
    )


class ProcrustesAdapter(LinearAdapter):
    """``B(h) = R h``, R semi-orthogonal, in closed form (defect 0 up to rounding)."""

    family = "procrustes"
    order = 10
    config_class = ProcrustesConfig

    @classmethod
    def auto_candidates(
        cls, *, n_train: int, input_dim: int, output_dim: int, labels: bool
    ) -> list[dict[str, Any]]:
        return [{}, {"center": True}]

    @classmethod
    def fit(
        cls, source: FloatArray, target: FloatArray, config: FamilyConfig, *, device: str = "cpu"
    ) -> ProcrustesAdapter:
        """Solve orthogonal Procrustes on the paired rows (centred with a bias, or neither)."""
        cfg = cls.make_config(config)
        center = isinstance(cfg, ProcrustesConfig) and cfg.center
        m = moments(source, target, device)
        weight = procrustes_from_moments(m, center=center)
        bias = m.mean_y - weight @ m.mean_x if center else np.zeros(weight.shape[0])
        return cls(weight.astype(np.float32), bias.astype(np.float32), cfg)

    def stored_settings(self) -> dict[str, Any]:
        """``{"center": True}`` for a centred map; nothing for the plain rotation."""
        centred = isinstance(self.config, ProcrustesConfig) and self.config.center
        return {"center": True} if centred else {}

    def defect(self) -> float:
        """``‖WWᵀ − I‖_F`` (or ``‖WᵀW − I‖_F`` when expanding); 0 for Procrustes."""
        return defect(self.weight)
