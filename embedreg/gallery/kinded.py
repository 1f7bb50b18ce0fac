"""Searching a gallery through fused and cascade paths, and writing cascades back.

:func:`route_kinds` chooses, for each segment of a gallery, the path of the
best kind the policy allows (:func:`embedreg.routing.kinds.resolve_kind`:
a fused path is offered when the segment's generation can embed the query
here, a cascade when the segment keeps its items' texts).
:func:`search_routed` searches with query texts:

- **map**: the query generation's vectors mapped into the segment's space;
- **fused**: the segment's generation embeds the queries too, and its
  vectors are combined with the mapped ones (``slerp``, the adapter's ``t``);
- **cascade**: the first stage (map or fused) fetches the top ``K`` items,
  whose stored texts the query generation embeds (document role); they are
  ranked by the query's own vectors, scores in the query generation's space.

With ``write_back=N`` (opt-in), up to ``N`` of each query's cascade
candidates, best first, are moved into a segment of the query's generation
with the vectors just computed: the gallery upgrades itself in the order it
is searched.  Each write is one :meth:`Gallery.edit <.gallery.Gallery.edit>`
(under the folder's lock, the new version switched in by the manifest,
atomically): an item is removed from its old segment and added to the new
one in the same version, so a kill at any instant leaves it once, in one of
the two; an item removed or changed meanwhile is skipped.

Example::

    routes = route_kinds(g, reg.generation("v3"), reg, RoutingPolicy())
    hits = search_routed(g, ["rates rise"], 5, routes, generation=reg.generation("v3"),
                         registry=reg, write_back=20)
    hits.kinds   # segment → 'cascade K=50 over map'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..models.shared import shared_encode
from ..registry import Generation, Registry
from ..routing.kinds import RoutedPath, gallery_model_status, resolve_kind
from ..routing.policy import PathKind, RoutingPolicy
from .hits import Hits

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .database import DatabaseGallery
    from .gallery import Gallery

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "WRITE_BACK_SOURCE",
    "GalleryPath",
    "resolve_path",
    "route_kinds",
    "search_routed",
    "write_back_items",
    "write_back_progress",
]

#: The ``kind`` of the gallery's source entry counting the items searches wrote back.
WRITE_BACK_SOURCE = "write-back"


class GalleryPath(RoutedPath):
    """A chosen path of some kind that can search a gallery of its gallery generation.

    Example::

        path = resolve_path(reg, "v3", "v1", RoutingPolicy())
        hits = path.search(Gallery.load("galleries/news"), ["rates rise"], k=5, registry=reg)
    """

    def search(
        self,
        gallery: Gallery,
        queries: Sequence[str] | str,
        k: int = 10,
        *,
        registry: Registry,
        device: str = "auto",
        write_back: int = 0,
    ) -> Hits:
        """Search ``gallery`` (one segment, of this path's gallery generation) with query texts."""
        if gallery.generations != [self.gallery]:
            raise ValidationError(
                f"this path reaches generation {self.gallery!r}; the gallery holds "
                f"{', '.join(gallery.generations)}",
                "search a gallery with Gallery.search(..., policy=...) to route each segment",
            )
        return search_routed(
            gallery,
            queries,
            k,
            {self.gallery: self},
            generation=registry.generation(self.query),
            registry=registry,
            device=device,
            write_back=write_back,
        )


def resolve_path(
    registry: Registry,
    query: str,
    gallery: str,
    policy: RoutingPolicy | None = None,
    **options: Any,
) -> GalleryPath:
    """:func:`~embedreg.routing.kinds.resolve_kind`, as a path that can ``.search()``.

    Example::

        path = resolve_path(reg, "v3", "v1", RoutingPolicy(kinds=frozenset({PathKind.FUSED})))
        path.kind, path.chosen.t
    """
    routed = resolve_kind(registry, query, gallery, policy or RoutingPolicy(), **options)
    return GalleryPath(routed.query, routed.gallery, routed.chosen, routed.options, routed.reason)


def route_kinds(
    gallery: Gallery | DatabaseGallery,
    generation: Generation,
    registry: Registry,
    policy: RoutingPolicy,
    *,
    model_status: Any = gallery_model_status,
) -> dict[str, RoutedPath | None]:
    """For each segment, the path of the best allowed kind (``None``: the query's own segment)."""
    out: dict[str, RoutedPath | None] = {}
    for name, seg in gallery.segments.items():
        if seg.matches(generation):
            out[name] = None
            continue
        seg.check(registry.generation(seg.generation), gallery.where())
        out[name] = resolve_kind(
            registry,
            generation.name,
            name,
            policy,
            texts=gallery.keeps_texts(name),
            model_status=model_status,
        )
    return out


def _first_stage(
    route: RoutedPath, texts: Sequence[str], own: FloatArray, registry: Registry, device: str
) -> FloatArray:
    """The vectors the segment is searched with: mapped, or fused with its generation's own."""
    import numpy as np

    from ..evaluation.paths import slerp

    mapped = np.asarray(route.map_path.apply(own), dtype=np.float32)
    option = route.chosen
    fused = option.kind is PathKind.FUSED or option.first == "fused"
    if not fused:
        return mapped
    gallery_gen = registry.generation(route.gallery)
    theirs = shared_encode(gallery_gen, texts, role="query", device=device)
    return slerp(theirs, mapped, float(option.t or 0.0))


def search_routed(
    gallery: Gallery | DatabaseGallery,
    queries: Sequence[str] | str,
    k: int,
    routes: Mapping[str, RoutedPath | None],
    *,
    generation: Generation | None = None,
    registry: Registry,
    device: str = "auto",
    write_back: int = 0,
    merge: str = "auto",
) -> Hits:
    """Search ``gallery`` with query texts through each segment's chosen path (see the module).

    ``merge`` combines the segments' results as :func:`.search.search_segments`
    does: the query's own segment and cascades score in the query
    generation's space, maps and fused paths in the segment's, so ``auto``
    and ``calibrated`` put those on the calibrated scale (``auto``: when every
    such segment has a calibration), ``score`` takes the scores as they come,
    and ``rrf`` scores each hit ``1 / (60 + its rank in its segment)``.
    """
    import numpy as np

    from .calibration import merge_mode, rrf_scores

    texts = [queries] if isinstance(queries, str) else list(queries)
    if not texts or not all(isinstance(q, str) and q.strip() for q in texts):
        raise ValidationError("queries must be non-empty texts")
    if k < 1:
        raise ValidationError(f"k must be at least 1, got {k}")
    if write_back < 0:
        raise ValidationError(f"write_back must be ≥ 0, got {write_back}")
    folder = getattr(gallery, "path", None)
    if write_back and folder is None:
        raise ValidationError(
            f"write-back needs a gallery folder; {gallery.where()} is not one",
            "search without --write-back (upgrade a database gallery with 'embedreg upgrade')",
        )
    if generation is None:
        query_names = {r.query for r in routes.values() if r is not None}
        if len(query_names) != 1:
            raise ValidationError("pass generation= (the queries' generation)")
        generation = registry.generation(query_names.pop())
    own = shared_encode(generation, texts, role="query", device=device)  # loaded once
    own_n = own / np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)
    per_query: list[list[tuple[float, str, str]]] = [[] for _ in texts]
    written: dict[str, tuple[Any, str]] = {}
    calibration = {
        s: c[generation.name] for s, c in gallery.calibration.items() if generation.name in c
    }
    in_segment_space = {  # the routes whose scores are the segment's (a cascade's are the query's)
        s: (r.map_path if r.kind is not PathKind.CASCADE else None)
        for s, r in routes.items()
        if r is not None
    }
    mode = merge_mode(merge, in_segment_space, calibration, generation.name)
    for name, route in routes.items():
        index = gallery.search_index(name)
        if index.ntotal == 0:
            continue
        vecs = own if route is None else _first_stage(route, texts, own, registry, device)
        depth = route.chosen.k if route is not None and route.kind is PathKind.CASCADE else k
        kk = min(int(depth or k), int(index.ntotal))
        scores, fids = index.search(np.ascontiguousarray(vecs, dtype=np.float32), kk)
        if gallery.metric != "ip":
            scores = -scores
        if route is not None and route.kind is PathKind.CASCADE:
            for row in range(len(texts)):
                items = gallery.hit_texts(name, [int(f) for f in fids[row] if f >= 0])
                docs = shared_encode(
                    generation, [str(t) for _, t in items], role="document", device=device
                )
                sims = docs @ own_n[row]
                ranked = _rrf(sims) if mode == "rrf" else sims
                for (item_id, _), s in zip(items, ranked, strict=True):
                    per_query[row].append((float(s), item_id, name))
                for pos in np.argsort(-sims)[:write_back]:
                    item_id, text = items[int(pos)]
                    written.setdefault(item_id, (docs[int(pos)], str(text)))
            continue
        if mode == "rrf":
            scores = rrf_scores(fids)
        elif mode == "calibrated" and route is not None and name in calibration:
            scores = calibration[name].apply(scores)
        for row in range(len(texts)):
            for s, f in zip(scores[row], fids[row], strict=True):
                if f >= 0:
                    item_id, seg = gallery.hit(int(f))
                    per_query[row].append((float(s), item_id, seg))
    ids, out_scores, segs = [], [], []
    for hits in per_query:
        seen: set[str] = set()
        best = []
        for s, item_id, seg in sorted(hits, key=lambda h: -h[0]):
            if item_id not in seen:
                seen.add(item_id)
                best.append((s, item_id, seg))
        best = best[:k]
        ids.append([b[1] for b in best])
        out_scores.append([b[0] for b in best])
        segs.append([b[2] for b in best])
    paths = {s: r.map_path for s, r in routes.items() if r is not None}
    hits_out = Hits(ids, out_scores, segs, paths)
    hits_out.kinds = {s: r for s, r in routes.items() if r is not None}
    if written and folder is not None:
        hits_out.written = write_back_items(type(gallery), folder, generation, written)
    return hits_out


def _rrf(sims: Any) -> Any:
    """Reciprocal-rank scores ``1 / (60 + rank)`` of ``sims`` (rank 1: the highest)."""
    import numpy as np

    from .calibration import RRF_K

    ranks = np.empty(len(sims), dtype=np.float32)
    ranks[np.argsort(-sims, kind="stable")] = np.arange(1, len(sims) + 1, dtype=np.float32)
    return 1.0 / (RRF_K + ranks)


def write_back_items(
    gallery_class: Any, folder: Any, generation: Generation, items: Mapping[str, tuple[Any, str]]
) -> int:
    """Move ``items`` (id → (vector of ``generation``, the text it was embedded from)) into
    ``generation``'s segment of the gallery at ``folder``, in one locked, atomic save
    (``gallery_class.edit``: :meth:`Gallery.edit <.gallery.Gallery.edit>`).

    Items already in that segment, removed, or whose text changed are skipped.
    Returns the number moved.
    """
    import numpy as np

    with gallery_class.edit(folder) as g:
        todo = []
        for item_id, (vec, text) in items.items():
            if item_id not in g:
                continue
            rec = g.item(item_id)
            if rec.segment == generation.name or rec.text != text:
                continue
            todo.append((item_id, vec, text))
        if not todo:
            return 0
        if generation.name not in g.segments:
            g.add_segment(generation)
        g.remove([t[0] for t in todo])
        g.add(
            np.vstack([t[1] for t in todo]).astype(np.float32),
            [t[0] for t in todo],
            generation=generation,
            texts=[t[2] for t in todo],
        )
        _count_written(g, generation.name, len(todo))
    return len(todo)


def _count_written(g: Gallery, generation: str, n: int) -> None:
    for source in g.sources:
        if source.get("kind") == WRITE_BACK_SOURCE and source.get("generation") == generation:
            source["items"] = int(source.get("items", 0)) + n
            return
    g.sources.append({"kind": WRITE_BACK_SOURCE, "generation": generation, "items": n})


def write_back_progress(folder: Any) -> list[dict[str, Any]]:
    """What searches wrote back into the gallery at ``folder``: per query generation,
    the items moved so far and that segment's share of the gallery (``upgrade status``).

    Example::

        write_back_progress("galleries/news")
        # [{'generation': 'v3', 'written': 120, 'segment': 120, 'total': 742, 'share': 0.16}]
    """
    from pathlib import Path

    from . import storage

    m = storage.load_manifest(Path(folder))
    total = sum(seg.count for seg in m.segments.values())
    out = []
    for source in m.sources:
        if source.get("kind") != WRITE_BACK_SOURCE:
            continue
        gen = str(source.get("generation"))
        seg = m.segments.get(gen)
        count = seg.count if seg is not None else 0
        out.append(
            {
                "generation": gen,
                "written": int(source.get("items", 0)),
                "segment": count,
                "total": total,
                "share": count / total if total else 0.0,
            }
        )
    return out
