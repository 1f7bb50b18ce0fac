"""Synthetic paired embeddings with a planted map: known answers for tests and benchmarks.

Example:
    >>> data = planted_pairs(1000, 8, 6, kind="rotation", noise=0.0, seed=0)
    >>> data.pairs.source.shape, data.pairs.target.shape
    ((1000, 8), (1000, 6))
    >>> import numpy as np
    >>> bool(np.allclose(data.pairs.source @ data.weight.T + data.bias, data.pairs.target, atol=1e-5))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ValidationError
from .pairs import PairedEmbeddings

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

KINDS = ("rotation", "affine")


@dataclass(frozen=True)
class PlantedPairs:
    """Pairs ``target = source @ weight.T + bias + noise`` and the planted ``(weight, bias)``."""

    pairs: PairedEmbeddings
    weight: FloatArray
    bias: FloatArray


def semi_orthogonal(out_dim: int, in_dim: int, rng: np.random.Generator) -> FloatArray:
    """A random ``(out, in)`` matrix with orthonormal rows or columns."""
    q, _ = np.linalg.qr(rng.standard_normal((max(out_dim, in_dim), min(out_dim, in_dim))))
    w = q if out_dim >= in_dim else q.T
    return np.ascontiguousarray(w, dtype=np.float32)


def planted_pairs(
    n: int,
    in_dim: int,
    out_dim: int,
    *,
    kind: str = "rotation",
    noise: float = 0.05,
    n_classes: int = 0,
    spectrum: str = "decaying",
    seed: int = 0,
) -> PlantedPairs:
    """``n`` pairs whose target is a planted map of the source plus Gaussian noise.

    Sources are unit vectors with a decaying spectrum like sentence
    embeddings (``spectrum="flat"``: isotropic), optionally drawn around ``n_classes`` class centres (then
    the pairs carry labels ``c0``, ``c1``, …).  ``kind="rotation"`` plants a
    semi-orthogonal map with no bias; ``kind="affine"`` a general linear map
    (singular values between 0.5 and 2) plus a bias.  ``noise`` is the
    standard deviation per target coordinate, relative to ``1/√out_dim``.
    """
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if spectrum not in ("decaying", "flat"):
        raise ValidationError(f"spectrum must be 'decaying' or 'flat', got {spectrum!r}")
    rng = np.random.default_rng(seed)
    scales = 1.0 / np.sqrt(np.arange(1, in_dim + 1)) if spectrum == "decaying" else np.ones(in_dim)
    x = rng.standard_normal((n, in_dim)) * scales
    labels = None
    if n_classes:
        centres = rng.standard_normal((n_classes, in_dim)) * scales * 2.0
        codes = rng.integers(0, n_classes, n)
        x = x + centres[codes]
        labels = [f"c{c}" for c in codes]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    if kind == "rotation":
        w = semi_orthogonal(out_dim, in_dim, rng).astype(np.float64)
        b = np.zeros(out_dim)
    else:
        u = semi_orthogonal(out_dim, min(out_dim, in_dim), rng)
        v = semi_orthogonal(min(out_dim, in_dim), in_dim, rng)
        s = rng.uniform(0.5, 2.0, min(out_dim, in_dim))
        w = (u * s) @ v
        b = rng.standard_normal(out_dim) * 0.1 / np.sqrt(out_dim)
    y = x @ w.T + b + rng.standard_normal((n, out_dim)) * noise / np.sqrt(out_dim)
    pairs = PairedEmbeddings(
        ids=[f"item-{i}" for i in range(n)],
        source=x.astype(np.float32),
        target=y.astype(np.float32),
        labels=labels,
    )
    return PlantedPairs(pairs, w.astype(np.float32), b.astype(np.float32))
