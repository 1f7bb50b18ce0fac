"""Query-path resolution: how a query of one generation reaches a gallery of another.

The registry is a graph: generations are nodes; every adapter record is a
directed edge from its source generation to its target; generations with the
same model pin and recipe are joined both ways by identity (they embed into
one space).  Each adapter edge carries its measured held-out *retention*
(``figures["retention"]``); a path's quality is the product of its hops'
retentions, each capped at 1 (a hop that beats its gallery's own queries
gains nothing further down a chain), so a direct adapter competes fairly with
chains of adapters.

:class:`Resolver` finds every simple path of at most ``max_hops`` adapter
hops, ranks them by quality (then by fewer hops), and returns the best as a
:class:`QueryPath`, or raises :class:`~embedreg.errors.NoCompatiblePath` when
there is none or when the best one falls below ``min_quality``.  A
:class:`QueryPath` compiles consecutive affine hops into one affine map, so a
three-hop path costs one matrix multiply per query, and can export itself as
a FAISS ``IndexPreTransform``.

Example:
    >>> from embedreg.resolver import Resolver
    >>> resolver = Resolver(registry)  # doctest: +SKIP
    >>> path = resolver.resolve("v3", "v1")  # doctest: +SKIP
    >>> print(path.explain())  # doctest: +SKIP
    v3 → v1 via v3-to-v2.lambda-orth, v2-to-v1.lambda-orth: quality 0.912 (…)
    >>> old_space = path.apply(v3_query_vectors)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import EmbedRegError, NoCompatiblePath, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .adapters.base import Adapter, AffineMap
    from .records import AdapterRecord
    from .registry import Registry, RegistryDocument

    FloatArray = npt.NDArray[np.float32]

#: FAISS index objects (their type stubs are partial, so embedreg treats them as Any).
FaissIndex: TypeAlias = Any

#: Default longest chain of adapters a query may travel.
DEFAULT_MAX_HOPS = 3
#: Default lowest acceptable path quality (product of the hops' retentions).
DEFAULT_MIN_QUALITY = 0.5
#: Figure of an adapter record that the resolver ranks by.
RETENTION = "retention"


@dataclass(frozen=True)
class Hop:
    """One step of a path: an adapter, or an identity join between equal spaces."""

    source: str
    target: str
    retention: float
    adapter_id: str | None = None
    family: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None  # the adapter's weights, as the registry records them

    @property
    def is_identity(self) -> bool:
        """True for a join of two generations with the same pin and recipe."""
        return self.adapter_id is None

    def describe(self) -> str:
        """``v3 → v2 by v3-to-v2.lambda-orth (lambda-orth, retention 0.981)``."""
        how = (
            "identity (same pin and recipe)"
            if self.is_identity
            else f"{self.adapter_id} ({self.family}"
        )
        if not self.is_identity:
            how += f", retention {self.retention:.3f})"
        return f"{self.source} → {self.target} by {how}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "target": self.target,
            "adapter": self.adapter_id,
            "family": self.family,
            "retention": self.retention,
            "figures": dict(self.figures),
        }


def _quality(hops: Sequence[Hop]) -> float:
    # A hop's retention may exceed 1 (adapted queries beat the gallery's own); that gain is
    # measured against the hop's own target alone, so it is not carried along a chain: losses
    # compound, gains do not, and a chain never outranks a direct adapter by stacking them.
    return math.prod(min(h.retention, 1.0) for h in hops)


def _adapter_hops(hops: Sequence[Hop]) -> int:
    return sum(not h.is_identity for h in hops)


@dataclass(frozen=True)
class Candidate:
    """A path considered by the resolver, with its quality."""

    hops: tuple[Hop, ...]

    @property
    def quality(self) -> float:
        """Product of the hops' retentions, each capped at 1 (1.0 for the empty path)."""
        return _quality(self.hops)

    @property
    def adapter_hops(self) -> int:
        """Number of hops that apply an adapter (identity joins are free)."""
        return _adapter_hops(self.hops)

    def label(self) -> str:
        """The adapters the path uses, or ``same space``."""
        ids = [h.adapter_id for h in self.hops if h.adapter_id]
        return " → ".join(ids) if ids else "same space"


class QueryPath:
    """The chosen route from a query generation to a gallery generation.

    Attributes:
        query: generation that embedded the queries.
        gallery: generation that embedded the gallery.
        hops: the steps, in order (empty when the two are the same generation).
        quality: product of the hops' retentions, each capped at 1.
        alternatives: the other candidates considered, best first.
        renormalize: whether mapped queries are L2-normalised (the gallery's
            recipe normalises its vectors).
    """

    def __init__(
        self,
        query: str,
        gallery: str,
        hops: Sequence[Hop],
        *,
        alternatives: Sequence[Candidate] = (),
        renormalize: bool = False,
        input_dim: int | None = None,
        output_dim: int | None = None,
        loader: Callable[[str], Adapter] | None = None,
    ) -> None:
        self.query = query
        self.gallery = gallery
        self.hops = tuple(hops)
        self.alternatives = tuple(alternatives)
        self.renormalize = renormalize
        self.input_dim = input_dim
        self.output_dim = output_dim
        self._loader = loader
        self._stages: list[AffineMap | Adapter] | None = None
        self._plan: list[tuple[Any, Any, Adapter | None]] | None = None
        self._renormalize_mapped = False
        self._torch_cache: dict[tuple[Any, Any], list[tuple[Any, Any]]] = {}

    def __repr__(self) -> str:
        return f"QueryPath({self.query!r} → {self.gallery!r}, hops={len(self.hops)}, quality={self.quality:.3f})"

    @property
    def quality(self) -> float:
        """Product of the hops' retentions, each capped at 1 (1.0 for the empty path)."""
        return _quality(self.hops)

    @property
    def adapter_ids(self) -> list[str]:
        """Ids of the adapters applied, in order."""
        return [h.adapter_id for h in self.hops if h.adapter_id]

    @property
    def key(self) -> tuple[Any, ...]:
        """What the path computes: its adapters' ids and weight hashes, and re-normalisation."""
        return (
            self.query,
            self.gallery,
            tuple((h.adapter_id, h.sha256) for h in self.hops if not h.is_identity),
            self.renormalize,
        )

    @property
    def is_identity(self) -> bool:
        """True when queries need no mapping at all."""
        return not self.adapter_ids

    # --- explanation ------------------------------------------------------------------

    def explain(self) -> str:
        """Why this path: its hops with their figures, and what it beat."""
        lines = [f"{self.query} → {self.gallery}: quality {self.quality:.3f} ({self._summary()})"]
        lines += [f"  hop {i}: {hop.describe()}" for i, hop in enumerate(self.hops, 1)]
        for alt in self.alternatives[:5]:
            lines.append(
                f"  beat: {alt.label()} (quality {alt.quality:.3f}, {alt.adapter_hops} hop(s))"
            )
        return "\n".join(lines)

    def _summary(self) -> str:
        if self.is_identity:
            return "same space, no mapping"
        n = len(self.adapter_ids)
        return f"{n} adapter hop{'s' if n != 1 else ''}: {' → '.join(self.adapter_ids)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``embedreg resolve --json`` prints)."""
        return {
            "query": self.query,
            "gallery": self.gallery,
            "quality": self.quality,
            "hops": [h.to_dict() for h in self.hops],
            "adapters": self.adapter_ids,
            "renormalize": self.renormalize,
            "alternatives": [
                {"adapters": [h.adapter_id for h in a.hops if h.adapter_id], "quality": a.quality}
                for a in self.alternatives
            ],
        }

    # --- compiling and applying ------------------------------------------------------

    @property
    def stages(self) -> list[AffineMap | Adapter]:
        """The path as applied: runs of affine hops merged into one map each.

        Loading the adapters happens here, the first time it is needed.
        """
        if self._stages is None:
            self._stages = self._compile()
        return self._stages

    def _compile(self) -> list[AffineMap | Adapter]:
        ids = self.adapter_ids
        if ids and self._loader is None:
            raise EmbedRegError(
                f"path {self.query} → {self.gallery} has no adapter loader",
                "get paths from Resolver(registry).resolve(...)",
            )
        stages: list[AffineMap | Adapter] = []
        from .adapters.base import AffineMap

        for adapter_id in ids:
            assert self._loader is not None
            adapter = self._loader(adapter_id)
            affine = adapter.affine()
            if affine is not None and stages and isinstance(stages[-1], AffineMap):
                stages[-1] = stages[-1].then(affine)
            else:
                stages.append(affine if affine is not None else adapter)
        return stages

    @property
    def affine(self) -> AffineMap | None:
        """The whole path as one affine map (``None`` if a hop is not affine or no hop maps)."""
        from .adapters.base import AffineMap

        stages = self.stages
        if len(stages) == 1 and isinstance(stages[0], AffineMap):
            return stages[0]
        return None

    def apply(self, x: Any) -> Any:
        """Map query vectors into the gallery's space.

        Takes a float32 numpy array ``(N, d_query)`` or a torch tensor (kept on
        its device) and returns the same kind, ``(N, d_gallery)``, L2-normalised
        when the gallery's recipe normalises.

        To map queries right before a FAISS search, prefer :meth:`to_faiss`
        (as :meth:`Gallery.search_vectors <embedreg.gallery.Gallery.search_vectors>`
        does): numpy's BLAS threads keep spinning after the product and slow
        FAISS's own threads down on small machines (bench/RESULTS.md).

        Example::

            path = embedreg.resolve("v3", "v2", registry=reg)
            old_space = path.apply(v3_queries)   # (N, 384), unit rows
        """
        if _is_torch(x):
            return self._apply_torch(x)
        import numpy as np

        out = (
            x
            if isinstance(x, np.ndarray) and x.dtype == np.float32
            else np.asarray(x, dtype=np.float32)
        )
        if out.ndim != 2:
            raise ValidationError(f"query vectors must be a 2-D batch, got shape {out.shape}")
        self._check_input(out.shape[1])
        plan = self._numpy_plan()
        for weight_t, bias, adapter in plan:
            if adapter is None:
                out = out @ weight_t  # a fresh array: the caller's queries are never changed
                out += bias
            else:
                out = np.asarray(adapter.transform(out), dtype=np.float32)
        if not plan:
            return out
        if self._renormalize_mapped:
            norms = np.sqrt(np.einsum("ij,ij->i", out, out))
            np.maximum(norms, 1e-12, out=norms)
            out /= norms[:, None]
        return np.ascontiguousarray(out)

    def _numpy_plan(self) -> list[tuple[Any, Any, Adapter | None]]:
        """Stages ready for numpy: ``(Wᵀ contiguous, b, None)`` or ``(None, None, adapter)``."""
        if self._plan is None:
            import numpy as np

            from .adapters.base import AffineMap

            self._plan = [
                (
                    np.ascontiguousarray(s.W.T, dtype=np.float32),
                    np.asarray(s.b, dtype=np.float32),
                    None,
                )
                if isinstance(s, AffineMap)
                else (None, None, s)
                for s in self.stages
            ]
            self._renormalize_mapped = self.renormalize and bool(self._plan)
        return self._plan

    def _apply_torch(self, x: Any) -> Any:
        import torch

        from .adapters.base import AffineMap

        self._check_input(int(x.shape[-1]))
        key = (x.device, x.dtype)
        if key not in self._torch_cache:
            self._torch_cache[key] = [
                (
                    torch.as_tensor(s.W, device=x.device, dtype=x.dtype),
                    torch.as_tensor(s.b, device=x.device, dtype=x.dtype),
                )
                if isinstance(s, AffineMap)
                else (None, None)
                for s in self.stages
            ]
        out = x
        for stage, (w, b) in zip(self.stages, self._torch_cache[key], strict=False):
            if w is not None:
                out = torch.addmm(b, out, w.T)
            else:
                mapped = stage.transform(out.detach().float().cpu().numpy())  # type: ignore[union-attr]
                out = torch.as_tensor(mapped, device=x.device, dtype=x.dtype)
        if self.renormalize and not self.is_identity:
            out = torch.nn.functional.normalize(out, dim=-1)
        return out

    def _check_input(self, dim: int) -> None:
        if self.input_dim is not None and dim != self.input_dim:
            from .errors import DimensionMismatch

            raise DimensionMismatch(
                self.input_dim,
                dim,
                f"queries of generation {self.query!r}",
                f"embed the queries with generation {self.query!r}",
            )

    def to_faiss(self, index: FaissIndex) -> FaissIndex:
        """Wrap ``index`` so that it takes query vectors of the query generation.

        Returns a FAISS ``IndexPreTransform`` applying the compiled path as one
        ``LinearTransform`` (plus a ``NormalizationTransform`` when the gallery
        normalises); the identity path returns ``index`` itself.  Only
        all-affine paths can be exported.
        """
        import faiss
        import numpy as np

        if self.is_identity:
            return index
        affine = self.affine
        if affine is None:
            families = sorted({h.family or "?" for h in self.hops if h.adapter_id})
            raise EmbedRegError(
                f"path {self.query} → {self.gallery} goes through a non-affine adapter ({', '.join(families)})",
                "it cannot be a FAISS pre-transform; map queries with QueryPath.apply instead",
            )
        if affine.output_dim != index.d:
            from .errors import DimensionMismatch

            raise DimensionMismatch(
                index.d, affine.output_dim, f"path {self.query} → {self.gallery} output"
            )
        lt = faiss.LinearTransform(affine.input_dim, affine.output_dim, True)
        faiss.copy_array_to_vector(np.ascontiguousarray(affine.W, dtype=np.float32).ravel(), lt.A)
        faiss.copy_array_to_vector(np.ascontiguousarray(affine.b, dtype=np.float32), lt.b)
        lt.is_trained = True
        wrapped = faiss.IndexPreTransform(index)
        if self.renormalize:
            wrapped.prepend_transform(faiss.NormalizationTransform(affine.output_dim, 2.0))
        wrapped.prepend_transform(lt)
        return wrapped


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


class Resolver:
    """Finds the best measured path between generations of one registry.

    Args:
        registry: the registry whose generations and adapters form the graph.
        max_hops: longest chain of adapters considered.
        min_quality: paths whose quality (product of retentions) is lower are refused.
        loader: loads an adapter by id (default: strict loading from the registry).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        max_hops: int = DEFAULT_MAX_HOPS,
        min_quality: float = DEFAULT_MIN_QUALITY,
        loader: Callable[[str], Adapter] | None = None,
    ) -> None:
        if max_hops < 0:
            raise ValidationError(f"max_hops must be ≥ 0, got {max_hops}")
        if not min_quality >= 0.0:
            raise ValidationError(f"min_quality must be ≥ 0, got {min_quality}")
        self.registry = registry
        self.max_hops = max_hops
        self.min_quality = min_quality
        self._loader = loader
        self._loaded: dict[str, Adapter] = {}

    def _load(self, adapter_id: str) -> Adapter:
        if adapter_id not in self._loaded:
            if self._loader is not None:
                self._loaded[adapter_id] = self._loader(adapter_id)
            else:
                from .adapt import load_registered_adapter

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
                    dict(rec.figures),
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
        """Every simple path from ``query`` to ``gallery`` within ``max_hops`` adapter hops, best first."""
        doc = doc or self.registry.document()
        src, dst = doc.resolve(query), doc.resolve(gallery)
        if src == dst:
            return [Candidate(())]
        graph = self.edges(doc)
        found = [Candidate(tuple(hops)) for hops in self._walk(graph, src, dst, [src], [])]
        found.sort(key=lambda c: (-c.quality, c.adapter_hops, len(c.hops), c.label()))
        return found

    def _walk(
        self, graph: dict[str, list[Hop]], node: str, dst: str, seen: list[str], hops: list[Hop]
    ) -> Iterator[list[Hop]]:
        for hop in graph.get(node, []):
            if hop.target in seen:
                continue
            if _adapter_hops(hops) + (0 if hop.is_identity else 1) > self.max_hops:
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
            NoCompatiblePath: no path within ``max_hops``, or none of at least ``min_quality``.
        """
        doc = self.registry.document()
        q, g = doc.generation(query), doc.generation(gallery)
        found = self.candidates(q.name, g.name, doc)
        if not found:
            unmeasured = [a.id for a in doc.adapters.values() if _retention(a) is None]
            reason = f"no chain of at most {self.max_hops} measured adapter(s) leads there"
            if unmeasured:
                reason += f" (unmeasured adapters are not used: {', '.join(sorted(unmeasured))})"
            raise NoCompatiblePath(q.name, g.name, reason, _train_hint(doc, q.name, g.name))
        best = found[0]
        if best.quality < self.min_quality:
            raise NoCompatiblePath(
                q.name,
                g.name,
                f"the best path ({best.label()}) has quality {best.quality:.3f}, "
                f"below the minimum {self.min_quality:.3f}",
                _train_hint(doc, q.name, g.name, "a better adapter")
                + ", or lower the minimum quality",
            )
        return QueryPath(
            q.name,
            g.name,
            best.hops,
            alternatives=found[1:],
            renormalize=g.recipe.normalize,
            input_dim=q.dimension,
            output_dim=g.dimension,
            loader=self._load,
        )

    def compatible(self, generation: str) -> list[QueryPath]:
        """Paths from ``generation`` to every generation it can reach, best first."""
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
    value = record.figures.get(RETENTION)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return max(float(value), 0.0)


def resolve(
    query: str,
    gallery: Any,
    *,
    registry: Registry | None = None,
    max_hops: int = DEFAULT_MAX_HOPS,
    min_quality: float = DEFAULT_MIN_QUALITY,
) -> QueryPath:
    """The best path for queries of generation ``query`` to reach ``gallery``.

    ``gallery`` is a generation name or alias, a gallery registered in the
    registry (by name), a gallery folder, or a loaded
    :class:`~embedreg.gallery.Gallery`.  A gallery whose items come from
    several generations (after a partial upgrade) has one path per segment:
    use :meth:`Gallery.routes <embedreg.gallery.Gallery.routes>` for it.

    Example:
        >>> import embedreg
        >>> path = embedreg.resolve("v3", "news", registry=embedreg.Registry.open())  # doctest: +SKIP
        >>> path.adapter_ids, round(path.quality, 3)  # doctest: +SKIP
        (['v3-to-v2.lambda-orth'], 0.981)

    Raises:
        UnknownGeneration / UnknownGallery: a name the registry does not know.
        NoCompatiblePath: no measured path, or none good enough.
    """
    import os
    from pathlib import Path

    from .errors import UnknownGallery, UnknownGeneration
    from .gallery import MANIFEST, Gallery
    from .registry import Registry

    reg = registry if registry is not None else Registry.open()
    resolver = Resolver(reg, max_hops=max_hops, min_quality=min_quality)
    if isinstance(gallery, Gallery):
        generations = gallery.generations
    else:
        target = os.fspath(gallery)
        doc = reg.document()
        if target in doc.generations or target in doc.aliases:
            return resolver.resolve(query, target)
        if target in doc.galleries:
            target = doc.galleries[target].location
        if not (Path(target) / MANIFEST).exists():
            known = list(doc.galleries)
            if os.sep in target or Path(target).exists():
                raise UnknownGallery(target, known)
            raise UnknownGeneration(target, [*doc.generations, *doc.aliases, *known])
        generations = Gallery.load(target, verify=False).generations
    if len(generations) != 1:
        raise ValidationError(
            f"the gallery holds items of several generations ({', '.join(generations)})",
            "use Gallery.routes(generation, registry=...) for one path per segment",
        )
    return resolver.resolve(query, generations[0])
