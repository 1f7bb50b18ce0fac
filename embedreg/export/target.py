"""What an export carries: a query path from one generation's texts into another's space.

:func:`export_plan` turns what the user names into an :class:`ExportPlan`:

* a registered **adapter id** (``v2-short-to-v2.auto``): that adapter alone,
  from its source generation into its target's space;
* ``NEW:OLD`` (two generation names or aliases; ``:`` never occurs in a name):
  the best measured path the :class:`~embedreg.routing.Resolver` finds, with
  the caller's routing limits, compiled like any query path.

A plan is refused, before any model loads, when a model of the requested
format cannot carry it (:class:`~embedreg.errors.ExportRefused`): a path whose
*kind* needs more than one model (:data:`UNEXPORTABLE_KINDS`), a hop that is
not an affine map, or a generation that does not embed text.

Example:
    >>> split_pair("v2-short:v2"), split_pair("v2-short-to-v2.auto")
    (('v2-short', 'v2'), None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters import AffineMap, affine_families, load_registered_adapter
from ..constants import ROLES
from ..errors import ExportRefused, UnknownAdapter, ValidationError
from ..registry import AdapterRecord, Generation, Registry
from ..routing import QueryPath, Resolver, RoutingPolicy
from ..routing.hops import Hop

__all__ = [
    "EXPORTABLE_KINDS",
    "UNEXPORTABLE_KINDS",
    "ExportPlan",
    "export_plan",
    "path_kind",
    "split_pair",
]

#: Path kinds one sentence-transformers model can carry: texts → one model → maps.
EXPORTABLE_KINDS: frozenset[str] = frozenset({"map"})

#: Path kinds that cannot be exported, and why (a kind missing here is refused too,
#: with a generic reason; a new kind that one model can carry joins EXPORTABLE_KINDS).
UNEXPORTABLE_KINDS: Mapping[str, str] = {
    "fused": (
        "a fused path combines the vectors of two models (the query generation's and "
        "another's), and a sentence-transformers model runs one model"
    ),
    "cascade": (
        "a cascade path runs a second model on what the first one found, and a "
        "sentence-transformers model runs one model"
    ),
}


def split_pair(what: str) -> tuple[str, str] | None:
    """``NEW:OLD`` → ``(NEW, OLD)``; anything else (an adapter id) → ``None``."""
    if ":" not in what:
        return None
    new, _, old = what.partition(":")
    if not new or not old or ":" in old:
        raise ValidationError(
            f"{what!r} is not NEW:OLD", "name two generations, e.g. v3:v1, or an adapter id"
        )
    return new.strip(), old.strip()


def path_kind(path: QueryPath) -> str:
    """The kind of ``path`` (``map`` for paths that predate kinds)."""
    return str(getattr(path, "kind", "map"))


@dataclass(frozen=True)
class ExportPlan:
    """A path to export, with both generations and the role whose prefix ``encode`` applies.

    Attributes:
        path: the query path (its adapters load on first use of ``maps``).
        source: the generation whose model embeds the texts.
        target: the generation whose space the vectors end in.
        role: ``query`` or ``document``: the prefix the exported ``encode()``
            applies by default (``encode_query`` / ``encode_document`` pick their own).
        adapter_id: the adapter named, when one was (else ``None``: a resolved path).
    """

    path: QueryPath
    source: Generation
    target: Generation
    role: str
    adapter_id: str | None = None

    @property
    def maps(self) -> list[AffineMap]:
        """The path as affine maps, runs of hops merged (empty when no hop maps)."""
        out = []
        for stage in self.path.stages:
            if not isinstance(stage, AffineMap):  # refused by export_plan already
                raise ExportRefused(f"path {self.label} has a hop that is not affine")
            out.append(stage)
        return out

    @property
    def label(self) -> str:
        """``v2-short → v2`` (and the adapters, when there are any)."""
        ids = self.path.adapter_ids
        via = f" by {' → '.join(ids)}" if ids else " (same space)"
        return f"{self.source.name} → {self.target.name}{via}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source.name,
            "target": self.target.name,
            "role": self.role,
            "adapter": self.adapter_id,
            "kind": path_kind(self.path),
            "path": self.path.to_dict(),
        }


def export_plan(
    registry: Registry,
    what: str,
    *,
    role: str | None = None,
    policy: RoutingPolicy | None = None,
) -> ExportPlan:
    """The plan of exporting adapter id ``what``, or the resolved path ``NEW:OLD``.

    ``role`` defaults to ``query`` (``document`` for a forward adapter: it maps
    gallery items).  The routing ``policy`` applies to ``NEW:OLD`` only.

    Raises:
        UnknownAdapter, UnknownGeneration: nothing of that name.
        NoCompatiblePath: no path within the limits.
        ExportRefused: a model of one network cannot carry the path.
    """
    if role is not None and role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    doc = registry.document()
    pair = split_pair(what)
    if pair is not None:
        resolver = Resolver(registry, policy)
        path = resolver.resolve(*pair)
        adapter_id = None
        default_role = "query"
    else:
        if what not in doc.adapters:
            raise UnknownAdapter(what, doc.adapters)
        record = doc.adapters[what]
        path = _adapter_path(registry, record)
        adapter_id = record.id
        default_role = "document" if record.direction == "forward" else "query"
    plan = ExportPlan(
        path,
        doc.generation(path.query),
        doc.generation(path.gallery),
        role or default_role,
        adapter_id,
    )
    _check_exportable(plan)
    return plan


def _adapter_path(registry: Registry, record: AdapterRecord) -> QueryPath:
    doc = registry.document()
    source, target = doc.generations[record.source], doc.generations[record.target]
    retention = record.figures.retention
    hop = Hop(
        record.source,
        record.target,
        float(retention) if retention is not None else math.nan,
        record.id,
        record.family,
        record.figures,
        record.sha256,
    )
    return QueryPath(
        source.name,
        target.name,
        (hop,),
        renormalize=target.recipe.normalize,
        input_dim=source.dimension,
        output_dim=target.dimension,
        loader=lambda ident: load_registered_adapter(registry, ident).adapter,
    )


def _check_exportable(plan: ExportPlan) -> None:
    kind = path_kind(plan.path)
    if kind not in EXPORTABLE_KINDS:
        reason = UNEXPORTABLE_KINDS.get(kind, f"paths of kind {kind!r} are not exportable")
        raise ExportRefused(
            f"path {plan.label} is a {kind} path: {reason}",
            "export a map path (an adapter id, or NEW:OLD routed through adapters only)",
        )
    for gen in (plan.source, plan.target):
        if gen.modality != "text":
            raise ExportRefused(
                f"generation {gen.name!r} embeds {gen.modality}, and the export carries text models only",
                "export a path between text generations",
            )
    for stage in plan.path.stages:  # loads the adapters (small files; no model)
        if isinstance(stage, AffineMap):
            continue
        raise ExportRefused(
            f"path {plan.label} goes through family {stage.family}, which is not an affine "
            "map, and sentence-transformers has no standard module that applies it",
            f"export an affine adapter ({', '.join(affine_families())}) "
            "or a path through affine adapters only",
        )
