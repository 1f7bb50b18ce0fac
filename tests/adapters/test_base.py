from __future__ import annotations

import numpy as np
import pytest
from embedreg.adapters import AffineMap
from embedreg.errors import DimensionMismatch


def test_affine_composition_equals_sequential_application() -> None:
    rng = np.random.default_rng(0)
    a = AffineMap(
        rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    )
    b = AffineMap(
        rng.standard_normal((3, 6)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    )
    x = rng.standard_normal((10, 4)).astype(np.float32)
    np.testing.assert_allclose(a.then(b).apply(x), b.apply(a.apply(x)), rtol=1e-5, atol=1e-5)
    assert (a.then(b).input_dim, a.then(b).output_dim) == (4, 3)


def test_affine_dimension_checks() -> None:
    a = AffineMap(np.eye(3, dtype=np.float32), np.zeros(3, dtype=np.float32))
    with pytest.raises(DimensionMismatch):
        a.apply(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(DimensionMismatch):
        a.then(AffineMap(np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32)))


def test_affine_families_are_asked_of_the_families() -> None:
    from embedreg.adapters import affine_families, families, family_class

    names = affine_families()
    assert names == [f for f in families() if family_class(f).affine_maps]
    assert {"identity", "procrustes", "affine", "lambda-orth", "lowrank"} <= set(names)
    assert "mlp" in families() and "mlp" not in names  # a residual MLP is not one matrix
