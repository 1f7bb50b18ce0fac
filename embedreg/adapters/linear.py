"""Shared parts of the affine families: storage of ``(W, b)`` and the closed forms.

Every affine family (identity, Procrustes, ridge, λ-orthogonal, low-rank)
stores a weight ``W`` of shape ``(output_dim, input_dim)`` and a bias ``b``
and applies ``y = x @ W.T + b``.  The closed forms here accumulate the
moments of the paired data in float32 chunks on the chosen device (so a
million rows stream through a GPU or the CPU without a second copy) and
solve the small systems in float64.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 3)).astype(np.float32)
    >>> R = np.linalg.qr(rng.standard_normal((3, 3)))[0].astype(np.float32)
    >>> W = procrustes_weight(x, x @ R.T)
    >>> bool(np.allclose(W, R, atol=1e-4))
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import DimensionMismatch, ValidationError
from .base import Adapter, AffineMap
from .config import FamilyConfig

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: Rows per chunk when accumulating moments.
CHUNK_ROWS = 65536


def as_float32(x: Any, name: str = "array") -> FloatArray:
    """``x`` as a C-contiguous float32 2-D array (copied only when needed)."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D array, got shape {arr.shape}")
    return arr


def defect(weight: Any) -> float:
    """Orthogonality defect ``D(W) = ‖G − I‖_F`` with ``G`` the smaller Gram matrix.

    ``G = W Wᵀ`` when ``W`` has no more rows than columns (a map that reduces
    or keeps the dimension), else ``Wᵀ W``: so ``D`` is zero exactly for a
    semi-orthogonal ``W`` (orthonormal rows or columns), and
    ``D = sqrt(Σ (σᵢ² − 1)²)`` over its singular values.  ``W`` is any 2-D
    array (numpy, or a list of rows; torch tensors on the CPU too).

    Raises:
        ValidationError: ``W`` is not a 2-D array of finite numbers.

    Example:
        >>> defect([[1.0, 0.0], [0.0, 1.0]]), defect([[2.0, 0.0], [0.0, 1.0]])
        (0.0, 3.0)
        >>> defect([[0.6, 0.8, 0.0]])   # one orthonormal row: semi-orthogonal
        0.0
    """
    try:
        w = np.asarray(weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            f"defect() takes a 2-D array of numbers, got a {type(weight).__name__}"
        ) from None
    if w.ndim != 2 or 0 in w.shape:
        raise ValidationError(f"defect() takes a 2-D weight (out, in), got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValidationError("defect() takes finite weights; this one holds NaN or Inf")
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    return round(float(np.linalg.norm(gram - np.eye(gram.shape[0]))), 12)


def gram_size(input_dim: int, output_dim: int) -> int:
    """Size ``m = min(input_dim, output_dim)`` of the Gram matrix that :func:`defect` uses."""
    return min(input_dim, output_dim)


@dataclass(frozen=True)
class Moments:
    """First and second moments of paired rows ``(x, y)`` (float64)."""

    count: int
    sum_x: npt.NDArray[np.float64]
    sum_y: npt.NDArray[np.float64]
    xx: npt.NDArray[np.float64]
    xy: npt.NDArray[np.float64]

    @property
    def mean_x(self) -> npt.NDArray[np.float64]:
        """Mean of ``x``."""
        return self.sum_x / self.count

    @property
    def mean_y(self) -> npt.NDArray[np.float64]:
        """Mean of ``y``."""
        return self.sum_y / self.count


def moments(source: Any, target: Any, device: str = "cpu", rows: Any = None) -> Moments:
    """Accumulate ``Σx``, ``Σy``, ``XᵀX`` and ``XᵀY`` in chunks on ``device``.

    ``source`` and ``target`` are float32 numpy arrays or torch tensors
    (tensors already on ``device`` are used where they are); ``rows``
    (indices) restricts the sums to those rows without copying the rest.
    """
    import torch

    if source.shape[0] != target.shape[0]:
        raise DimensionMismatch(source.shape[0], target.shape[0], "paired row counts")
    n = source.shape[0] if rows is None else len(rows)
    d_in, d_out = source.shape[1], target.shape[1]
    dev = torch.device(device)
    # float32 products on the device, float64 sums on the host (MPS has no float64)
    xx = np.zeros((d_in, d_in))
    xy = np.zeros((d_in, d_out))
    sx = np.zeros(d_in)
    sy = np.zeros(d_out)
    for start in range(0, n, CHUNK_ROWS):
        take = (
            slice(start, start + CHUNK_ROWS) if rows is None else rows[start : start + CHUNK_ROWS]
        )
        xs = torch.as_tensor(source[take]).to(dev)
        ys = torch.as_tensor(target[take]).to(dev)
        xx += (xs.T @ xs).cpu().double().numpy()
        xy += (xs.T @ ys).cpu().double().numpy()
        sx += xs.sum(0).cpu().double().numpy()
        sy += ys.sum(0).cpu().double().numpy()
    return Moments(n, sx, sy, xx, xy)


def procrustes_from_moments(m: Moments, *, center: bool = False) -> npt.NDArray[np.float64]:
    """Semi-orthogonal ``W`` (out × in) maximising ``tr(W XᵀY)``: ``W = V Uᵀ`` for ``XᵀY = U S Vᵀ``.

    With ``center`` the cross-covariance of the centred rows is used
    (``XᵀY − N μ_x μ_yᵀ``): the rotation of the deviations from each side's
    mean, to be paired with the bias ``μ_y − W μ_x``.
    """
    import torch  # one thread pool: numpy's BLAS threads would fight torch's

    cross = m.xy - m.count * np.outer(m.mean_x, m.mean_y) if center else m.xy
    u, _s, vt = torch.linalg.svd(torch.from_numpy(cross), full_matrices=False)
    out: npt.NDArray[np.float64] = (u @ vt).T.numpy()
    return out


def procrustes_weight(source: FloatArray, target: FloatArray, device: str = "cpu") -> FloatArray:
    """The orthogonal-Procrustes map of ``source`` onto ``target`` (no bias)."""
    return procrustes_from_moments(moments(source, target, device)).astype(np.float32)


def ridge_from_moments(
    m: Moments, ridge: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Ridge regression ``(W, b)`` on centred moments.

    The penalty is ``ridge × mean variance of x × N × ‖W‖²``, so ``ridge`` is
    unit-free: ``1e-2`` means "one percent of a typical input variance".
    """
    mx, my = m.mean_x, m.mean_y
    cxx = m.xx - m.count * np.outer(mx, mx)
    cxy = m.xy - m.count * np.outer(mx, my)
    scale = max(float(np.trace(cxx)) / cxx.shape[0], 1e-12)
    a = cxx + ridge * scale * np.eye(cxx.shape[0])
    import torch  # one thread pool: numpy's BLAS threads would fight torch's

    w = torch.linalg.solve(torch.from_numpy(a), torch.from_numpy(cxy)).numpy().T  # (out, in)
    b = my - w @ mx
    return w, b


class LinearAdapter(Adapter):
    """An adapter ``y = x @ W.T + b`` (the storage every affine family shares).

    ``config`` is the family's :class:`FamilyConfig` (its ``config_class``;
    ``None``: the defaults; keyword ``settings`` instead build it, as a
    plugin family written against the older ``LinearAdapter(w, b,
    **settings)`` does), kept as :attr:`config` after fitting and after
    loading.  A family records it in its file by :meth:`stored_settings` and
    reads it back by :meth:`config_from_stored`.
    """

    numpy_map: ClassVar[str | None] = 'y = x @ t["weight"].T + t["bias"]'
    affine_maps: ClassVar[bool] = True

    def __init__(
        self,
        weight: FloatArray,
        bias: FloatArray,
        config: FamilyConfig | None = None,
        **settings: Any,
    ) -> None:
        w = as_float32(weight, "weight")
        b = np.ascontiguousarray(np.asarray(bias, dtype=np.float32))
        if b.shape != (w.shape[0],):
            raise DimensionMismatch(w.shape[0], int(b.shape[-1]) if b.ndim else 0, "adapter bias")
        self.weight = w
        self.bias = b
        if config is not None and settings:
            raise ValidationError("give a family config or keyword settings, not both")
        self.config: FamilyConfig = self.make_config(config if config is not None else settings)

    @property
    def input_dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def output_dim(self) -> int:
        return int(self.weight.shape[0])

    def transform(self, x: FloatArray) -> FloatArray:
        return self.affine().apply(as_float32(x, "input"))

    def affine(self) -> AffineMap:
        return AffineMap(self.weight, self.bias)

    def config_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **self.stored_settings(),
        }

    @property
    def settings(self) -> dict[str, Any]:
        """The config's settings as the file records them (:meth:`stored_settings`)."""
        return self.stored_settings()

    def stored_settings(self) -> dict[str, Any]:
        """The config as the adapter's file records it (every field, by default)."""
        return self.config.to_dict()

    @classmethod
    def config_from_stored(cls, settings: Mapping[str, Any]) -> FamilyConfig:
        """The config from the settings a file records (the inverse of :meth:`stored_settings`).

        Raises:
            ValidationError: a setting the family does not know, or a bad value.
        """
        return cls.make_config(settings)

    def tensors(self) -> dict[str, FloatArray]:
        return {"weight": self.weight, "bias": self.bias}

    @classmethod
    def from_parts(cls, config: dict[str, Any], tensors: dict[str, FloatArray]) -> LinearAdapter:
        check_parts(cls, config, tensors, {"weight", "bias"})
        settings = {
            k: v for k, v in config.items() if k not in ("family", "input_dim", "output_dim")
        }
        adapter = cls(tensors["weight"], tensors["bias"], cls.config_from_stored(settings))
        check_shapes(adapter, config)
        return adapter

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_dim} → {self.output_dim})"


class BaseShaped:
    """``input_dim`` / ``output_dim`` read from a fixed ``base`` weight of shape ``(out, in)``."""

    base: FloatArray

    @property
    def input_dim(self) -> int:
        """Dimension of the vectors the adapter takes."""
        return int(self.base.shape[1])

    @property
    def output_dim(self) -> int:
        """Dimension of the vectors the adapter returns."""
        return int(self.base.shape[0])


def check_parts(
    cls: type[Adapter], config: dict[str, Any], tensors: dict[str, Any], names: set[str]
) -> None:
    """Refuse a config of another family, or tensors other than ``names``."""
    if config.get("family") != cls.family:
        raise ValidationError(
            f"config is for adapter family {config.get('family')!r}, not {cls.family!r}"
        )
    if set(tensors) != names:
        raise ValidationError(
            f"{cls.family} adapter expects tensors {sorted(names)}, got {sorted(tensors)}"
        )


def check_shapes(adapter: Adapter, config: dict[str, Any]) -> None:
    """Refuse tensors whose shapes contradict the config's dimensions."""
    for key in ("input_dim", "output_dim"):
        if config.get(key) != getattr(adapter, key):
            raise ValidationError(
                f"{adapter.family} adapter: config says {key} {config.get(key)}, "
                f"tensors give {getattr(adapter, key)}"
            )
