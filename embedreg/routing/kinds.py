"""Choosing among path kinds: a map, a fused path or a cascade, by quality within a policy.

A map path (:class:`~.path.QueryPath`) is what :class:`~.graph.Resolver`
finds.  An adapter trained with labels also carries fused and cascade
variants of itself, fitted and measured on its held-out pairs
(``provenance["paths"]``, :mod:`embedreg.training.paths`).  Here every
variant of every direct adapter between the two generations competes with
the map paths, under a :class:`~.policy.RoutingPolicy`:

1. **Offered?**  A fused path needs the gallery generation's weights (a
   local folder, or the Hub's files cached or reachable); a cascade needs
   the gallery's stored texts (or a segment of the query's generation).  What
   is not offered is listed with the reason.
2. **Allowed?**  Its kind in ``policy.kinds``; its cost, extra encoder
   passes per query (fused: one query encode by the gallery generation;
   cascade: ``K`` item encodes by the query generation), within
   ``policy.max_query_cost``; quality at least ``policy.min_quality``; with
   ``require_compatible``, the criterion passed on held-out items.
3. **Best.**  Criterion not failed first, then the highest quality (held-out
   retention on the one scale).  Of the paths within :data:`QUALITY_TIE` of
   the best, the cheapest is taken: quality first, cost among equals.

:func:`resolve_kind` returns a :class:`RoutedPath`, which explains itself;
:func:`embedreg.gallery.kinded.resolve_path` gives one that can search a
gallery (``.search()``).

Example:
    >>> from embedreg.routing.policy import PathKind
    >>> option = PathOption(PathKind.FUSED, quality=1.01, criterion="pass", cost=1, t=0.3)
    >>> option.label(), option.cost
    ('fused t=0.3', 1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmbedRegError, NoCompatiblePath
from ..evaluation.bootstrap import Interval
from ..registry import Figures, Generation, PathsRecord, Registry
from .graph import Resolver
from .path import QueryPath
from .policy import PathKind, RoutingPolicy

__all__ = [
    "QUALITY_TIE",
    "PathOption",
    "RoutedPath",
    "choose_option",
    "gallery_model_status",
    "path_options",
    "resolve_kind",
    "stored_options",
]

#: Paths this close (retention) to the best are tied on quality; the cheapest of them wins.
QUALITY_TIE = 0.005


@dataclass(frozen=True)
class PathOption:
    """One way for the queries to reach the gallery: its kind, figures and cost.

    Attributes:
        kind: map, fused or cascade.
        quality: held-out retention on the one scale (1.0: as good as old/old).
        criterion: ``pass``, ``fail`` or ``unknown``.
        cost: extra encoder passes per query.
        t: the fused path's weight (``None`` otherwise).
        k: the cascade's depth.
        first: a cascade's first stage (``map`` or ``fused``).
        map_path: the map the variant is built on.
        interval: the quality's 95 % interval.
        figures: the stored held-out figures of the variant.
        arith_us: measured µs per query of the arithmetic (fusion, re-scoring).
        memory_bytes: weights of a second model the path loads (fused).
        unavailable: why the path is not offered (``None``: it is).
    """

    kind: PathKind
    quality: float
    criterion: str
    cost: int = 0
    t: float | None = None
    k: int | None = None
    first: str | None = None
    map_path: QueryPath | None = field(default=None, compare=False, repr=False)
    interval: Interval | None = None
    figures: Figures = field(default_factory=Figures, compare=False, repr=False)
    arith_us: float = 0.0
    memory_bytes: int | None = None
    unavailable: str | None = None

    def label(self) -> str:
        """``map``, ``fused t=0.3``, ``cascade K=50 over map`` …"""
        if self.kind is PathKind.FUSED:
            return f"fused t={self.t:g}"
        if self.kind is PathKind.CASCADE:
            over = f"fused t={self.t:g}" if self.first == "fused" else "map"
            return f"cascade K={self.k} over {over}"
        return "map"

    @property
    def adapter_id(self) -> str | None:
        """The adapter the path maps with (``None``: no mapping, or several hops)."""
        ids = self.map_path.adapter_ids if self.map_path is not None else []
        return ids[0] if len(ids) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind.value,
            "label": self.label(),
            "adapters": self.map_path.adapter_ids if self.map_path is not None else [],
            "quality": self.quality,
            "interval": self.interval.to_list() if self.interval else None,
            "criterion": self.criterion,
            "t": self.t,
            "k": self.k,
            "first": self.first,
            "cost": {
                "extra_encodes": self.cost,
                "arith_us_per_query": self.arith_us,
                "second_model_bytes": self.memory_bytes,
            },
            "unavailable": self.unavailable,
        }


def gallery_model_status(generation: Generation) -> tuple[str | None, int | None]:
    """(why ``generation`` cannot embed queries here, or ``None``; its weights' bytes).

    Nothing is downloaded and nothing is hashed (the encoder checks the pin
    when it loads): a local generation's folder must exist, a Hub
    generation's files must be in the local Hugging Face cache.
    """
    from pathlib import Path

    from ..errors import ModelLoadError
    from ..models.folders import model_folder
    from ..registry import HubSource

    source = generation.source
    try:
        if isinstance(source, HubSource):
            from huggingface_hub import snapshot_download

            try:
                folder = Path(
                    snapshot_download(
                        repo_id=source.repo_id, revision=source.revision, local_files_only=True
                    )
                )
            except Exception:  # any miss of the cache (or a bad repo id) means: not here
                return (
                    f"generation {generation.name!r} ({source.pin}) is not in the local "
                    "Hugging Face cache (embed anything with it once while online)",
                    None,
                )
        else:
            folder = model_folder(generation, verify_pin=False)
    except (ModelLoadError, EmbedRegError) as exc:
        return f"generation {generation.name!r} cannot embed queries here ({exc.message})", None
    size = sum(
        p.stat().st_size
        for p in folder.iterdir()
        if p.suffix in (".safetensors", ".bin") and p.is_file()
    )
    return None, size or None


def _variants(path: QueryPath, registry: Registry) -> list[PathOption]:
    """The fused and cascade variants stored with ``path``'s single adapter."""
    if len(path.adapter_ids) != 1:
        return []
    record = registry.document().adapters.get(path.adapter_ids[0])
    stored = record.provenance.paths if record is not None else None
    return stored_options(stored, path)


def stored_options(stored: PathsRecord | None, path: QueryPath | None = None) -> list[PathOption]:
    """The fused and cascade options an adapter's ``provenance.paths`` holds.

    Example:
        >>> stored_options(PathsRecord(fitted=False, reason="no labels"))
        []
    """
    if stored is None or not stored.fitted:
        return []
    out = []
    for v in stored.variants:
        kind = str(v.kind)
        if kind not in (PathKind.FUSED.value, PathKind.CASCADE.value):
            continue
        figs, cost = v.figures, v.cost
        out.append(
            PathOption(
                PathKind(kind),
                float(figs.retention or 0.0),
                "pass" if figs.criterion else "fail",
                int(cost.extra_encodes or 0),
                t=v.t,
                k=v.k,
                first=v.first,
                map_path=path,
                interval=Interval.from_value(figs.retention_interval, int(stored.heldout or 0)),
                figures=figs,
                arith_us=float(cost.arith_us_per_query or 0.0),
            )
        )
    return out


def path_options(
    registry: Registry,
    query: str,
    gallery: str,
    policy: RoutingPolicy,
    *,
    texts: bool | None = None,
    model_status: Callable[[Generation], tuple[str | None, int | None]] = gallery_model_status,
) -> list[PathOption]:
    """Every path from ``query`` to ``gallery``: the map paths and their variants, unfiltered.

    ``texts``: whether the gallery keeps its items' texts (``None``: no gallery
    in view; cascades are offered and need them when they search).
    """
    # every measured map is a candidate (or a fused path's, a cascade's first stage)
    resolver = Resolver(registry, RoutingPolicy(max_hops=policy.max_hops, min_quality=None))
    best = resolver.resolve(query, gallery)
    doc = registry.document()
    q, g = doc.generation(query), doc.generation(gallery)
    maps = [best] + [
        QueryPath(
            q.name,
            g.name,
            c.hops,
            renormalize=g.recipe.normalize,
            input_dim=q.dimension,
            output_dim=g.dimension,
            loader=resolver._load,
        )
        for c in best.alternatives
        if c.scored
    ]
    options = [
        PathOption(PathKind.MAP, p.quality, p.criterion, 0, map_path=p, interval=p.interval)
        for p in maps
    ]
    variants = [v for p in maps for v in _variants(p, registry)]
    if any(v.kind is PathKind.FUSED or v.first == "fused" for v in variants):
        why, size = model_status(g)
        variants = [
            v
            if not (v.kind is PathKind.FUSED or v.first == "fused")
            else _with(v, unavailable=why, memory_bytes=size)
            for v in variants
        ]
    if texts is False:
        why = f"the gallery keeps no texts of its items for {q.name!r} to embed"
        variants = [
            _with(v, unavailable=v.unavailable or why) if v.kind is PathKind.CASCADE else v
            for v in variants
        ]
    return options + variants


def _with(option: PathOption, **changes: Any) -> PathOption:
    from dataclasses import replace

    return replace(option, **changes)


def _refusal(option: PathOption, policy: RoutingPolicy) -> str | None:
    """Why ``policy`` refuses ``option`` (``None``: it is allowed)."""
    if option.unavailable:
        return f"not offered: {option.unavailable}"
    if not policy.allows(option.kind):
        return f"kind {option.kind.value} not allowed (--paths)"
    if not policy.within_cost(float(option.cost)):
        return f"costs {option.cost} extra encodes a query, over --max-query-cost {policy.max_query_cost:g}"
    if option.quality < policy.floor:
        return f"quality {option.quality:.3f} below the minimum {policy.floor:.3f}"
    if policy.require_compatible and option.criterion != "pass":
        return f"compatibility is required and its criterion is {option.criterion}"
    return None


@dataclass
class RoutedPath:
    """The chosen path of some kind, the options it beat, and why.

    ``map_path`` is the map it applies (the whole path for a map; a fused
    path's or a cascade's first stage).  :class:`embedreg.gallery.kinded.GalleryPath`
    adds ``.search()``.
    """

    query: str
    gallery: str
    chosen: PathOption
    options: list[tuple[PathOption, str | None]]
    reason: str

    @property
    def kind(self) -> PathKind:
        """The chosen path's kind."""
        return self.chosen.kind

    @property
    def map_path(self) -> QueryPath:
        """The map the chosen path applies."""
        assert self.chosen.map_path is not None
        return self.chosen.map_path

    @property
    def quality(self) -> float:
        """The chosen path's held-out quality (retention)."""
        return self.chosen.quality

    @property
    def criterion(self) -> str:
        """The chosen path's criterion verdict."""
        return self.chosen.criterion

    def note(self) -> str:
        """One line for stderr: the path kind, its quality and cost."""
        adapters = " → ".join(self.map_path.adapter_ids) or "same space"
        cost = f", {self.chosen.cost} extra encode(s) a query" if self.chosen.cost else ""
        return (
            f"path {self.query} → {self.gallery}: {self.chosen.label()} via {adapters} "
            f"(quality {self.quality:.3f}, criterion {self.criterion}{cost})"
        )

    def unavailable_note(self) -> str | None:
        """A line when a better path was not offered (the old weights or texts missing)."""
        better = [
            o
            for o, _ in self.options
            if o.unavailable and o.quality > self.chosen.quality and o is not self.chosen
        ]
        if not better:
            return None
        best = max(better, key=lambda o: o.quality)
        return (
            f"{best.label()} (quality {best.quality:.3f}) is not offered for "
            f"{self.query} → {self.gallery}: {best.unavailable}; using {self.chosen.label()}"
        )

    def explain(self) -> str:
        """The chosen path, why, and every other option with why it lost or was refused."""
        lines = [self.note(), f"  chosen: {self.reason}"]
        what = "map" if self.chosen.kind is PathKind.MAP else "its map"
        lines += [f"  {what}: " + self.map_path.explain().splitlines()[0]]
        lines += ["  " + line for line in self.map_path.explain().splitlines()[1:]]
        for option, why in self.options:
            if option is self.chosen:
                continue
            adapters = " → ".join(option.map_path.adapter_ids) if option.map_path else ""
            verdict = why or "lower quality or higher cost"
            lines.append(
                f"  {option.label()} via {adapters or 'same space'}: quality {option.quality:.3f}, "
                f"criterion {option.criterion}, {option.cost} extra encode(s); {verdict}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``embedreg resolve --json``): the map path's fields plus the kind."""
        out = self.map_path.to_dict()
        out.update(
            {
                "kind": self.kind.value,
                "path": self.chosen.to_dict(),
                "quality": self.quality,
                "criterion": self.criterion,
                "compatible": self.criterion != "fail",
                "interval": self.chosen.interval.to_list() if self.chosen.interval else None,
                "reason": self.reason,
                "options": [{**o.to_dict(), "refused": why} for o, why in self.options],
            }
        )
        return out


def resolve_kind(
    registry: Registry,
    query: str,
    gallery: str,
    policy: RoutingPolicy,
    *,
    texts: bool | None = None,
    model_status: Callable[[Generation], tuple[str | None, int | None]] = gallery_model_status,
) -> RoutedPath:
    """The best path of any allowed kind from ``query`` to ``gallery`` (see the module).

    Raises:
        UnknownGeneration: either name is not registered.
        NoCompatiblePath: no path at all, or none the policy allows (each kind's reason named).
    """
    options = path_options(registry, query, gallery, policy, texts=texts, model_status=model_status)
    doc = registry.document()
    q, g = doc.generation_name(query), doc.generation_name(gallery)
    if all(o.kind is PathKind.MAP for o in options):  # no variants: the resolver's own choice
        path = Resolver(registry, policy).resolve(q, g)
        only = PathOption(PathKind.MAP, path.quality, path.criterion, 0, map_path=path,
                          interval=path.interval)  # fmt: skip
        why = "the only kind measured (no fused or cascade figures: an adapter trained with labels has them)"
        return RoutedPath(q, g, only, [(only, None)], why)
    chosen, marked, reason = choose_option(options, policy, q, g)
    return RoutedPath(q, g, chosen, marked, reason)


def choose_option(
    options: list[PathOption], policy: RoutingPolicy, query: str = "?", gallery: str = "?"
) -> tuple[PathOption, list[tuple[PathOption, str | None]], str]:
    """The chosen option, every option with why it was refused or lost, and why (the module's rule).

    Raises:
        NoCompatiblePath: the policy allows none of ``options``.
    """
    judged = [(o, _refusal(o, policy)) for o in options]
    allowed = [o for o, why in judged if why is None]
    if not allowed:
        asked = [(o, why) for o, why in judged if policy.allows(o.kind)] or judged
        lines = dict.fromkeys(
            f"{o.label()} via {' → '.join(o.map_path.adapter_ids) if o.map_path else '?'}: {why}"
            for o, why in asked
        )
        reasons = "; ".join(list(lines)[:4]) + (
            f"; {len(lines) - 4} more" if len(lines) > 4 else ""
        )
        raise NoCompatiblePath(
            query,
            gallery,
            f"no path the policy allows ({reasons})",
            "allow more kinds (--paths any), raise --max-query-cost, or train a better adapter",
        )
    allowed.sort(key=lambda o: (o.criterion == "fail", -o.quality))
    top = allowed[0]
    tied = [
        o
        for o in allowed
        if (o.criterion == "fail") == (top.criterion == "fail")
        and o.quality >= top.quality - QUALITY_TIE
    ]
    chosen = min(tied, key=lambda o: (o.cost, -o.quality))
    reason = f"highest quality {top.quality:.3f} ({top.label()})"
    if chosen is not top:
        reason = (
            f"quality {chosen.quality:.3f} within {QUALITY_TIE:g} of the best "
            f"({top.label()}, {top.quality:.3f}) at the lowest cost ({chosen.cost} extra encodes)"
        )
    if top.criterion == "fail":
        reason += "; no allowed path passes the criterion"
    marked = [
        (o, why if why is not None else (None if o is chosen else _lost(o, chosen)))
        for o, why in judged
    ]
    return chosen, marked, reason


def _lost(option: PathOption, chosen: PathOption) -> str:
    """Why an allowed ``option`` lost to ``chosen`` (the order :func:`choose_option` ranks by)."""
    if option.criterion == "fail" and chosen.criterion != "fail":
        return "fails the criterion"
    if option.quality < chosen.quality - QUALITY_TIE:
        return f"lower quality ({option.quality:.3f} < {chosen.quality:.3f})"
    if option.cost > chosen.cost:
        return f"as good within {QUALITY_TIE:g}, but {option.cost} extra encode(s)"
    if option.quality < chosen.quality:
        return f"lower quality ({option.quality:.3f} < {chosen.quality:.3f}) at the same cost"
    return "as good at the same cost; the chosen one was listed first"
