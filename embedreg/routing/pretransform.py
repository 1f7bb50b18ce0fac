"""A compiled affine path as a FAISS pre-transform: the index takes the query generation's vectors.

``faiss.IndexPreTransform`` applies a ``LinearTransform`` (the path's
``W``, ``b``) and, when the gallery normalises, a ``NormalizationTransform``
inside FAISS, on FAISS's own threads (bench/RESULTS.md: a numpy product
before the search leaves numpy's BLAS threads spinning against FAISS's).

Example:
    >>> import faiss, numpy as np
    >>> from embedreg.adapters import AffineMap
    >>> index = faiss.IndexFlatIP(2)
    >>> index.add(np.eye(2, dtype=np.float32))
    >>> swap = AffineMap(np.array([[0, 1], [1, 0]], np.float32), np.zeros(2, np.float32))
    >>> wrapped = pretransform(swap, index, renormalize=True)
    >>> int(wrapped.search(np.array([[1.0, 0.0]], np.float32), 1)[1][0, 0])
    1
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

from ..adapters import AffineMap

__all__ = ["FaissIndex", "pretransform"]

#: FAISS index objects (their type stubs are partial, so embedreg treats them as Any).
FaissIndex: TypeAlias = Any


def pretransform(affine: AffineMap, index: FaissIndex, *, renormalize: bool) -> FaissIndex:
    """``index`` wrapped so that it maps each query through ``affine`` first (then L2-normalises)."""
    import faiss

    lt = faiss.LinearTransform(affine.input_dim, affine.output_dim, True)
    faiss.copy_array_to_vector(np.ascontiguousarray(affine.W, dtype=np.float32).ravel(), lt.A)
    faiss.copy_array_to_vector(np.ascontiguousarray(affine.b, dtype=np.float32), lt.b)
    lt.is_trained = True
    wrapped = faiss.IndexPreTransform(index)
    if renormalize:
        wrapped.prepend_transform(faiss.NormalizationTransform(affine.output_dim, 2.0))
    wrapped.prepend_transform(lt)
    return wrapped
