"""A path's adapters compiled into stages, and applied to numpy arrays or torch tensors.

Consecutive affine hops merge into one affine map (``W = W_m … W_1``, the
bias accumulated), so a path of any length through affine adapters costs one
matrix multiply per query; a non-affine hop (the MLP family) stays a stage of
its own.  :class:`NumpyMap` and :class:`TorchMap` apply the stages, each
keeping the arrays it needs ready (a contiguous ``Wᵀ`` for numpy; tensors on
the query's device and dtype for torch), and L2-normalise the result when the
gallery's recipe normalises.

Example:
    >>> import numpy as np
    >>> from embedreg.adapters import AffineMap
    >>> double = AffineMap(2 * np.eye(2, dtype=np.float32), np.zeros(2, np.float32))
    >>> shift = AffineMap(np.eye(2, dtype=np.float32), np.ones(2, np.float32))
    >>> (stage,) = merge_stages([double, shift])
    >>> NumpyMap([stage], renormalize=False)(np.ones((1, 2), np.float32)).tolist()
    [[3.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np

from ..adapters import Adapter, AffineMap

__all__ = ["NumpyMap", "Stage", "TorchMap", "merge_stages"]

#: One step of a compiled path: a merged affine map, or a non-affine adapter.
Stage: TypeAlias = AffineMap | Adapter


def merge_stages(parts: Sequence[Adapter | AffineMap]) -> list[Stage]:
    """Adapters (or affine maps) in path order, with runs of affine ones merged into one map."""
    stages: list[Stage] = []
    for part in parts:
        affine = part if isinstance(part, AffineMap) else part.affine()
        if affine is not None and stages and isinstance(stages[-1], AffineMap):
            stages[-1] = stages[-1].then(affine)
        else:
            stages.append(affine if affine is not None else part)
    return stages


class NumpyMap:
    """Apply stages to float32 ``(N, d)`` numpy arrays (the caller's array is never changed)."""

    def __init__(self, stages: Sequence[Stage], *, renormalize: bool) -> None:
        self._plan: list[tuple[Any, Any, Adapter | None]] = [
            (np.ascontiguousarray(s.W.T, dtype=np.float32), np.asarray(s.b, np.float32), None)
            if isinstance(s, AffineMap)
            else (None, None, s)
            for s in stages
        ]
        self._renormalize = renormalize and bool(self._plan)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x
        for weight_t, bias, adapter in self._plan:
            if adapter is None:
                out = out @ weight_t  # a fresh array
                out += bias
            else:
                out = np.asarray(adapter.transform(out), dtype=np.float32)
        if not self._plan:
            return out
        if self._renormalize:
            norms = np.sqrt(np.einsum("ij,ij->i", out, out))
            np.maximum(norms, 1e-12, out=norms)
            out /= norms[:, None]
        return np.ascontiguousarray(out)


class TorchMap:
    """Apply stages to torch tensors, on the tensor's own device and dtype."""

    def __init__(self, stages: Sequence[Stage], *, renormalize: bool) -> None:
        self._stages = list(stages)
        self._renormalize = renormalize and bool(self._stages)
        self._cache: dict[tuple[Any, Any], list[tuple[Any, Any]]] = {}

    def _tensors(self, x: Any) -> list[tuple[Any, Any]]:
        import torch

        key = (x.device, x.dtype)
        if key not in self._cache:
            self._cache[key] = [
                (
                    torch.as_tensor(s.W, device=x.device, dtype=x.dtype),
                    torch.as_tensor(s.b, device=x.device, dtype=x.dtype),
                )
                if isinstance(s, AffineMap)
                else (None, None)
                for s in self._stages
            ]
        return self._cache[key]

    def __call__(self, x: Any) -> Any:
        import torch

        out = x
        for stage, (w, b) in zip(self._stages, self._tensors(x), strict=True):
            if w is not None:
                out = torch.addmm(b, out, w.T)
            else:
                assert isinstance(stage, Adapter)
                mapped = stage.transform(out.detach().float().cpu().numpy())
                out = torch.as_tensor(mapped, device=x.device, dtype=x.dtype)
        if self._renormalize:
            out = torch.nn.functional.normalize(out, dim=-1)
        return out
