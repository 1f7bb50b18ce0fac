"""Galleries: FAISS indexes bound to the generations that embedded them.

A gallery is a folder::

    DIR/gallery.json             the manifest (the commit point, see below)
    DIR/items.<v>.jsonl          one line per item: id, FAISS id, segment, text
    DIR/<segment>.<v>.faiss      one FAISS index per segment

Every item lives in exactly one **segment**, and a segment holds the items
embedded by one generation; a gallery starts with one segment and gains
others when part of it is re-embedded by a newer generation.  The manifest
records, per segment, the generation's name, pin and recipe hash, the
dimension, the count and the sha256 of the index file; and for the gallery,
the metric, the index kind, the item sources (text inline, or a pointer to
the file they came from), a content hash, created and updated times.

**Atomic saves.** Index and item files are written under new version
numbers, and the manifest is replaced (temp file + rename) last: a reader
sees the old gallery or the new one, never a mixture; superseded files are
deleted after the switch.  :meth:`Gallery.edit` holds a lock on the folder
for a whole load-change-save, so concurrent writers lose nothing.

**Bound to generations.** Vectors are added for a named generation and must
have its dimension; adding vectors of a generation that has no segment is
refused unless a segment is created for it explicitly.  Searching routes
each segment through its own :class:`~embedreg.resolver.QueryPath`.

Example:
    >>> import numpy as np
    >>> from embedreg import Generation, HubSource, Recipe
    >>> v2 = Generation("v2", HubSource("org/model", "0" * 40), Recipe(), dimension=4)
    >>> g = Gallery.create(v2, metric="ip")
    >>> g.add(np.eye(4, dtype="float32"), ["a", "b", "c", "d"], generation=v2)
    4
    >>> hits = g.search_vectors(np.eye(4, dtype="float32")[:1], k=2, generation=v2)
    >>> hits.ids[0][0]
    'a'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ._fields import check_fields
from ._time import utc_now
from ._version import __version__
from .atomic import atomic_write_bytes
from .errors import (
    DimensionMismatch,
    DuplicateName,
    EmbedRegError,
    GalleryError,
    GenerationMismatch,
    NotFound,
    ValidationError,
)
from .hashing import file_sha256

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .generation import Generation
    from .registry import Registry
    from .resolver import QueryPath, Resolver

    FloatArray = npt.NDArray[np.float32]

#: FAISS index objects (their type stubs are partial, so embedreg treats them as Any).
FaissIndex: TypeAlias = Any

MANIFEST = "gallery.json"
LOCK = ".gallery.lock"
FORMAT = "embedreg.gallery"
FORMAT_VERSION = 1
METRICS: tuple[str, ...] = ("ip", "l2")
INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "ivfpq")

_FILE_RE = re.compile(r"^(?:items|[a-z0-9][a-z0-9._-]*)\.(\d+)\.(?:jsonl|faiss)$")


# --- configuration -----------------------------------------------------------------


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


@dataclass(frozen=True)
class Segment:
    """The items of a gallery embedded by one generation."""

    generation: str
    pin: str
    recipe_hash: str
    dimension: int
    normalize: bool
    count: int = 0
    index_file: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "generation": self.generation,
            "pin": self.pin,
            "recipe_hash": self.recipe_hash,
            "dimension": self.dimension,
            "normalize": self.normalize,
            "count": self.count,
            "index_file": self.index_file,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Segment:
        """Inverse of :meth:`to_dict`."""
        required = {"generation", "pin", "recipe_hash", "dimension", "normalize"}
        check_fields("segment", data, required | {"count", "index_file", "sha256"}, required)
        return cls(**data)

    def matches(self, generation: Generation) -> bool:
        """True when ``generation`` is the one that embedded this segment (name, pin, recipe)."""
        return (generation.name, generation.pin, generation.recipe.hash) == (
            self.generation,
            self.pin,
            self.recipe_hash,
        )


@dataclass
class Hits:
    """Search results: per query, the ``k`` best item ids with their scores.

    Attributes:
        ids: ``ids[q]`` lists item ids, best first (shorter than ``k`` when the
            gallery holds fewer items).
        scores: ``scores[q]`` the matching scores, higher is better (inner
            product for ``ip``; minus the squared distance for ``l2``).
        segments: ``segments[q]`` the segment (generation) each hit came from.
        paths: the query path used for each segment.
    """

    ids: list[list[str]]
    scores: list[list[float]]
    segments: list[list[str]]
    paths: dict[str, QueryPath] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "results": [
                [
                    {"id": i, "score": s, "segment": g}
                    for i, s, g in zip(ids, scores, segs, strict=False)
                ]
                for ids, scores, segs in zip(self.ids, self.scores, self.segments, strict=False)
            ],
            "paths": {seg: path.to_dict() for seg, path in self.paths.items()},
        }


# --- FAISS helpers ------------------------------------------------------------------


def _matrix(x: Any, dim: int, what: str, hint: str | None = None) -> FloatArray:
    """``x`` as a C-contiguous float32 ``(N, dim)`` array, or a clear error."""
    import numpy as np

    out = np.ascontiguousarray(x, dtype=np.float32)
    if out.ndim != 2:
        raise ValidationError(f"{what} must be a 2-D array, got shape {out.shape}")
    if out.shape[1] != dim:
        raise DimensionMismatch(dim, int(out.shape[1]), what, hint)
    return out


def _faiss_metric(metric: str) -> int:
    import faiss

    return int(faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)


def _new_index(spec: IndexSpec, dim: int, metric: str) -> FaissIndex:
    import faiss

    m = _faiss_metric(metric)
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


def _is_ivf(index: FaissIndex) -> bool:
    import faiss

    return isinstance(index, faiss.IndexIVF)


# --- the gallery --------------------------------------------------------------------


class Gallery:
    """A FAISS-backed gallery whose segments know their generations.

    Create one with :meth:`create` (empty, in memory), :meth:`build` (from
    vectors) or :meth:`load` (from a folder); change it with :meth:`add`,
    :meth:`remove`, :meth:`add_segment`; persist it with :meth:`save`.
    """

    def __init__(
        self,
        *,
        metric: str,
        index: IndexSpec,
        segments: Mapping[str, Segment],
        name: str | None = None,
        created: str | None = None,
        updated: str | None = None,
        sources: Sequence[Mapping[str, Any]] = (),
        path: Path | None = None,
        version: int = 0,
        next_id: int = 0,
    ) -> None:
        if metric not in METRICS:
            raise ValidationError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        self.metric = metric
        self.index_spec = index
        self.name = name
        self.created = created or utc_now()
        self.updated = updated or self.created
        self.sources: list[dict[str, Any]] = [dict(s) for s in sources]
        self.path = path
        self._segments: dict[str, Segment] = dict(segments)
        self._indexes: dict[str, FaissIndex] = {}
        # (segment, path key) → (index, the index wrapped in the path's FAISS pre-transform)
        self._routed: dict[tuple[str, tuple[Any, ...]], tuple[FaissIndex, FaissIndex]] = {}
        self._version = version
        self._next_id = next_id
        # item tables: id → FAISS id; FAISS id → (id, segment, text)
        self._by_id: dict[str, int] = {}
        self._items: dict[int, tuple[str, str, str | None]] = {}
        self._items_sha256: str | None = None
        self._dirty = True

    # --- construction -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        generation: Generation,
        *,
        metric: str = "ip",
        index: IndexSpec | str = "flat",
        name: str | None = None,
    ) -> Gallery:
        """An empty gallery with one segment for ``generation``."""
        spec = IndexSpec(index) if isinstance(index, str) else index
        gallery = cls(metric=metric, index=spec, segments={}, name=name)
        gallery.add_segment(generation)
        return gallery

    def add_segment(self, generation: Generation) -> Segment:
        """Start an empty segment for ``generation`` (a partial upgrade adds one)."""
        if generation.name in self._segments:
            raise DuplicateName("segment", generation.name, "an existing segment of this gallery")
        seg = Segment(
            generation=generation.name,
            pin=generation.pin,
            recipe_hash=generation.recipe.hash,
            dimension=generation.dimension,
            normalize=generation.recipe.normalize,
        )
        self._segments[generation.name] = seg
        self._indexes[generation.name] = _new_index(self.index_spec, seg.dimension, self.metric)
        self._dirty = True
        return seg

    # --- properties ---------------------------------------------------------------

    @property
    def segments(self) -> dict[str, Segment]:
        """Segments by generation name, with live counts."""
        return {name: replace(seg, count=self._count(name)) for name, seg in self._segments.items()}

    @property
    def generations(self) -> list[str]:
        """Names of the generations that embedded the gallery's items."""
        return sorted(self._segments)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def _count(self, segment: str) -> int:
        index = self._indexes.get(segment)
        return int(index.ntotal) if index is not None else self._segments[segment].count

    def item(self, item_id: str) -> dict[str, Any]:
        """An item's record: id, segment, text (``None`` when only a pointer is kept)."""
        fid = self._by_id.get(item_id)
        if fid is None:
            raise NotFound(f"no item {item_id!r} in the gallery", "check the id")
        _, seg, text = self._items[fid]
        return {"id": item_id, "segment": seg, "text": text, "faiss_id": fid}

    def ids(self, segment: str | None = None) -> list[str]:
        """Item ids (of one segment, or all), in the order they were added."""
        return [i for fid, (i, seg, _) in sorted(self._items.items()) if segment in (None, seg)]

    def segment_for(self, generation: Generation) -> Segment:
        """The segment embedded by ``generation``; refuses another generation."""
        seg = self._segments.get(generation.name)
        if seg is None:
            raise GenerationMismatch(
                f"gallery {self.path or self.name or ''}".rstrip(),
                " and ".join(repr(g) for g in self.generations),
                repr(generation.name),
                f"embed with {' or '.join(self.generations)}, or search with a query generation "
                "and let embedreg route it",
            )
        if not seg.matches(generation):
            raise GenerationMismatch(
                f"segment {seg.generation!r} of gallery {self.path or self.name or ''}".rstrip(),
                f"{seg.generation!r} pinned {seg.pin} (recipe {seg.recipe_hash[:12]})",
                f"{generation.name!r} pinned {generation.pin} (recipe {generation.recipe.hash[:12]})",
                "the registry's generation changed since the gallery was built; re-embed the gallery",
            )
        return seg

    # --- changing items -------------------------------------------------------------

    def add(
        self,
        vectors: FloatArray,
        ids: Sequence[str],
        *,
        generation: Generation,
        texts: Sequence[str | None] | None = None,
    ) -> int:
        """Add items embedded by ``generation`` to its segment; returns the number added.

        Raises:
            GenerationMismatch: the gallery has no segment of that generation.
            DimensionMismatch: the vectors do not have the generation's dimension.
            DuplicateName: an id is already in the gallery (or repeated).
            ValidationError: NaN or infinite values, or lengths that disagree.
        """
        import numpy as np

        seg = self.segment_for(generation)
        x = _matrix(
            vectors,
            seg.dimension,
            f"vectors for segment {seg.generation!r}",
            f"these vectors were not made by generation {seg.generation!r}",
        )
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
            if item_id in self._by_id or item_id in seen:
                raise DuplicateName("item", item_id, "an item already in the gallery")
            seen.add(item_id)
        if len(ids) == 0:
            return 0
        index = self._index(seg.generation)
        if _is_ivf(index) and not index.is_trained:
            self._train_ivf(index, x)
        fids = np.arange(self._next_id, self._next_id + len(ids), dtype=np.int64)
        index.add_with_ids(x, fids)
        for n, (fid, item_id) in enumerate(zip(fids.tolist(), ids, strict=False)):
            self._by_id[item_id] = fid
            self._items[fid] = (item_id, seg.generation, texts[n] if texts is not None else None)
        self._next_id += len(ids)
        self._touch()
        return len(ids)

    def _train_ivf(self, index: FaissIndex, x: FloatArray) -> None:
        import faiss

        spec = self.index_spec
        need = 39 * max(spec.nlist, 2**spec.pq_bits)
        if x.shape[0] < need:
            raise ValidationError(
                f"an ivfpq index (nlist={spec.nlist}, {spec.pq_bits}-bit codes) needs at least "
                f"{need} vectors in its first batch to train, got {x.shape[0]}",
                "add more items at once, lower nlist or pq_bits, or use the flat or hnsw index",
            )
        index.train(x)
        # a hash-table direct map allows reconstruct() by id alongside add_with_ids/remove_ids
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]

    def remove(self, ids: Sequence[str]) -> int:
        """Remove items by id; returns how many were removed. Unknown ids are an error."""
        import faiss
        import numpy as np

        missing = [i for i in ids if i not in self._by_id]
        if missing:
            raise NotFound(
                f"{len(missing)} id(s) not in the gallery: {', '.join(map(repr, missing[:5]))}",
                "check the ids (embedreg gallery info shows the count)",
            )
        by_segment: dict[str, list[int]] = {}
        for item_id in dict.fromkeys(ids):
            fid = self._by_id[item_id]
            by_segment.setdefault(self._items[fid][1], []).append(fid)
        for seg_name, fids in by_segment.items():
            index = self._index(seg_name)
            wanted = np.asarray(fids, dtype=np.int64)
            # IVF's hash-table direct map removes only through an IDSelectorArray
            selector = (
                faiss.IDSelectorArray(wanted.size, faiss.swig_ptr(wanted))
                if _is_ivf(index)
                else faiss.IDSelectorBatch(wanted)
            )
            if self.index_spec.kind == "hnsw":
                self._indexes[seg_name] = self._rebuild_without(seg_name, set(fids))
            else:
                removed = index.remove_ids(selector)
                if removed != len(fids):
                    raise GalleryError(
                        f"FAISS removed {removed} of {len(fids)} vectors from {seg_name!r}"
                    )
            for fid in fids:
                item_id = self._items.pop(fid)[0]
                del self._by_id[item_id]
        self._touch()
        return sum(len(f) for f in by_segment.values())

    def _rebuild_without(self, segment: str, drop: set[int]) -> FaissIndex:
        """HNSW graphs cannot delete: rebuild the segment from its stored vectors."""
        import numpy as np

        old = self._index(segment)
        keep = np.asarray(
            sorted(f for f, (_, seg, _) in self._items.items() if seg == segment and f not in drop),
            dtype=np.int64,
        )
        seg = self._segments[segment]
        new = _new_index(self.index_spec, seg.dimension, self.metric)
        if keep.size:
            vectors = np.vstack([old.reconstruct(int(f)) for f in keep]).astype(np.float32)
            new.add_with_ids(vectors, keep)
        return new

    def vectors(self, ids: Sequence[str]) -> FloatArray:
        """The stored vectors of items (all from one segment), as FAISS keeps them."""
        import numpy as np

        segs = {self._items[self._by_id[i]][1] for i in ids} if ids else set()
        if len(segs) > 1:
            raise ValidationError("vectors() takes ids of one segment at a time")
        if not segs:
            return np.zeros((0, 0), dtype=np.float32)
        index = self._index(segs.pop())
        return np.vstack([index.reconstruct(self._by_id[i]) for i in ids]).astype(np.float32)

    def _touch(self) -> None:
        self.updated = utc_now()
        self._dirty = True

    def _index(self, segment: str) -> FaissIndex:
        if segment not in self._indexes:
            self._indexes[segment] = self._read_index(self._segments[segment])
        return self._indexes[segment]

    # --- searching -------------------------------------------------------------------

    def search(
        self,
        queries: Sequence[str] | FloatArray | Any,
        k: int = 10,
        *,
        generation: Generation | str,
        registry: Registry | None = None,
        resolver: Resolver | None = None,
        device: str = "auto",
    ) -> Hits:
        """Search with texts or vectors of ``generation``, routed to each segment.

        Texts are embedded with the generation's recipe (query role) on
        ``device``; a numpy array or torch tensor must already hold that
        generation's vectors.  ``generation`` may be a name when a registry
        (or resolver) is given.

        Example::

            g = Gallery.load("galleries/news")
            hits = g.search(["interest rates rise"], k=5, generation="v3", registry=reg)
            hits.ids[0], hits.scores[0], hits.paths
        """
        reg = registry if registry is not None else (resolver.registry if resolver else None)
        if isinstance(generation, str):
            if reg is None:
                raise ValidationError(
                    f"generation {generation!r} is a name; pass registry= or a Generation"
                )
            generation = reg.generation(generation)
        if isinstance(queries, str):
            queries = [queries]
        vectors: Any
        if isinstance(queries, (list, tuple)):
            if not queries or not all(isinstance(q, str) and q.strip() for q in queries):
                raise ValidationError("queries must be non-empty texts (or a 2-D array of vectors)")
            from .encoding import Encoder

            vectors = Encoder(generation, device=device).encode(list(queries), role="query")
        elif hasattr(queries, "detach"):  # a torch tensor
            vectors = queries.detach().float().cpu().numpy()
        else:
            vectors = queries
        return self.search_vectors(
            vectors, k, generation=generation, registry=reg, resolver=resolver
        )

    def search_vectors(
        self,
        queries: FloatArray,
        k: int = 10,
        *,
        generation: Generation,
        registry: Registry | None = None,
        resolver: Resolver | None = None,
    ) -> Hits:
        """Search with query vectors embedded by ``generation``.

        Each segment is searched through the best path from ``generation`` to
        the segment's generation (no mapping for the same generation; a
        registry or resolver is needed otherwise).  Mapped queries are
        re-normalised when the segment's generation normalises, so the
        segments' scores are on one scale (cosine for normalised galleries)
        and merge into one ranking.
        """
        import numpy as np

        q = _matrix(
            queries, generation.dimension, f"query vectors of generation {generation.name!r}"
        )
        if k < 1:
            raise ValidationError(f"k must be at least 1, got {k}")
        paths = self.routes(generation, registry=registry, resolver=resolver)
        nq = q.shape[0]
        all_scores: list[FloatArray] = []
        all_fids: list[npt.NDArray[np.int64]] = []
        for seg_name, path in paths.items():
            index = self._index(seg_name)
            if index.ntotal == 0:
                continue
            kk = min(k, int(index.ntotal))
            routed = None if path is None else self._routed_index(seg_name, index, path)
            if routed is not None:
                scores, fids = routed.search(q, kk)
            else:
                mapped = q if path is None else path.apply(q)
                scores, fids = index.search(np.ascontiguousarray(mapped, dtype=np.float32), kk)
            all_scores.append(scores if self.metric == "ip" else -scores)
            all_fids.append(fids)
        ids: list[list[str]] = [[] for _ in range(nq)]
        out_scores: list[list[float]] = [[] for _ in range(nq)]
        out_segs: list[list[str]] = [[] for _ in range(nq)]
        if all_scores:
            scores = np.hstack(all_scores)
            fids = np.hstack(all_fids)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            for row in range(nq):
                for col in order[row]:
                    fid = int(fids[row, col])
                    if fid < 0:
                        continue
                    item_id, seg, _ = self._items[fid]
                    ids[row].append(item_id)
                    out_scores[row].append(float(scores[row, col]))
                    out_segs[row].append(seg)
        return Hits(ids, out_scores, out_segs, {s: p for s, p in paths.items() if p is not None})

    def _routed_index(self, segment: str, index: FaissIndex, path: QueryPath) -> FaissIndex | None:
        """``index`` behind ``path``'s FAISS pre-transform (cached), or ``None`` for a non-affine path.

        Mapping the queries inside FAISS keeps the transform on FAISS's own
        threads: a numpy matrix product before the search leaves numpy's BLAS
        threads spinning against FAISS's on small machines (about 15 % of the
        search time on 2 cores, bench/RESULTS.md).
        """
        key = (segment, path.key)
        cached = self._routed.get(key)
        if cached is not None and cached[0] is index:
            return cached[1]
        if path.affine is None:
            return None
        wrapped = path.to_faiss(index)
        # entries over an index this segment no longer uses (rebuilt after a removal) go
        self._routed = {k: v for k, v in self._routed.items() if k[0] != segment or v[0] is index}
        self._routed[key] = (index, wrapped)
        return wrapped

    def routes(
        self,
        generation: Generation,
        *,
        registry: Registry | None = None,
        resolver: Resolver | None = None,
    ) -> dict[str, QueryPath | None]:
        """For each segment, the path queries of ``generation`` take (``None``: no mapping)."""
        out: dict[str, QueryPath | None] = {}
        for seg_name, seg in self._segments.items():
            if seg.matches(generation):
                out[seg_name] = None
                continue
            if resolver is None:
                if registry is None:
                    raise GenerationMismatch(
                        f"segment {seg_name!r} of gallery {self.path or self.name or ''}".rstrip(),
                        repr(seg_name),
                        f"the queries' generation {generation.name!r}",
                        "pass registry= (or a resolver) so embedreg can route the queries through an adapter",
                    )
                from .resolver import Resolver

                resolver = Resolver(registry)
            self._check_registry_pin(resolver.registry, seg)
            out[seg_name] = resolver.resolve(generation.name, seg_name)
        return out

    def _check_registry_pin(self, registry: Registry, seg: Segment) -> None:
        self.segment_for(registry.generation(seg.generation))

    # --- persistence -----------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """The manifest as it would be saved now."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "embedreg_version": __version__,
            "name": self.name,
            "metric": self.metric,
            "index": self.index_spec.to_dict(),
            "segments": {name: seg.to_dict() for name, seg in self.segments.items()},
            "count": len(self),
            "next_id": self._next_id,
            "version": self._version,
            "items_file": self._items_file(self._version) if self._version else None,
            "sources": self.sources,
            "content_hash": self._content_hash(),
            "created": self.created,
            "updated": self.updated,
        }

    def _content_hash(self) -> str | None:
        files = [s.sha256 for s in self._segments.values()]
        if self._dirty or any(f is None for f in files):
            return None
        from .hashing import canonical_json_sha256

        return canonical_json_sha256(
            {
                "items": self._items_sha256,
                "segments": {n: s.sha256 for n, s in self._segments.items()},
            }
        )

    @staticmethod
    def _items_file(version: int) -> str:
        return f"items.{version}.jsonl"

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the gallery to its folder (atomically: the manifest switches last)."""
        import faiss

        folder = Path(path) if path is not None else self.path
        if folder is None:
            raise ValidationError("the gallery has no folder yet", "pass a path to save()")
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = folder / MANIFEST
        if self.path is None and manifest_path.exists():
            raise DuplicateName("gallery folder", str(folder), "an existing gallery")
        for seg_name in self._segments:
            self._index(seg_name)  # load before the files move
        version = max(self._version, _current_version(folder)) + 1
        new_segments: dict[str, Segment] = {}
        for seg_name, seg in self._segments.items():
            fname = f"{seg_name}.{version}.faiss"
            tmp = folder / f".{fname}.tmp"
            faiss.write_index(self._indexes[seg_name], str(tmp))
            _fsync(tmp)
            os.replace(tmp, folder / fname)
            new_segments[seg_name] = replace(
                seg,
                count=self._count(seg_name),
                index_file=fname,
                sha256=file_sha256(folder / fname),
            )
        items_name = self._items_file(version)
        lines = (
            json.dumps({"id": i, "faiss_id": fid, "segment": seg, "text": text}, ensure_ascii=False)
            for fid, (i, seg, text) in sorted(self._items.items())
        )
        atomic_write_bytes(
            folder / items_name, ("\n".join(lines) + ("\n" if self._items else "")).encode()
        )
        self._items_sha256 = file_sha256(folder / items_name)
        old = (self._segments, self._version, self.path, self._dirty)
        self._segments, self._version, self.path, self._dirty = new_segments, version, folder, False
        try:
            data = self.manifest()
            atomic_write_bytes(
                manifest_path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
            )
        except BaseException:
            self._segments, self._version, self.path, self._dirty = old
            raise
        _remove_stale(
            folder,
            keep={items_name, *(s.index_file for s in new_segments.values() if s.index_file)},
        )
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> Gallery:
        """Open a gallery folder; ``verify`` checks every file's sha256 against the manifest."""
        folder = Path(path)
        manifest_path = folder / MANIFEST
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(
                f"no gallery at {folder} ({MANIFEST} is missing)",
                "build one with 'embedreg gallery build'",
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GalleryError(
                f"gallery manifest {manifest_path} is corrupted ({exc})",
                "restore the gallery from a backup",
            ) from None
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
            if data.get("format_version", 0) > FORMAT_VERSION:
                raise GalleryError(
                    f"gallery {folder} has format version {data['format_version']}, "
                    f"this embedreg reads up to {FORMAT_VERSION}",
                    "upgrade embedreg",
                )
            segments = {n: Segment.from_dict(s) for n, s in data["segments"].items()}
            gallery = cls(
                metric=data["metric"],
                index=IndexSpec.from_dict(data["index"]),
                segments=segments,
                name=data.get("name"),
                created=data.get("created"),
                updated=data.get("updated"),
                sources=data.get("sources", []),
                path=folder,
                version=int(data["version"]),
                next_id=int(data["next_id"]),
            )
            items_file = data.get("items_file")
        except GalleryError:
            raise
        except (KeyError, TypeError, ValueError, EmbedRegError) as exc:
            raise GalleryError(
                f"gallery manifest {manifest_path} is invalid ({exc})",
                "restore the gallery from a backup",
            ) from None
        if items_file:
            items_path = folder / items_file
            if not items_path.exists():
                raise GalleryError(
                    f"gallery file {items_path} is missing", "restore the gallery from a backup"
                )
            gallery._items_sha256 = file_sha256(items_path)
            with open(items_path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    try:
                        row = json.loads(line)
                        fid = int(row["faiss_id"])
                        gallery._by_id[row["id"]] = fid
                        gallery._items[fid] = (row["id"], row["segment"], row.get("text"))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise GalleryError(
                            f"{items_path} line {n} is invalid ({exc})",
                            "restore the gallery from a backup",
                        ) from None
        gallery._dirty = False
        if verify:
            for seg in segments.values():
                if seg.index_file:
                    actual = file_sha256(folder / seg.index_file)
                    if actual != seg.sha256:
                        raise GalleryError(
                            f"index file {folder / seg.index_file} does not match its manifest sha256",
                            "the gallery was modified or damaged; restore it or rebuild it",
                        )
            if data.get("content_hash") and gallery._content_hash() != data["content_hash"]:
                raise GalleryError(
                    f"gallery {folder} does not match its content hash",
                    "the items file was modified or damaged; restore it or rebuild it",
                )
        for seg_name in segments:
            gallery._index(seg_name)  # read now: a later save by another process replaces files
        counts: dict[str, int] = {}
        for _, seg_name, _ in gallery._items.values():
            counts[seg_name] = counts.get(seg_name, 0) + 1
        for name, seg in segments.items():
            if counts.get(name, 0) != seg.count:
                raise GalleryError(
                    f"gallery {folder}: segment {name!r} lists {seg.count} items but the items file has {counts.get(name, 0)}",
                    "restore the gallery from a backup",
                )
        return gallery

    def _read_index(self, seg: Segment) -> FaissIndex:
        import faiss

        if self.path is None or seg.index_file is None:
            return _new_index(self.index_spec, seg.dimension, self.metric)
        index: FaissIndex = faiss.read_index(str(self.path / seg.index_file))
        if index.d != seg.dimension or index.ntotal != seg.count:
            raise GalleryError(
                f"index file {self.path / seg.index_file} holds {index.ntotal}x{index.d}, "
                f"manifest says {seg.count}x{seg.dimension}",
                "restore the gallery from a backup",
            )
        if self.index_spec.kind == "hnsw":
            hnsw: FaissIndex = faiss.downcast_index(index.index)
            hnsw.hnsw.efSearch = self.index_spec.ef_search
        if _is_ivf(index):
            index.nprobe = self.index_spec.nprobe
        return index

    @classmethod
    @contextlib.contextmanager
    def edit(cls, path: str | os.PathLike[str], *, timeout: float = 60.0) -> Iterator[Gallery]:
        """Load, change and save a gallery under a lock on its folder.

        Example:
            >>> with Gallery.edit("galleries/news") as g:  # doctest: +SKIP
            ...     g.remove(["doc-17"])
        """
        from filelock import FileLock, Timeout

        folder = Path(path)
        if not (folder / MANIFEST).exists():
            raise NotFound(
                f"no gallery at {folder} ({MANIFEST} is missing)",
                "build one with 'embedreg gallery build'",
            )
        try:
            with FileLock(str(folder / LOCK), timeout=timeout):
                gallery = cls.load(folder)
                yield gallery
                if gallery._dirty:
                    gallery.save()
        except Timeout:
            from .errors import LockTimeout

            raise LockTimeout(str(folder / LOCK), timeout) from None

    def info(self) -> dict[str, Any]:
        """Manifest fields for display (``embedreg gallery info``)."""
        data = self.manifest()
        data["path"] = str(self.path) if self.path else None
        return data


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _current_version(folder: Path) -> int:
    manifest = folder / MANIFEST
    if not manifest.exists():
        return 0
    try:
        return int(json.loads(manifest.read_text(encoding="utf-8")).get("version", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _remove_stale(folder: Path, keep: set[str]) -> None:
    for entry in folder.iterdir():
        if entry.name in keep or not _FILE_RE.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
