"""What an upgrade costs: measured rates on this machine, and disk and memory sizes.

Rates are measured, never assumed: the target generation encodes a sample of
the gallery's own items on the chosen device (model loading timed apart), a
forward path maps a block of the gallery's vectors, FAISS adds a block to a
fresh index, and a query path maps single queries one at a time (the
microseconds it adds per query).  Sizes follow from the index kind, the
dimension and the item count (FAISS's own layouts; estimates within a few
per cent for flat indexes, rougher for HNSW graphs).

Example:
    >>> from embedreg.gallery import IndexSpec
    >>> index_bytes(IndexSpec("flat"), 384, 1000)
    1544000
    >>> human_bytes(1544000), human_seconds(4000)
    ('1.5 MB', '67 min')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..gallery import IndexSpec
from ..gallery.index import new_index
from ..models import Encoder
from ..registry import Generation, LocalSource
from ..routing import QueryPath
from ..util.hashing import weight_files

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "EncodeRate",
    "adapter_bytes",
    "human_bytes",
    "human_seconds",
    "index_bytes",
    "measure_add",
    "measure_encoding",
    "measure_map",
    "measure_query_overhead",
    "model_bytes",
]


@dataclass(frozen=True)
class EncodeRate:
    """A generation's measured encoding rate on a sample of the gallery's items."""

    items_per_second: float
    sample: int
    load_seconds: float
    device: str
    vectors: Any  # the sample's vectors (reused to measure the query path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "items_per_second": round(self.items_per_second, 2),
            "sample": self.sample,
            "load_seconds": round(self.load_seconds, 2),
            "device": self.device,
        }


def measure_encoding(
    generation: Generation, texts: Sequence[str], *, device: str = "auto", batch_size: int = 32
) -> EncodeRate:
    """Load ``generation`` and time it encoding ``texts`` (documents role)."""
    started = time.perf_counter()
    encoder = Encoder(generation, device=device, batch_size=batch_size)
    loaded = time.perf_counter()
    vectors = encoder.encode(list(texts), role="document")
    seconds = time.perf_counter() - loaded
    rate = len(texts) / seconds if seconds > 0 else float("inf")
    return EncodeRate(rate, len(texts), loaded - started, encoder.device, vectors)


def _timed(fn: Callable[[], object], at_least: float = 0.05) -> float:
    """Seconds per call of ``fn``, repeated until ``at_least`` seconds passed."""
    fn()  # warm up (loads adapters, allocates)
    calls, started = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= at_least:
            return elapsed / calls


def measure_map(path: QueryPath, vectors: FloatArray) -> float:
    """Vectors per second that ``path`` maps, in blocks like ``vectors``."""
    per_call = _timed(lambda: path.apply(vectors))
    return len(vectors) / per_call if per_call > 0 else float("inf")


def measure_add(spec: IndexSpec, metric: str, vectors: FloatArray) -> float:
    """Vectors per second a fresh index of ``spec`` takes in (flat and HNSW; IVF is trained)."""
    import numpy as np

    if spec.kind == "ivfpq":
        spec = IndexSpec("flat")  # training needs far more vectors than a sample; adding is cheap
    ids = np.arange(len(vectors), dtype=np.int64)

    def add() -> None:
        new_index(spec, vectors.shape[1], metric).add_with_ids(vectors, ids)

    per_call = _timed(add)
    return len(vectors) / per_call if per_call > 0 else float("inf")


def measure_query_overhead(path: QueryPath, queries: FloatArray) -> float:
    """Microseconds ``path`` adds to one query (single queries, mapped one at a time)."""
    rows = [queries[i : i + 1] for i in range(min(len(queries), 64))]

    def one_by_one() -> None:
        for row in rows:
            path.apply(row)

    return 1e6 * _timed(one_by_one) / len(rows)


def index_bytes(spec: IndexSpec, dimension: int, count: int) -> int:
    """Bytes a segment's index file takes for ``count`` vectors (FAISS's layouts)."""
    if spec.kind == "flat":
        per = 4 * dimension + 8  # the vector and its id (IndexIDMap2)
    elif spec.kind == "hnsw":
        per = 4 * dimension + 8 + 4 * 2 * spec.hnsw_m + 8  # level-0 links, levels, id
    else:
        per = spec.pq_m * spec.pq_bits // 8 + 8 + 16  # code, id, direct map
    fixed = 0 if spec.kind != "ivfpq" else 4 * dimension * (spec.nlist + 2**spec.pq_bits)
    return per * count + fixed


def model_bytes(generation: Generation) -> int | None:
    """Bytes of the generation's weight files (``None`` when not on local disk)."""
    source = generation.source
    if not isinstance(source, LocalSource):
        return None
    try:
        return sum(p.stat().st_size for p in weight_files(source.path))
    except OSError:
        return None


def adapter_bytes(path: QueryPath) -> int:
    """Bytes of a path's compiled maps in memory (float32 weights)."""
    total = 0
    for hop in path.hops:
        if not hop.is_identity:
            total += 4 * ((path.input_dim or 0) * (path.output_dim or 0) + (path.output_dim or 0))
    return total


def human_bytes(n: float | None) -> str:
    """``1.5 MB`` (decimal units)."""
    if n is None:
        return "unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(s: float | None) -> str:
    """``45 s``, ``12 min``, ``1.1 h``, ``3.0 d``."""
    if s is None:
        return "unknown"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"
