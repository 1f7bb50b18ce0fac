"""Which FAISS index a gallery segment uses, and the FAISS calls that build and change it.

Example:
    >>> spec = IndexSpec("hnsw", hnsw_m=16)
    >>> IndexSpec.from_dict(spec.to_dict()) == spec
    True
    >>> new_index(spec, 8, "ip").d
    8
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DimensionMismatch, DuplicateName, GalleryError, ValidationError
from ..routing import FaissIndex
from ..util.fields import check_fields

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "INDEX_KINDS",
    "METRICS",
    "IndexSpec",
    "as_matrix",
    "check_items",
    "is_ivf",
    "new_index",
    "read_index",
    "rebuilt_without",
    "remove_ids",
    "train_ivf",
    "without_ids",
]

METRICS: tuple[str, ...] = ("ip", "l2")
INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "ivfpq")


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index a segment uses.

    Attributes:
        kind: ``flat`` (exact; the default), ``hnsw`` (graph, approximate,
            fast on large galleries) or ``ivfpq`` (inverted lists with product
            quantisation: compact, approximate, needs training data).
        hnsw_m: HNSW neighbours per node.
        ef_search: HNSW search breadth (higher: better recall, slower).
        nlist: IVF cells (training needs at least ``39 x nlist`` vectors).
        pq_m: PQ sub-quantisers (must divide the dimension).
        pq_bits: bits per PQ code.
        nprobe: IVF cells visited per query.
    """

    kind: str = "flat"
    hnsw_m: int = 32
    ef_search: int = 64
    nlist: int = 256
    pq_m: int = 16
    pq_bits: int = 8
    nprobe: int = 16

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ValidationError(
                f"index kind must be one of {', '.join(INDEX_KINDS)}, got {self.kind!r}"
            )
        for name in ("hnsw_m", "ef_search", "nlist", "pq_m", "pq_bits", "nprobe"):
            if getattr(self, name) < 1:
                raise ValidationError(f"index option {name} must be positive")

    @property
    def training_size(self) -> int:
        """Vectors an ``ivfpq`` index needs in its first batch to train (0 for the others)."""
        return 39 * max(self.nlist, 2**self.pq_bits) if self.kind == "ivfpq" else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "hnsw_m": self.hnsw_m,
            "ef_search": self.ef_search,
            "nlist": self.nlist,
            "pq_m": self.pq_m,
            "pq_bits": self.pq_bits,
            "nprobe": self.nprobe,
        }

    @classmethod
    def from_dict(cls, data: Any) -> IndexSpec:
        """Inverse of :meth:`to_dict`."""
        check_fields("index", data, set(cls().to_dict()), {"kind"})
        return cls(**data)


def as_matrix(x: Any, dim: int, what: str, hint: str | None = None) -> FloatArray:
    """``x`` as a C-contiguous float32 ``(N, dim)`` array, or a clear error."""
    import numpy as np

    out = np.ascontiguousarray(x, dtype=np.float32)
    if out.ndim != 2:
        raise ValidationError(f"{what} must be a 2-D array, got shape {out.shape}")
    if out.shape[1] != dim:
        raise DimensionMismatch(dim, int(out.shape[1]), what, hint)
    return out


def check_items(
    x: FloatArray, ids: Sequence[str], texts: Sequence[str | None] | None, taken: Container[str]
) -> None:
    """Refuse items to add: lengths that disagree, NaN rows, bad, repeated or ``taken`` ids."""
    import numpy as np

    if len(ids) != x.shape[0] or (texts is not None and len(texts) != x.shape[0]):
        raise ValidationError(
            f"{x.shape[0]} vectors but {len(ids)} ids"
            + (f" and {len(texts)} texts" if texts is not None else "")
        )
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValidationError(f"vector of item {ids[bad]!r} holds NaN or infinite values")
    seen: set[str] = set()
    for item_id in ids:
        if not isinstance(item_id, str) or not item_id:
            raise ValidationError(f"item ids must be non-empty strings, got {item_id!r}")
        if item_id in taken or item_id in seen:
            raise DuplicateName("item", item_id, "an item already in the gallery")
        seen.add(item_id)


def new_index(spec: IndexSpec, dim: int, metric: str) -> FaissIndex:
    """An empty index of ``spec`` for ``dim``-d vectors (ids kept by an ``IndexIDMap2``)."""
    import faiss

    m = int(faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)
    base: FaissIndex
    if spec.kind == "flat":
        base = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
        return faiss.IndexIDMap2(base)
    if spec.kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, spec.hnsw_m, m)
        base.hnsw.efSearch = spec.ef_search
        return faiss.IndexIDMap2(base)
    if dim % spec.pq_m:
        raise ValidationError(
            f"ivfpq needs pq_m dividing the dimension {dim}, got pq_m={spec.pq_m}",
            "choose another --pq-m, or the flat or hnsw index",
        )
    quantizer = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, spec.nlist, spec.pq_m, spec.pq_bits, m)
    index.nprobe = spec.nprobe
    return index


def is_ivf(index: FaissIndex) -> bool:
    """True for inverted-file indexes (which train before their first add)."""
    import faiss

    return isinstance(index, faiss.IndexIVF)


def train_ivf(index: FaissIndex, spec: IndexSpec, x: FloatArray) -> None:
    """Train an IVF index on its first batch (which must be large enough)."""
    import faiss

    need = spec.training_size
    if x.shape[0] < need:
        raise ValidationError(
            f"an ivfpq index (nlist={spec.nlist}, {spec.pq_bits}-bit codes) needs at least "
            f"{need} vectors in its first batch to train, got {x.shape[0]}",
            "add more items at once, lower nlist or pq_bits, or use the flat or hnsw index",
        )
    index.train(x)
    # a hash-table direct map allows reconstruct() by id alongside add_with_ids/remove_ids
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]


def remove_ids(index: FaissIndex, fids: Iterable[int]) -> int:
    """Remove FAISS ids from a flat or IVF index; returns how many went."""
    import faiss
    import numpy as np

    wanted = np.asarray(list(fids), dtype=np.int64)
    # IVF's hash-table direct map removes only through an IDSelectorArray
    selector = (
        faiss.IDSelectorArray(wanted.size, faiss.swig_ptr(wanted))
        if is_ivf(index)
        else faiss.IDSelectorBatch(wanted)
    )
    return int(index.remove_ids(selector))


def rebuilt_without(
    old: FaissIndex, spec: IndexSpec, dim: int, metric: str, keep: Iterable[int]
) -> FaissIndex:
    """A new index holding only the ids ``keep`` of ``old`` (HNSW graphs cannot delete)."""
    import numpy as np

    fids = np.asarray(sorted(keep), dtype=np.int64)
    new = new_index(spec, dim, metric)
    if fids.size:
        vectors = np.vstack([old.reconstruct(int(f)) for f in fids]).astype(np.float32)
        new.add_with_ids(vectors, fids)
    return new


def without_ids(
    index: FaissIndex, spec: IndexSpec, metric: str, drop: Sequence[int], ids: Iterable[int]
) -> FaissIndex:
    """``index`` without the FAISS ids ``drop`` (``ids``: all the ids it holds).

    Flat and IVF indexes remove in place; an HNSW graph cannot, so it is
    rebuilt from the vectors it keeps.

    Raises:
        GalleryError: FAISS removed another number of vectors than asked.
    """
    if spec.kind == "hnsw":
        gone = set(drop)
        return rebuilt_without(index, spec, index.d, metric, (f for f in ids if f not in gone))
    removed = remove_ids(index, drop)
    if removed != len(drop):
        raise GalleryError(f"FAISS removed {removed} of {len(drop)} vectors")
    return index


def read_index(path: Path, spec: IndexSpec, dimension: int, count: int) -> FaissIndex:
    """Read a segment's index file, checking it holds ``count`` × ``dimension`` vectors."""
    import faiss

    index: FaissIndex = faiss.read_index(str(path))
    if index.d != dimension or index.ntotal != count:
        raise GalleryError(
            f"index file {path} holds {index.ntotal}x{index.d}, manifest says {count}x{dimension}",
            "restore the gallery from a backup",
        )
    if spec.kind == "hnsw":
        hnsw: FaissIndex = faiss.downcast_index(index.index)
        hnsw.hnsw.efSearch = spec.ef_search
    if is_ivf(index):
        index.nprobe = spec.nprobe
    return index
