"""The compatibility lookup: which registered galleries can queries of a generation search?

:func:`compatible` answers for one query generation with a
:class:`Compatibility`: the registered **galleries** it can search (name,
folder, the generation(s) that embedded them, the path per segment, the
quality with its basis and interval, the criterion verdict), the galleries it
cannot (and why), and separately the **generations** it can reach (paths
whose ``.gallery`` is a generation name).  ``embedreg compatible GEN
[--json]`` prints the same.

A gallery folder after a partial upgrade holds segments of several
generations; each segment gets its own path, and the gallery's quality is
its worst segment's (its criterion the worst verdict).

Example:
    >>> import embedreg
    >>> found = embedreg.compatible("v2-short", registry=embedreg.Registry.open())  # doctest: +SKIP
    >>> [(g.name, g.generation, round(g.quality, 3), g.basis) for g in found.galleries]  # doctest: +SKIP
    [('news', 'v2', 0.93, 'cmc@1')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import GALLERY_MANIFEST
from ..errors import EmbedRegError
from ..evaluation.bootstrap import Interval
from ..gallery.database import DatabaseGallery
from ..gallery.locate import is_url
from ..gallery.storage import load_manifest
from ..registry import GalleryRecord, Registry
from ..routing import QueryPath, Resolver, RoutingPolicy
from ..routing.kinds import resolve_kind
from ..routing.policy import PathKind
from ..routing.scale import path_criterion

__all__ = ["Compatibility", "GalleryMatch", "Unreachable", "compatible"]


@dataclass(frozen=True)
class GalleryMatch:
    """A registered gallery that queries of the generation can search.

    Attributes:
        name: the gallery's registry name.
        folder: where it lives.
        generation: the generation that embedded it (segments: ``generations``).
        paths: per segment (generation name), the query path taken (a fused
            path's or a cascade's map, for those).
        kinds: per routed segment, the path of the kind chosen
            (:class:`~embedreg.routing.kinds.RoutedPath`), when the policy allows
            more than the map.
    """

    name: str
    folder: str
    generation: str
    paths: dict[str, QueryPath]
    kinds: dict[str, Any] = field(default_factory=dict)

    @property
    def generations(self) -> list[str]:
        """The generations of the gallery's segments."""
        return list(self.paths)

    @property
    def path(self) -> QueryPath:
        """The path to the gallery's worst segment (its only one, before an upgrade)."""
        return min(self.paths.values(), key=lambda p: p.quality)

    def _quality(self, segment: str) -> float:
        route = self.kinds.get(segment)
        return float(route.quality) if route is not None else self.paths[segment].quality

    @property
    def quality(self) -> float:
        """The worst segment's path quality (1.0 = as good as the gallery's own queries)."""
        return min(self._quality(s) for s in self.paths)

    @property
    def basis(self) -> str:
        """What the quality was measured with."""
        return " + ".join(dict.fromkeys(p.basis for p in self.paths.values()))

    @property
    def interval(self) -> Interval | None:
        """The worst segment's quality band."""
        worst = min(self.paths, key=self._quality)
        route = self.kinds.get(worst)
        return route.chosen.interval if route is not None else self.paths[worst].interval

    @property
    def criterion(self) -> str:
        """``pass``, ``fail`` or ``unknown`` over every segment's path."""
        verdicts: list[bool | None] = []
        for seg, p in self.paths.items():
            route = self.kinds.get(seg)
            verdict = route.criterion if route is not None else p.criterion
            verdicts.append({"pass": True, "fail": False}.get(verdict))
        return path_criterion(verdicts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        ci = self.interval
        return {
            "name": self.name,
            "folder": self.folder,
            "generation": self.generation,
            "generations": self.generations,
            "quality": self.quality,
            "basis": self.basis,
            "interval": ci.to_list() if ci else None,
            "criterion": self.criterion,
            "adapters": self.path.adapter_ids,
            "paths": {seg: p.to_dict() for seg, p in self.paths.items()},
            "kinds": {
                seg: {
                    "kind": r.kind.value,
                    "label": r.chosen.label(),
                    "quality": r.quality,
                    "criterion": r.criterion,
                    "extra_encodes": r.chosen.cost,
                    "reason": r.reason,
                }
                for seg, r in self.kinds.items()
            },
        }

    def kind_label(self) -> str:
        """The worst segment's path kind (``map`` when no kind was chosen)."""
        worst = min(self.paths, key=self._quality)
        route = self.kinds.get(worst)
        return route.chosen.label() if route is not None else "map"


@dataclass(frozen=True)
class Unreachable:
    """A registered gallery the generation cannot search, and why."""

    name: str
    folder: str
    generation: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "folder": self.folder,
            "generation": self.generation,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Compatibility:
    """What queries of one generation can search.

    Attributes:
        query: the query generation.
        galleries: registered galleries it can search, best first.
        unreachable: registered galleries it cannot search.
        generations: paths to every generation it can reach (``.gallery`` is a
            generation name), the generation itself first.
    """

    query: str
    galleries: list[GalleryMatch] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)
    generations: list[QueryPath] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``embedreg compatible --json`` prints)."""
        return {
            "query": self.query,
            "galleries": [g.to_dict() for g in self.galleries],
            "unreachable": [u.to_dict() for u in self.unreachable],
            "generations": [
                {
                    "generation": p.gallery,
                    "quality": p.quality,
                    "basis": p.basis,
                    "interval": p.interval.to_list() if p.interval else None,
                    "criterion": p.criterion,
                    "adapters": p.adapter_ids,
                }
                for p in self.generations
            ],
        }


def _segments(reg: Registry, record: GalleryRecord) -> list[str]:
    """The gallery's segments (generation names), checked against the registry's pins."""
    if is_url(record.location):
        with DatabaseGallery.open(record.location) as g:
            for seg in g.segment_table().values():
                seg.check(reg.generation(seg.generation), f"gallery {record.name!r}")
            return list(g.segment_table())
    folder = Path(record.location)
    if not (folder / GALLERY_MANIFEST).exists():
        return [record.generation]
    segments = load_manifest(folder).segments
    for seg in segments.values():
        seg.check(reg.generation(seg.generation), f"gallery {record.name!r}")
    return list(segments)


def compatible(
    generation: str,
    *,
    registry: Registry | None = None,
    policy: RoutingPolicy | None = None,
) -> Compatibility:
    """The registered galleries and the generations queries of ``generation`` can reach.

    ``policy`` is which paths are accepted (:class:`~embedreg.routing.RoutingPolicy`);
    the registry defaults to ``$EMBEDREG_REGISTRY``, else ``./.embedreg``.
    A gallery whose folder is gone is listed by its registered generation;
    one whose manifest no longer matches the registry's pins is unreachable.
    """
    reg = registry if registry is not None else Registry.open()
    resolver = Resolver(reg, policy)
    query = reg.generation(generation).name
    doc = reg.document()
    # fused paths and cascades compete when the policy allows them (issue 23)
    routed_kinds = resolver.policy.kinds != frozenset({PathKind.MAP})
    found: list[GalleryMatch] = []
    refused: list[Unreachable] = []
    for record in sorted(doc.galleries.values(), key=lambda r: r.name):
        kinds: dict[str, Any] = {}
        try:
            segments = _segments(reg, record)
            if routed_kinds:
                kinds = {s: resolve_kind(reg, query, s, resolver.policy) for s in segments}
                paths = {s: r.map_path for s, r in kinds.items()}
                kinds = {s: r for s, r in kinds.items() if not r.map_path.is_identity}
            else:
                paths = {seg: resolver.resolve(query, seg) for seg in segments}
        except EmbedRegError as exc:
            refused.append(Unreachable(record.name, record.location, record.generation, str(exc)))
            continue
        found.append(GalleryMatch(record.name, record.location, record.generation, paths, kinds))
    found.sort(key=lambda m: (m.criterion == "fail", -m.quality, m.name))
    return Compatibility(query, found, refused, resolver.reachable(query))
