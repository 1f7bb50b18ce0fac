"""Residual MLP (Drift-Adapter's variant): ``B(h) = R h + b + W₂ GELU(W₁ h + b₁)``.

``R`` is the Procrustes map (fixed skip connection), the MLP has
``-o hidden=H`` units (default 256) and starts at zero, so training
starts from Procrustes.  Not affine: a path through it cannot be compiled
into one matrix, and it reports no orthogonality defect.

Example:
    >>> import numpy as np
    >>> a = ResidualMLPAdapter(np.eye(2, dtype=np.float32), np.zeros(2, np.float32),
    ...                        np.ones((3, 2), np.float32), np.zeros(3, np.float32),
    ...                        np.zeros((2, 3), np.float32))
    >>> a.transform(np.array([[1.0, -1.0]], np.float32)).tolist()
    [[1.0, -1.0]]
    >>> a.affine() is None
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DimensionMismatch, ValidationError
from .base import AffineMap
from .config import FamilyConfig, check_positive_int
from .linear import BaseShaped, as_float32, check_parts, check_shapes
from .trainable import GradientConfig, TrainableAdapter

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    FloatArray = npt.NDArray[np.float32]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

#: The activation, as torch names it: ``gelu(x, approximate="tanh")``.
ACTIVATION = "gelu-tanh"


def gelu_tanh(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """GELU, tanh form (torch's ``approximate="tanh"``), in numpy."""
    inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
    out: npt.NDArray[np.float32] = (0.5 * x * (1.0 + np.tanh(inner))).astype(np.float32)
    return out


@dataclass(frozen=True)
class MLPConfig(GradientConfig):
    """Options of the ``mlp`` family."""

    hidden: int = field(default=256, metadata={"help": "hidden units of the residual MLP"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("hidden", self.hidden)


class ResidualMLPAdapter(BaseShaped, TrainableAdapter):
    """``B(h) = R h + b + W₂ GELU(W₁ h + b₁)``: Procrustes skip plus a small MLP (not affine)."""

    family = "mlp"
    order = 50
    numpy_map = (
        'h = x @ t["up_weight"].T + t["up_bias"]\n'
        "h = 0.5 * h * (1 + np.tanh(0.7978845608028654 * (h + 0.044715 * h**3)))   # GELU (tanh)\n"
        'y = x @ t["base"].T + t["bias"] + h @ t["down_weight"].T'
    )
    config_class = MLPConfig

    @classmethod
    def auto_candidates(
        cls, *, n_train: int, input_dim: int, output_dim: int, labels: bool
    ) -> list[dict[str, Any]]:
        return [{}]

    def __init__(
        self,
        base: FloatArray,
        bias: FloatArray,
        up_weight: FloatArray,
        up_bias: FloatArray,
        down_weight: FloatArray,
    ) -> None:
        self.base = as_float32(base, "base")
        self.bias = np.ascontiguousarray(np.asarray(bias, dtype=np.float32))
        self.up_weight = as_float32(up_weight, "up_weight")
        self.up_bias = np.ascontiguousarray(np.asarray(up_bias, dtype=np.float32))
        self.down_weight = as_float32(down_weight, "down_weight")
        out_dim, in_dim = self.base.shape
        hidden = self.up_weight.shape[0]
        if (
            self.up_weight.shape != (hidden, in_dim)
            or self.down_weight.shape != (out_dim, hidden)
            or self.bias.shape != (out_dim,)
            or self.up_bias.shape != (hidden,)
        ):
            raise ValidationError("residual MLP tensors have inconsistent shapes")

    @property
    def hidden(self) -> int:
        """Hidden units of the MLP."""
        return int(self.up_weight.shape[0])

    def transform(self, x: FloatArray) -> FloatArray:
        arr = as_float32(x, "input")
        if arr.shape[1] != self.input_dim:
            raise DimensionMismatch(self.input_dim, arr.shape[1], "mlp adapter input")
        hidden = gelu_tanh(arr @ self.up_weight.T + self.up_bias)
        out: FloatArray = arr @ self.base.T + self.bias + hidden @ self.down_weight.T
        return out

    def defect_weight(self) -> FloatArray | None:
        return None

    def config_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "hidden": self.hidden,
            "activation": ACTIVATION,
        }

    def tensors(self) -> dict[str, FloatArray]:
        return {
            "base": self.base,
            "bias": self.bias,
            "up_weight": self.up_weight,
            "up_bias": self.up_bias,
            "down_weight": self.down_weight,
        }

    @classmethod
    def from_parts(
        cls, config: dict[str, Any], tensors: dict[str, FloatArray]
    ) -> ResidualMLPAdapter:
        check_parts(cls, config, tensors, {"base", "bias", "up_weight", "up_bias", "down_weight"})
        adapter = cls(**tensors)
        check_shapes(adapter, config)
        if config.get("hidden") != adapter.hidden or config.get("activation") != ACTIVATION:
            raise ValidationError(
                "mlp adapter: config hidden size or activation contradicts its tensors"
            )
        return adapter

    @classmethod
    def build_module(cls, init: AffineMap, config: FamilyConfig) -> torch.nn.Module:
        from .torch_modules import ResidualMLPModule

        hidden = config.hidden if isinstance(config, MLPConfig) else MLPConfig().hidden
        return ResidualMLPModule(init, hidden)

    @classmethod
    def from_module(
        cls, module: torch.nn.Module, config: FamilyConfig, **extra: Any
    ) -> ResidualMLPAdapter:
        from .torch_modules import ResidualMLPModule, expect, to_numpy

        m = expect(module, ResidualMLPModule)
        return cls(
            to_numpy(m.base),
            to_numpy(m.bias),
            to_numpy(m.up.weight),
            to_numpy(m.up.bias),
            to_numpy(m.down.weight),
        )
