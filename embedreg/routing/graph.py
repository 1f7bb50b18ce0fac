"""Query-path resolution: how a query of one generation reaches a gallery of another.

The registry is a graph: generations are nodes; every adapter record is a
directed edge from its source generation to its target; generations with the
same model pin and recipe are joined both ways by identity (they embed into
one space).  Each adapter edge carries its measured held-out *retention*
(``figures.retention``, on the one scale of :mod:`.scale`: 1.0 = as good
as the gallery generation's own queries); a path's quality is the product of
its hops' retentions, each capped at 1 (a hop that beats its gallery's own
queries gains nothing further down a chain), so a direct adapter competes
fairly with chains of adapters.  Bases that cannot be compared are never
multiplied: such a path is skipped.

:class:`Resolver` takes a :class:`~.policy.RoutingPolicy` (one value: hops,
minimum quality, criterion, path kinds, cost), finds every simple path of at
most ``policy.max_hops`` adapter hops and ranks them: paths through an
adapter that failed the compatibility criterion on held-out data come after
the others, then by quality, then by fewer hops.  It returns the best path of at least ``min_quality`` as a
:class:`QueryPath` (flagged when it fails the criterion; with
``require_compatible`` only paths that pass it are taken), or raises
:class:`~embedreg.errors.NoCompatiblePath` saying why there is none.  A
:class:`QueryPath` compiles consecutive affine hops into one affine map, so a
three-hop path costs one matrix multiply per query, and can export itself as
a FAISS ``IndexPreTransform``.

Example:
    >>> from embedreg.routing import Resolver, RoutingPolicy
    >>> resolver = Resolver(registry, RoutingPolicy(max_hops=2))  # doctest: +SKIP
    >>> path = resolver.resolve("v3", "v1")  # doctest: +SKIP
    >>> print(path.explain())  # doctest: +SKIP
    v3 → v1 via v3-to-v2.lambda-orth, v2-to-v1.lambda-orth: quality 0.912 (…)
    >>> old_space = path.apply(v3_query_vectors)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from ..adapters import Adapter, load_registered_adapter
from ..errors import NoCompatiblePath
from ..registry import AdapterRecord, Registry, RegistryDocument
from .hops import Candidate, Hop, adapter_hops
from .path import QueryPath
from .policy import PathKind, RoutingPolicy

__all__ = ["Resolver", "reachable"]


class Resolver:
    """Finds the best measured path between generations of one registry.

    Args:
        registry: the registry whose generations and adapters form the graph.
        policy: which paths are accepted (hops, minimum quality, criterion,
            kinds, cost); the defaults of :class:`~.policy.RoutingPolicy` if ``None``.
        loader: loads an adapter by id (default: strict loading from the registry).
    """

    def __init__(
        self,
        registry: Registry,
        policy: RoutingPolicy | None = None,
        *,
        loader: Callable[[str], Adapter] | None = None,
    ) -> None:
        self.registry = registry
        self.policy = policy if policy is not None else RoutingPolicy()
        self._loader = loader
        self._loaded: dict[str, Adapter] = {}

    def _load(self, adapter_id: str) -> Adapter:
        if adapter_id not in self._loaded:
            if self._loader is not None:
                self._loaded[adapter_id] = self._loader(adapter_id)
            else:
                self._loaded[adapter_id] = load_registered_adapter(
                    self.registry, adapter_id
                ).adapter
        return self._loaded[adapter_id]

    # --- graph ---------------------------------------------------------------------------

    @staticmethod
    def edges(doc: RegistryDocument) -> dict[str, list[Hop]]:
        """Outgoing hops of every generation: measured adapters plus identity joins."""
        out: dict[str, list[Hop]] = {name: [] for name in doc.generations}
        for rec in sorted(doc.adapters.values(), key=lambda a: a.id):
            retention = _retention(rec)
            if retention is None:
                continue  # unmeasured adapters are never trusted for routing
            out[rec.source].append(
                Hop(
                    rec.source,
                    rec.target,
                    retention,
                    rec.id,
                    rec.family,
                    rec.figures,
                    rec.sha256,
                )
            )
        gens = sorted(doc.generations.values(), key=lambda g: g.name)
        for a in gens:
            for b in gens:
                if a.name != b.name and a.same_space(b):
                    out[a.name].append(Hop(a.name, b.name, 1.0))
        return out

    def candidates(
        self, query: str, gallery: str, doc: RegistryDocument | None = None
    ) -> list[Candidate]:
        """Every scored simple path from ``query`` to ``gallery`` within the policy's hops, best first.

        Best first: paths that do not fail the criterion, then higher quality,
        then fewer hops.  Paths whose bases cannot be multiplied are left out
        (:meth:`unscored` lists them).
        """
        return [c for c in self._all(query, gallery, doc) if c.scored]

    def unscored(
        self, query: str, gallery: str, doc: RegistryDocument | None = None
    ) -> list[Candidate]:
        """Paths skipped because they mix bases that cannot be compared (:mod:`.scale`)."""
        return [c for c in self._all(query, gallery, doc) if not c.scored]

    def _all(self, query: str, gallery: str, doc: RegistryDocument | None) -> list[Candidate]:
        doc = doc or self.registry.document()
        src, dst = doc.generation_name(query), doc.generation_name(gallery)
        if src == dst:
            return [Candidate(())]
        graph = self.edges(doc)
        found = [Candidate(tuple(hops)) for hops in self._walk(graph, src, dst, [src], [])]
        found.sort(
            key=lambda c: (
                c.criterion == "fail",
                -c.quality,
                c.adapter_hops,
                len(c.hops),
                c.label(),
            )
        )
        return found

    def _walk(
        self, graph: dict[str, list[Hop]], node: str, dst: str, seen: list[str], hops: list[Hop]
    ) -> Iterator[list[Hop]]:
        for hop in graph.get(node, []):
            if hop.target in seen:
                continue
            if adapter_hops(hops) + (0 if hop.is_identity else 1) > self.policy.max_hops:
                continue
            path = [*hops, hop]
            if hop.target == dst:
                yield path
            else:
                yield from self._walk(graph, hop.target, dst, [*seen, hop.target], path)

    # --- resolving -----------------------------------------------------------------------

    def resolve(self, query: str, gallery: str) -> QueryPath:
        """The best path from generation ``query`` to generation ``gallery``.

        Raises:
            UnknownGeneration: either name is not registered.
            NoCompatiblePath: no path within the policy's hops, none of at least its
                minimum quality, or (with ``require_compatible``) none that passes
                the criterion; or the policy allows no map path.
        """
        doc = self.registry.document()
        q, g = doc.generation(query), doc.generation(gallery)
        policy = self.policy
        if q.name != g.name and not policy.allows(PathKind.MAP):
            raise NoCompatiblePath(
                q.name,
                g.name,
                "the routing policy allows no map path "
                f"(kinds: {', '.join(sorted(k.value for k in policy.kinds))})",
                "allow map paths (--paths map or any)",
            )
        found = self.candidates(q.name, g.name, doc)
        if not found:
            unmeasured = [a.id for a in doc.adapters.values() if _retention(a) is None]
            reason = f"no chain of at most {policy.max_hops} measured adapter(s) leads there"
            if unmeasured:
                reason += f" (unmeasured adapters are not used: {', '.join(sorted(unmeasured))})"
            mixed = self.unscored(q.name, g.name, doc)
            if mixed:
                reason += (
                    f" (skipped {mixed[0].label()}: its hops' bases ({mixed[0].basis}) cannot "
                    "be multiplied; re-measure the older adapter)"
                )
            raise NoCompatiblePath(q.name, g.name, reason, _train_hint(doc, q.name, g.name))
        eligible = [c for c in found if c.quality >= policy.floor]
        if not eligible:
            best = found[0]
            raise NoCompatiblePath(
                q.name,
                g.name,
                f"the best path ({best.label()}) has quality {best.quality:.3f} "
                f"(by {best.basis}), below the minimum {policy.floor:.3f}",
                _train_hint(doc, q.name, g.name, "a better adapter")
                + ", or lower the minimum quality",
            )
        if policy.require_compatible:
            passing = [c for c in eligible if c.criterion == "pass"]
            if not passing:
                best = eligible[0]
                failed = [h.adapter_id for h in best.hops if h.criterion is False]
                why = (
                    f"fails the compatibility criterion on held-out data ({', '.join(map(str, failed))} failed it)"
                    if best.criterion == "fail"
                    else "was not judged by the compatibility criterion (no labels or qrels)"
                )
                raise NoCompatiblePath(
                    q.name,
                    g.name,
                    f"compatibility is required and the best path ({best.label()}) {why}",
                    _train_hint(doc, q.name, g.name, "an adapter that passes it")
                    + " (with --label-column), or drop --require-compatible",
                )
            eligible = passing
        best = eligible[0]
        return QueryPath(
            q.name,
            g.name,
            best.hops,
            alternatives=[c for c in found if c is not best],
            renormalize=g.recipe.normalize,
            input_dim=q.dimension,
            output_dim=g.dimension,
            loader=self._load,
        )

    def reachable(self, generation: str) -> list[QueryPath]:
        """Paths from ``generation`` to every generation it can reach, best first.

        These are generations, not galleries: :func:`embedreg.compatible`
        lists the registered galleries a generation can search.
        """
        doc = self.registry.document()
        q = doc.generation(generation)
        paths = []
        for name in sorted(doc.generations):
            try:
                paths.append(self.resolve(q.name, name))
            except NoCompatiblePath:
                continue
        paths.sort(key=lambda p: (p.gallery != q.name, -p.quality, p.gallery))
        return paths


def _train_hint(doc: RegistryDocument, query: str, gallery: str, what: str = "one") -> str:
    """The ``embedreg adapter train`` command that makes a direct query → gallery adapter.

    The command takes the newer generation first; an older query generation
    reaching a newer gallery needs the forward direction.
    """
    ancestor = doc.generations[gallery].parent
    while ancestor is not None and ancestor != query:
        ancestor = doc.generations[ancestor].parent
    if ancestor == query:
        return f"train {what} with 'embedreg adapter train {gallery} {query} --direction forward --texts INPUT'"
    return f"train {what} with 'embedreg adapter train {query} {gallery} --texts INPUT'"


def _retention(record: AdapterRecord) -> float | None:
    value = record.figures.retention
    if value is None or not math.isfinite(value):
        return None
    return max(float(value), 0.0)


def reachable(
    generation: str, *, registry: Registry | None = None, policy: RoutingPolicy | None = None
) -> list[QueryPath]:
    """Every generation queries of ``generation`` can reach, best path first.

    ``policy`` is the :class:`~.policy.RoutingPolicy` (its defaults if
    ``None``); the registry defaults to ``$EMBEDREG_REGISTRY``, else
    ``./.embedreg``.  The generation itself comes first (no mapping).
    Each path's ``.gallery`` is a *generation* name; for the registered
    galleries a generation can search, use :func:`embedreg.compatible`.

    Example:
        >>> [(p.gallery, round(p.quality, 3)) for p in reachable("v3", registry=reg)]  # doctest: +SKIP
        [('v3', 1.0), ('v2', 0.981), ('v1', 0.957)]
    """
    reg = registry if registry is not None else Registry.open()
    return Resolver(reg, policy).reachable(generation)
