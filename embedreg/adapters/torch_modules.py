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
        #: the weight and its defect when ``D`` was last computed (:func:`penalty_vanishes`)
        self.defect_anchor: tuple[torch.Tensor, float] | None = None

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


class _Defect(torch.autograd.Function):
    """``D(W) = ‖WWᵀ − I‖_F`` (``W`` the wide side) with its gradient in closed form.

    ``∂D/∂W = 2 (WWᵀ − I) W / D``: one more matrix product in the backward
    pass, where autograd through ``W @ W.T`` takes two (λ-orth's penalty is
    most of a step's arithmetic on a CPU; bench/RESULTS.md, stop 31).
    """

    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor) -> torch.Tensor:
        tall = weight.shape[0] > weight.shape[1]
        wide = weight.T if tall else weight
        gram = wide @ wide.T
        gram.diagonal().sub_(1.0)
        d = torch.sqrt((gram * gram).sum() + 1e-12)
        ctx.save_for_backward(wide, gram, d)
        ctx.tall = tall
        return d

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        wide, gram, d = ctx.saved_tensors
        g: torch.Tensor = (gram @ wide) * (2.0 * grad / d)
        return g.T if ctx.tall else g


def defect_torch(weight: torch.Tensor) -> torch.Tensor:
    """Differentiable ``D(W) = ‖G − I‖_F`` on the smaller Gram matrix (ε keeps it smooth at 0).

    Example:
        >>> w = torch.eye(3, dtype=torch.float64)
        >>> round(float(defect_torch(2 * w)), 6)  # ‖4I − I‖_F = 3√3
        5.196152
        >>> torch.autograd.gradcheck(defect_torch, (torch.randn(3, 5, dtype=torch.float64, requires_grad=True),))
        True
    """
    out: torch.Tensor = _Defect.apply(weight)  # type: ignore[no-untyped-call]
    return out


def lambda_penalty(
    weight: torch.Tensor, lam: float, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_λ = sigmoid(α (D − λ)) · D`` and ``D`` itself."""
    d = defect_torch(weight)
    return torch.sigmoid(alpha * (d - lam)) * d, d


#: ``sigmoid(z)`` is exactly 0 in float32, float16 and bfloat16 below this
#: (``exp(−z)`` overflows already below −89; e^−110 is also far under the
#: smallest subnormal, whichever way a kernel computes it).
GATE_ZERO = -110.0


def penalty_vanishes(module: AffineModule, lam: float, alpha: float) -> bool:
    """Whether ``L_λ`` and its gradient are exactly zero now, proved without computing ``D``.

    ``D`` costs a Gram matrix (``O(m²n)``, most of a λ-orth step on a CPU),
    but while ``W`` is far inside the band the gate ``sigmoid(α(D − λ))`` is
    exactly 0.0 in float32, so the term and its gradient are exactly zero
    and leaving them out changes no bit of the training.  From the last
    exact ``D₀`` at ``W₀`` (``module.defect_anchor``), with ``Δ = W − W₀``::

        D(W) ≤ D₀ + 2·‖W₀‖₂·‖Δ‖_F + ‖Δ‖_F²,   ‖W₀‖₂ ≤ √(1 + D₀)

    (``WWᵀ − I = (W₀W₀ᵀ − I) + W₀Δᵀ + ΔW₀ᵀ + ΔΔᵀ``), an ``O(mn)`` bound.  When
    it cannot prove ``α(D − λ) < GATE_ZERO`` (with a margin for rounding)
    the caller computes the penalty and :func:`anchor_defect` records it.

    Example:
        >>> m = AffineModule(AffineMap(np.eye(3, dtype=np.float32), np.zeros(3, np.float32)))
        >>> penalty_vanishes(m, 7.0, 30.0)  # no exact D yet
        False
        >>> anchor_defect(m, torch.tensor(0.0)); penalty_vanishes(m, 7.0, 30.0)
        True
    """
    weight = module.weight
    if module.defect_anchor is None or weight.dtype not in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
    ):
        return False
    w0, d0 = module.defect_anchor
    with torch.no_grad():
        step = float(torch.linalg.vector_norm(weight - w0))
    bound = d0 + 2.0 * math.sqrt(1.0 + d0) * step + step * step
    bound += 1e-3 * (1.0 + bound)  # float32 rounding of D₀ and of the bound
    return alpha * (bound - lam) < GATE_ZERO


def anchor_defect(module: AffineModule, d: torch.Tensor) -> None:
    """Record ``D`` just computed at the module's current weight (see :func:`penalty_vanishes`)."""
    module.defect_anchor = (module.weight.detach().clone(), float(d.detach()))


def expect(module: nn.Module, cls: type[M]) -> M:
    """``module`` as a ``cls`` (a family handed a module it did not build is a bug)."""
    if not isinstance(module, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(module).__name__}")
    return module


def to_numpy(t: torch.Tensor) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A float32 numpy copy of a tensor on any device."""
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())
