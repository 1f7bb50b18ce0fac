"""Searching a gallery: queries routed to each segment, results merged on one scale.

Each segment is searched through the best path from the queries' generation
to the segment's generation (no mapping for the same generation).  An affine
path runs inside FAISS as a pre-transform of the segment's index
(:class:`RoutedIndexes` keeps one per segment and path); mapped queries are
re-normalised when the segment's generation normalises, so the segments'
scores share one kind of score (cosine for normalised galleries).

Merging (``merge``): scores of a routed segment run lower than those of the
query generation's own segment (an adapter lands queries near their items,
not on them), so a gallery of mixed generations merges on a *calibrated*
scale when its manifest holds a :class:`~.calibration.Calibration` for each
routed segment (``auto``, ``calibrated``); ``score`` merges the scores as
they come, and ``rrf`` by reciprocal-rank fusion (each hit scores
``1 / (60 + rank in its segment)``), which needs no calibration.
Measured against a single-space gallery of the same items in
``bench/RESULTS.md``.

Example:
    >>> hits = Hits([["a"]], [[0.9]], [["v2"]])
    >>> hits.to_dict()["results"]
    [[{'id': 'a', 'score': 0.9, 'segment': 'v2'}]]
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..errors import GenerationMismatch, ValidationError
from ..registry import Generation, Registry
from ..routing import FaissIndex, QueryPath, Resolver
from ..routing.policy import PathKind, RoutingPolicy
from .calibration import RRF_K, Calibration, Calibrations, merge_mode, rrf_scores
from .hits import Hits
from .index import as_matrix, check_items
from .storage import Segment

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "RRF_K",
    "Hits",
    "RoutedIndexes",
    "Searching",
    "merge_mode",
    "query_vectors",
    "route_segments",
    "search_segments",
]


class RoutedIndexes:
    """Each segment's index behind a path's FAISS pre-transform, built once and kept.

    Mapping the queries inside FAISS keeps the transform on FAISS's own
    threads: a numpy matrix product before the search leaves numpy's BLAS
    threads spinning against FAISS's on small machines (about 15 % of the
    search time on 2 cores, bench/RESULTS.md).
    """

    def __init__(self) -> None:
        # (segment, path key) → (index, the index wrapped in the path's pre-transform)
        self._cache: dict[tuple[str, tuple[Any, ...]], tuple[FaissIndex, FaissIndex]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, segment: str, index: FaissIndex, path: QueryPath) -> FaissIndex | None:
        """``index`` behind ``path``'s pre-transform, or ``None`` for a non-affine path."""
        key = (segment, path.key)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is index:
            return cached[1]
        if path.affine is None:
            return None
        wrapped = path.to_faiss(index)
        # entries over an index this segment no longer uses (rebuilt after a removal) go
        self._cache = {k: v for k, v in self._cache.items() if k[0] != segment or v[0] is index}
        self._cache[key] = (index, wrapped)
        return wrapped


def route_segments(
    segments: Mapping[str, Segment],
    generation: Generation,
    *,
    where: str,
    registry: Registry | None = None,
    resolver: Resolver | None = None,
) -> dict[str, QueryPath | None]:
    """For each segment, the path queries of ``generation`` take (``None``: no mapping).

    Raises:
        GenerationMismatch: a segment of another generation and no registry to
            route through, or a segment whose generation the registry now pins
            differently.
        NoCompatiblePath: a segment no measured path reaches.
    """
    out: dict[str, QueryPath | None] = {}
    for name, seg in segments.items():
        if seg.matches(generation):
            out[name] = None
            continue
        if resolver is None:
            if registry is None:
                raise GenerationMismatch(
                    f"segment {name!r} of {where}",
                    repr(name),
                    f"the queries' generation {generation.name!r}",
                    "pass registry= (or a resolver) so embedreg can route the queries "
                    "through an adapter",
                )
            resolver = Resolver(registry)
        seg.check(resolver.registry.generation(seg.generation), where)
        out[name] = resolver.resolve(generation.name, name)
    return out


def query_vectors(queries: Any, generation: Generation, *, device: str = "auto") -> Any:
    """Texts embedded with ``generation`` (query role); a torch tensor as numpy; arrays as they are."""
    if isinstance(queries, str):
        queries = [queries]
    if isinstance(queries, (list, tuple)):
        if not queries or not all(isinstance(q, str) and q.strip() for q in queries):
            raise ValidationError("queries must be non-empty texts (or a 2-D array of vectors)")
        from ..models.shared import shared_encode

        return shared_encode(generation, queries, role="query", device=device)
    if hasattr(queries, "detach"):  # a torch tensor
        return queries.detach().float().cpu().numpy()
    return queries


def search_segments(
    queries: Any,
    k: int,
    *,
    generation: Generation,
    metric: str,
    indexes: Mapping[str, FaissIndex],
    paths: Mapping[str, QueryPath | None],
    routed: RoutedIndexes,
    item: Callable[[int], tuple[str, str]],
    merge: str = "auto",
    calibration: Mapping[str, Calibration] | None = None,
) -> Hits:
    """Search each segment's index through its path and merge the results, best first.

    ``item(faiss_id)`` gives a hit's ``(item id, segment)``; ``calibration``
    maps routed segments to their calibration for the queries' generation.
    """
    import numpy as np

    mode = merge_mode(merge, paths, calibration or {}, generation.name)

    q = as_matrix(queries, generation.dimension, f"query vectors of generation {generation.name!r}")
    if k < 1:
        raise ValidationError(f"k must be at least 1, got {k}")
    nq = q.shape[0]
    all_scores: list[FloatArray] = []
    all_fids: list[npt.NDArray[np.int64]] = []
    for name, path in paths.items():
        index = indexes[name]
        if index.ntotal == 0:
            continue
        kk = min(k, int(index.ntotal))
        wrapped = None if path is None else routed.get(name, index, path)
        if wrapped is not None:
            scores, fids = wrapped.search(q, kk)
        else:
            mapped = q if path is None else path.apply(q)
            scores, fids = index.search(np.ascontiguousarray(mapped, dtype=np.float32), kk)
        scores = scores if metric == "ip" else -scores
        if mode == "rrf":
            scores = rrf_scores(fids)
        elif mode == "calibrated" and path is not None:
            scores = (calibration or {})[name].apply(scores)
        all_scores.append(scores)
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
                item_id, seg = item(fid)
                ids[row].append(item_id)
                out_scores[row].append(float(scores[row, col]))
                out_segs[row].append(seg)
    return Hits(ids, out_scores, out_segs, {s: p for s, p in paths.items() if p is not None})


class Searching:
    """The searching half of a gallery (a folder's :class:`~embedreg.gallery.Gallery` or a database's).

    A gallery gives search this small surface: its segments
    (:meth:`segment_table`), each segment's index (:meth:`search_index`, an
    object with FAISS's ``ntotal`` and ``search``), the item a hit's key names
    (:meth:`hit`), and where its routed indexes are kept (:attr:`routed`).
    """

    metric: str
    calibration: Calibrations
    routed: RoutedIndexes

    def segment_table(self) -> Mapping[str, Segment]:
        """Segments by generation name, as stored."""
        raise NotImplementedError

    def search_index(self, segment: str) -> FaissIndex:
        """The index search runs on for ``segment``."""
        raise NotImplementedError

    def hit(self, key: int) -> tuple[str, str]:
        """``(item id, segment)`` of the item an index's key names."""
        raise NotImplementedError

    def where(self) -> str:
        """The gallery, as error messages name it."""
        raise NotImplementedError

    def keeps_texts(self, segment: str) -> bool:
        """Whether every item of ``segment`` keeps its text (a cascade embeds them again)."""
        raise NotImplementedError

    def hit_texts(self, segment: str, keys: Sequence[int]) -> list[tuple[str, str | None]]:
        """``(item id, text)`` of ``segment``'s search hits, by key."""
        raise NotImplementedError

    def segment_for(self, generation: Generation) -> Segment:
        """The segment embedded by ``generation``; refuses another generation."""
        seg = self.segment_table().get(generation.name)
        if seg is None:
            names = sorted(self.segment_table())
            raise GenerationMismatch(
                self.where(),
                " and ".join(repr(g) for g in names),
                repr(generation.name),
                f"embed with {' or '.join(names)}, or search with a query generation "
                "and let embedreg route it",
            )
        seg.check(generation, self.where())
        return seg

    def checked_items(
        self,
        vectors: FloatArray | Any,
        ids: Sequence[str],
        texts: Sequence[str | None] | None,
        generation: Generation,
        taken: Container[str],
    ) -> tuple[Segment, FloatArray]:
        """The segment and the matrix of items to add, everything checked before any write.

        Raises:
            GenerationMismatch: the gallery has no segment of that generation.
            DimensionMismatch: the vectors do not have the generation's dimension.
            DuplicateName: an id is in ``taken`` (or repeated).
            ValidationError: NaN or infinite values, or lengths that disagree.
        """
        seg = self.segment_for(generation)
        x = as_matrix(
            vectors,
            seg.dimension,
            f"vectors for segment {seg.generation!r}",
            f"these vectors were not made by generation {seg.generation!r}",
        )
        check_items(x, ids, texts, taken)
        return seg, x

    def search(
        self,
        queries: Sequence[str] | FloatArray | Any,
        k: int = 10,
        *,
        generation: Generation | str,
        registry: Registry | None = None,
        resolver: Resolver | None = None,
        device: str = "auto",
        merge: str = "auto",
        policy: RoutingPolicy | None = None,
        write_back: int = 0,
    ) -> Hits:
        """Search with texts or vectors of ``generation``, routed to each segment.

        Texts are embedded (query role) on ``device`` once every segment's
        path is known; arrays or tensors must hold that generation's vectors.
        ``generation`` may be a name when a registry (or resolver) is given.
        ``merge`` is how the segments' results combine
        (:data:`~embedreg.gallery.calibration.MERGES`, see the module).

        ``policy`` is which paths are accepted (default: the resolver's
        policy, else :class:`~embedreg.routing.RoutingPolicy`'s defaults,
        which allow every kind, as ``embedreg gallery search`` does).  With
        query texts, a segment may then take a fused path or a cascade
        (:mod:`.kinded`; ``hits.kinds`` names each segment's path, and
        ``write_back=N`` moves up to N of each query's cascade candidates into
        the query's segment of a gallery folder).  Vectors take maps only (a
        fused path or a cascade embeds the query texts again).
        ``policy=RoutingPolicy(kinds=frozenset({PathKind.MAP}))`` is map routing alone.

        Example::

            g = Gallery.load("galleries/news")
            hits = g.search(["interest rates rise"], k=5, generation="v3", registry=reg)
            hits.ids[0], hits.scores[0], hits.paths, hits.kinds
        """
        reg = registry if registry is not None else (resolver.registry if resolver else None)
        if isinstance(generation, str):
            if reg is None:
                raise ValidationError(
                    f"generation {generation!r} is a name; pass registry= or a Generation"
                )
            generation = reg.generation(generation)
        if k < 1:
            raise ValidationError(f"k must be at least 1, got {k}")
        if policy is None:
            policy = resolver.policy if resolver is not None else RoutingPolicy()
        if resolver is None and reg is not None:
            resolver = Resolver(reg, policy)
        texts = [queries] if isinstance(queries, str) else queries
        kinds: dict[str, Any] = {}
        if (
            reg is not None
            and policy.kinds != {PathKind.MAP}
            and isinstance(texts, (list, tuple))
            and all(isinstance(q, str) for q in texts)
        ):
            from .kinded import route_kinds, search_routed

            routes = route_kinds(cast(Any, self), generation, reg, policy)
            if any(r is not None and r.kind is not PathKind.MAP for r in routes.values()):
                return search_routed(
                    cast(Any, self), list(texts), k, routes, generation=generation,
                    registry=reg, device=device, write_back=write_back, merge=merge,
                )  # fmt: skip
            kinds = {s: r for s, r in routes.items() if r is not None}
        paths = self.routes(generation, registry=reg, resolver=resolver)  # before any model loads
        merge_mode(merge, paths, self._calibration_for(generation), generation.name)
        vectors = query_vectors(queries, generation, device=device)
        hits = self._search(vectors, k, generation, paths, merge)
        hits.kinds = kinds
        return hits

    def search_vectors(
        self,
        queries: FloatArray,
        k: int = 10,
        *,
        generation: Generation,
        registry: Registry | None = None,
        resolver: Resolver | None = None,
        merge: str = "auto",
    ) -> Hits:
        """Search with query vectors embedded by ``generation`` (see :mod:`.search`)."""
        q = as_matrix(
            queries, generation.dimension, f"query vectors of generation {generation.name!r}"
        )
        if k < 1:
            raise ValidationError(f"k must be at least 1, got {k}")
        paths = self.routes(generation, registry=registry, resolver=resolver)
        return self._search(q, k, generation, paths, merge)

    def _calibration_for(self, generation: Generation) -> dict[str, Calibration]:
        name = generation.name
        return {s: c[name] for s, c in self.calibration.items() if name in c}

    def _search(
        self,
        queries: Any,
        k: int,
        generation: Generation,
        paths: dict[str, QueryPath | None],
        merge: str,
    ) -> Hits:
        return search_segments(
            queries,
            k,
            generation=generation,
            metric=self.metric,
            indexes={name: self.search_index(name) for name in paths},
            paths=paths,
            routed=self.routed,
            item=self.hit,
            merge=merge,
            calibration=self._calibration_for(generation),
        )

    def routes(
        self,
        generation: Generation,
        *,
        registry: Registry | None = None,
        resolver: Resolver | None = None,
    ) -> dict[str, QueryPath | None]:
        """For each segment, the path queries of ``generation`` take (``None``: no mapping)."""
        return route_segments(
            self.segment_table(),
            generation,
            where=self.where(),
            registry=registry,
            resolver=resolver,
        )
