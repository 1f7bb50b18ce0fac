"""Low-rank affine (Drift-Adapter's variant): ``B(h) = (R + U Vᵀ) h + b``.

``R`` is the Procrustes map (fixed), ``U Vᵀ`` a trainable rank-``r``
correction (``-o rank=R``, default 32) and ``b`` a trainable bias.
It is affine, so paths through it still compile into one matrix.

Example:
    >>> import numpy as np
    >>> a = LowRankAdapter(np.eye(2, dtype=np.float32), np.zeros((2, 1), np.float32),
    ...                    np.zeros((2, 1), np.float32), np.zeros(2, np.float32))
    >>> a.affine().W.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ValidationError
from .base import AffineMap
from .config import FamilyConfig, check_positive_int
from .linear import BaseShaped, as_float32, check_parts, check_shapes
from .trainable import GradientConfig, TrainableAdapter

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LowRankConfig(GradientConfig):
    """Options of the ``lowrank`` family."""

    rank: int = field(default=32, metadata={"help": "rank of the trainable correction U Vᵀ"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("rank", self.rank)


class LowRankAdapter(BaseShaped, TrainableAdapter):
    """``B(h) = (R + U Vᵀ) h + b``: fixed Procrustes R plus a low-rank correction (Drift-Adapter)."""

    family = "lowrank"
    order = 40
    numpy_map = 'y = x @ (t["base"] + t["u"] @ t["v"].T).T + t["bias"]'
    affine_maps = True
    config_class = LowRankConfig

    @classmethod
    def auto_candidates(
        cls, *, n_train: int, input_dim: int, output_dim: int, labels: bool
    ) -> list[dict[str, Any]]:
        return [{}]

    def __init__(self, base: FloatArray, u: FloatArray, v: FloatArray, bias: FloatArray) -> None:
        self.base = as_float32(base, "base")
        self.u = as_float32(u, "u")
        self.v = as_float32(v, "v")
        self.bias = np.ascontiguousarray(np.asarray(bias, dtype=np.float32))
        out_dim, in_dim = self.base.shape
        if (
            self.u.shape[0] != out_dim
            or self.v.shape[0] != in_dim
            or self.u.shape[1] != self.v.shape[1]
        ):
            raise ValidationError(
                f"low-rank factors {self.u.shape} and {self.v.shape} do not fit base {self.base.shape}"
            )
        self._map = AffineMap(self.base + self.u @ self.v.T, self.bias)

    @property
    def rank(self) -> int:
        """Rank of the correction."""
        return int(self.u.shape[1])

    def transform(self, x: FloatArray) -> FloatArray:
        return self._map.apply(as_float32(x, "input"))

    def affine(self) -> AffineMap:
        return self._map

    def config_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "rank": self.rank,
        }

    def tensors(self) -> dict[str, FloatArray]:
        return {"base": self.base, "u": self.u, "v": self.v, "bias": self.bias}

    @classmethod
    def from_parts(cls, config: dict[str, Any], tensors: dict[str, FloatArray]) -> LowRankAdapter:
        check_parts(cls, config, tensors, {"base", "u", "v", "bias"})
        adapter = cls(tensors["base"], tensors["u"], tensors["v"], tensors["bias"])
        check_shapes(adapter, config)
        if config.get("rank") != adapter.rank:
            raise ValidationError(
                f"lowrank adapter: config rank {config.get('rank')}, tensors {adapter.rank}"
            )
        return adapter

    @classmethod
    def build_module(cls, init: AffineMap, config: FamilyConfig) -> torch.nn.Module:
        from .torch_modules import LowRankModule

        rank = config.rank if isinstance(config, LowRankConfig) else LowRankConfig().rank
        return LowRankModule(init, rank)

    @classmethod
    def module_weight(cls, module: torch.nn.Module) -> torch.Tensor | None:
        from .torch_modules import LowRankModule, expect

        return expect(module, LowRankModule).effective_weight()

    @classmethod
    def from_module(
        cls, module: torch.nn.Module, config: FamilyConfig, **extra: Any
    ) -> LowRankAdapter:
        from .torch_modules import LowRankModule, expect, to_numpy

        m = expect(module, LowRankModule)
        return cls(to_numpy(m.base), to_numpy(m.u), to_numpy(m.v), to_numpy(m.bias))
