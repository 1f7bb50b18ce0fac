"""Torch modules behind the gradient families (imported only when training: torch is heavy)."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from .base import AffineMap

M = TypeVar("M", bound=nn.Module)


def _param(a: np.ndarray[Any, Any]) -> nn.Parameter:
    return nn.Parameter(torch.from_numpy(np.array(a, dtype=np.float32, copy=True)))


class AffineModule(nn.Module):
    """``y = x Wᵀ + b`` with both trainable."""

    def __init__(self, init: AffineMap) -> None:
        super().__init__()
        self.weight = _param(init.W)
        self.bias = _param(init.b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight, self.bias)


class LowRankModule(nn.Module):
    """``y = x (R + U Vᵀ)ᵀ + b``: a fixed Procrustes ``R`` plus a trainable rank-r correction."""

    base: torch.Tensor
    bias: nn.Parameter
    u: nn.Parameter
    v: nn.Parameter

    def __init__(self, init: AffineMap, rank: int) -> None:
        super().__init__()
        out_dim, in_dim = init.W.shape
        self.register_buffer("base", torch.from_numpy(np.array(init.W, dtype=np.float32)))
        self.bias = _param(init.b)
        self.u = nn.Parameter(torch.zeros(out_dim, rank))
        self.v = nn.Parameter(torch.randn(in_dim, rank) / math.sqrt(in_dim))

    def effective_weight(self) -> torch.Tensor:
        return self.base + self.u @ self.v.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.base, self.bias) + (x @ self.v) @ self.u.T


class ResidualMLPModule(nn.Module):
    """``y = x Rᵀ + b + W₂ GELU(W₁ x + b₁)``: a fixed Procrustes skip plus a small MLP.

    ``W₂`` starts at zero, so the module starts exactly at the Procrustes map.
    """

    base: torch.Tensor

    def __init__(self, init: AffineMap, hidden: int) -> None:
        super().__init__()
        out_dim, in_dim = init.W.shape
        self.register_buffer("base", torch.from_numpy(np.array(init.W, dtype=np.float32)))
        self.bias = _param(init.b)
        self.up = nn.Linear(in_dim, hidden)
        self.down = nn.Linear(hidden, out_dim, bias=False)
        nn.init.zeros_(self.down.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = torch.nn.functional.linear(x, self.base, self.bias)
        out: torch.Tensor = skip + self.down(
            torch.nn.functional.gelu(self.up(x), approximate="tanh")
        )
        return out


def defect_torch(weight: torch.Tensor) -> torch.Tensor:
    """Differentiable ``D(W) = ‖G − I‖_F`` on the smaller Gram matrix (ε keeps it smooth at 0)."""
    gram = weight @ weight.T if weight.shape[0] <= weight.shape[1] else weight.T @ weight
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.sqrt(((gram - eye) ** 2).sum() + 1e-12)


def lambda_penalty(
    weight: torch.Tensor, lam: float, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_λ = sigmoid(α (D − λ)) · D`` and ``D`` itself."""
    d = defect_torch(weight)
    return torch.sigmoid(alpha * (d - lam)) * d, d


def expect(module: nn.Module, cls: type[M]) -> M:
    """``module`` as a ``cls`` (a family handed a module it did not build is a bug)."""
    if not isinstance(module, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(module).__name__}")
    return module


def to_numpy(t: torch.Tensor) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A float32 numpy copy of a tensor on any device."""
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())
