"""``embedreg upgrade plan``: what each way of moving a gallery to a new generation costs and gives.

Four strategies, side by side (:data:`STRATEGIES`):

- ``adapt-queries``: nothing changes on disk; the target's queries take the
  best measured path to each segment (the microseconds it adds per query
  are measured);
- ``forward``: the stored vectors are mapped into the target's space by a
  forward path, without running any model;
- ``partial``: a fraction of the items is re-embedded with the target, in
  an order (:mod:`.selection`), and the rest is searched through the path;
- ``reembed``: every item is re-embedded with the target.

Each row gives the estimated wall time (from rates measured here: the
target encoding a sample of the gallery's own items on the device, the
forward path's matrix multiply, FAISS adds), the extra disk and the peak
memory, the expected quality with its basis and interval (:mod:`.quality`),
and what is missing, with the command that makes it.  The recommendation is
the cheapest strategy whose quality is not measurably below the best one's,
or ``none`` (no upgrade needed) when the gallery is already the target's or
the target is not measurably better than its generation.

Example:
    >>> p = plan(reg, "galleries/news", "v3")  # doctest: +SKIP
    >>> p.recommendation, p.row("reembed").seconds  # doctest: +SKIP
    ('reembed', 41.2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import Strategy
from ..errors import EmbedRegError, ModelLoadError, NoCompatiblePath
from ..gallery import Gallery
from ..registry import AdapterRecord, Registry
from ..routing import QueryPath, Resolver, RoutingPolicy
from . import costs
from .kinds import kind_rows
from .options import PartialChoice
from .quality import Estimate, forward_quality, partial_quality, path_quality, reembed_quality

__all__ = ["STRATEGIES", "StrategyRow", "UpgradePlan", "plan"]

#: The strategies compared (:class:`~embedreg.constants.Strategy`).
STRATEGIES: tuple[str, ...] = Strategy.values()


@dataclass(frozen=True, kw_only=True)
class StrategyRow:
    """One strategy of a plan.

    Attributes:
        strategy: one of :data:`STRATEGIES`.
        items: items it re-embeds or maps.
        quality: expected quality (1.0 = today's search), with basis and interval.
        seconds: estimated wall time (``None`` when a rate could not be measured).
        disk_bytes: extra disk while it runs and until ``finalize``.
        memory_bytes: peak memory of the process that runs it.
        query_us: microseconds added to each query of the target generation.
        needs: what is missing, each with the command that makes it.
        notes: what the estimates rest on.
    """

    strategy: str
    items: int
    quality: Estimate
    seconds: float | None
    disk_bytes: int | None
    memory_bytes: int | None
    query_us: float | None = None
    needs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fraction: float | None = None
    order: str | None = None

    @property
    def available(self) -> bool:
        """True when nothing is missing."""
        return not self.needs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "strategy": self.strategy,
            "available": self.available,
            "items": self.items,
            "quality": self.quality.to_dict(),
            "seconds": None if self.seconds is None else round(self.seconds, 4),
            "disk_bytes": self.disk_bytes,
            "memory_bytes": self.memory_bytes,
            "query_us": None if self.query_us is None else round(self.query_us, 2),
            "needs": list(self.needs),
            "notes": list(self.notes),
            "fraction": self.fraction,
            "order": self.order,
        }


@dataclass(frozen=True, kw_only=True)
class UpgradePlan:
    """The strategies for one gallery and target, and the one to take."""

    gallery: str
    name: str | None
    target: str
    count: int
    segments: dict[str, int]
    rows: list[StrategyRow]
    recommendation: str
    reason: str
    command: str | None
    rates: dict[str, Any]

    def row(self, strategy: str) -> StrategyRow:
        """The row of ``strategy``."""
        return next(r for r in self.rows if r.strategy == strategy)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``upgrade plan --json`` prints)."""
        return {
            "gallery": self.gallery,
            "name": self.name,
            "target": self.target,
            "count": self.count,
            "segments": dict(self.segments),
            "strategies": [r.to_dict() for r in self.rows],
            "recommendation": self.recommendation,
            "reason": self.reason,
            "command": self.command,
            "rates": self.rates,
        }


def _weighted(estimates: list[tuple[Estimate, int]], detail: str) -> Estimate:
    """Item-weighted mean of per-segment estimates (``None`` when one is unknown)."""
    if not estimates:
        return Estimate(1.0, 1.0, 1.0, "measured", "nothing to change")
    if len(estimates) == 1:
        return estimates[0][0]
    total = sum(n for _, n in estimates) or 1

    def mean(key: str) -> float | None:
        values: list[float | None] = [getattr(e, key) for e, _ in estimates]
        known = [v for v in values if v is not None]
        if len(known) < len(values):
            return None
        return round(sum(v * n for v, (_, n) in zip(known, estimates, strict=True)) / total, 4)

    basis = "measured" if all(e.basis == "measured" for e, _ in estimates) else "estimate"
    return Estimate(mean("value"), mean("low"), mean("high"), basis, detail)


def _path(resolver: Resolver, query: str, gallery: str) -> QueryPath | None:
    try:
        return resolver.resolve(query, gallery)
    except NoCompatiblePath:
        return None


def plan(
    registry: Registry,
    folder: str | os.PathLike[str],
    to: str,
    *,
    sample: int = 64,
    partial: PartialChoice | None = None,
    device: str = "auto",
    batch_size: int = 32,
    policy: RoutingPolicy | None = None,
) -> UpgradePlan:
    """Compare the four strategies for moving the gallery at ``folder`` to generation ``to``.

    ``sample`` items of the gallery are encoded with ``to`` on ``device`` to
    measure its rate (0: no model is loaded, and times that need it are
    unknown).  ``partial`` (its fraction and order) describes the ``partial``
    row.  A path below the routing ``policy``'s minimum quality counts as
    missing for ``adapt-queries``; with its ``require_compatible`` so does a
    path through an adapter that fails the compatibility criterion.

    Raises:
        NotFound / GalleryError: no readable gallery at ``folder``.
        UnknownGeneration: ``to`` is not registered.
    """
    import numpy as np

    partial = partial if partial is not None else PartialChoice()
    fraction, order = partial.fraction, partial.order
    root = Path(folder)
    g = Gallery.load(root)
    target = registry.generation(to)
    doc = registry.document()
    adapters = list(doc.adapters.values())
    by_id: dict[str, AdapterRecord] = doc.adapters
    segments = {name: seg.count for name, seg in g.segments.items()}
    old = {name: n for name, n in segments.items() if name != target.name and n > 0}
    n_old = sum(old.values())
    policy = policy if policy is not None else RoutingPolicy()
    min_quality, require_compatible = policy.floor, policy.require_compatible
    resolver = Resolver(registry, policy.replace(min_quality=None, require_compatible=False))
    back = {s: _path(resolver, target.name, s) for s in old}
    fwd = {s: _path(resolver, s, target.name) for s in old}
    texts = {s: [i for i in g.ids(s) if g.item(i).text] for s in old}
    untexted = n_old - sum(len(v) for v in texts.values())
    rates: dict[str, Any] = {}
    notes_time: list[str] = []

    # --- measurements -------------------------------------------------------------------
    encode: costs.EncodeRate | None = None
    pool = [i for s in old for i in texts[s]]
    if sample > 0 and pool:
        picks = [pool[int(k)] for k in np.linspace(0, len(pool) - 1, min(sample, len(pool)))]
        try:
            encode = costs.measure_encoding(
                target,
                [g.item(i).text or "" for i in picks],
                device=device,
                batch_size=batch_size,
            )
            rates["encode"] = encode.to_dict()
        except (ModelLoadError, EmbedRegError) as exc:
            notes_time.append(f"{target.name} could not be loaded to measure it: {exc}")
    elif sample == 0:
        notes_time.append("no sample encoded (--sample 0): re-embedding times unknown")
    rng = np.random.default_rng(0)
    probe = encode.vectors if encode is not None else None
    if probe is None:
        probe = rng.standard_normal((64, target.dimension)).astype(np.float32)
    add_rate = costs.measure_add(g.index_spec, g.metric, np.tile(probe, (8, 1)))
    rates["faiss_add_per_second"] = round(add_rate, 1)
    map_rates: dict[str, float] = {}
    for s, path in fwd.items():
        if path is not None:
            ids = g.ids(s)[:2048]
            map_rates[s] = costs.measure_map(path, g.vectors(ids))
    rates["forward_map_per_second"] = {s: round(r, 1) for s, r in map_rates.items()}
    query_us = {s: costs.measure_query_overhead(p, probe) for s, p in back.items() if p}
    rates["query_us"] = {s: round(v, 2) for s, v in query_us.items()}

    # --- sizes ------------------------------------------------------------------------------
    spec = g.index_spec
    items_file = root / str(g.manifest()["items_file"] or "")
    items_size = items_file.stat().st_size if items_file.is_file() else 0
    live_index = sum(
        costs.index_bytes(spec, seg.dimension, seg.count) for seg in g.segments.values()
    )
    model = costs.model_bytes(target)
    dim = target.dimension

    def new_version(reembedded: int) -> int:
        kept = sum(
            costs.index_bytes(spec, seg.dimension, seg.count)
            for name, seg in g.segments.items()
            if name != target.name
        ) * (1 - reembedded / n_old if n_old else 0)
        done = segments.get(target.name, 0) + reembedded
        return int(kept + costs.index_bytes(spec, dim, done) + items_size)

    def work(reembedded: int) -> int:
        return reembedded * (4 * dim + 48) + int(items_size * reembedded / max(len(g), 1))

    def encode_seconds(n: int) -> float | None:
        if encode is None:
            return None
        return encode.load_seconds + n / encode.items_per_second + n / add_rate

    # --- rows ---------------------------------------------------------------------------
    needs_back = (
        [
            f"no measured path for {target.name} queries to reach segment {s}: "
            f"embedreg adapter train {target.name} {s} --texts INPUT"
            for s, p in back.items()
            if p is None
        ]
        + [
            f"the best path from {target.name} to {s} has quality {p.quality:.3f}, below "
            f"{min_quality:g}: embedreg adapter train {target.name} {s} --texts INPUT (a better one)"
            for s, p in back.items()
            if p is not None and p.quality < min_quality
        ]
        + [
            f"the best path from {target.name} to {s} fails the compatibility criterion "
            f"(--require-compatible): embedreg adapter train {target.name} {s} --texts INPUT"
            for s, p in back.items()
            if require_compatible and p is not None and p.criterion == "fail"
        ]
    )
    needs_fwd = [
        f"no forward path from {s} to {target.name}: "
        f"embedreg adapter train {target.name} {s} --direction forward --texts INPUT"
        for s, p in fwd.items()
        if p is None
    ]
    needs_text = (
        [
            f"{untexted} item(s) have no text (built from an embeddings file): rebuild from "
            f"the original inputs with embedreg gallery build {target.name} INPUT -o NEWDIR"
        ]
        if untexted
        else []
    )
    adapt = _weighted(
        [(path_quality(p, by_id), old[s]) for s, p in back.items() if p is not None],
        "item-weighted over the segments' paths",
    )
    if needs_back:
        adapt = Estimate(None, basis="not measured", detail="a segment has no path")
    reembed_q = _weighted(
        [(reembed_quality(adapters, s, target.name), old[s]) for s in old],
        "item-weighted over the segments",
    )
    fwd_parts: list[tuple[Estimate, int]] = []
    for s, p in fwd.items():
        if p is None:
            continue
        one = (
            forward_quality(by_id[p.adapter_ids[0]])
            if len(p.adapter_ids) == 1
            else Estimate(p.quality, None, None, "estimate", "a chain: product of retentions")
        )
        fwd_parts.append((one, old[s]))
    fwd_q = (
        _weighted(fwd_parts, "item-weighted over the segments' forward paths")
        if not needs_fwd
        else Estimate(None, basis="not measured", detail="a segment has no forward path")
    )
    n_part = max(1, round(fraction * n_old)) if n_old else 0
    part_q = partial_quality(fraction, adapt, reembed_q)
    part_needs = needs_back + (needs_text if len(pool) < n_part else [])
    if order == "worst":
        part_needs += needs_fwd
    memory_switch = live_index + costs.index_bytes(spec, dim, n_old + segments.get(target.name, 0))
    model_mem = None if model is None else model + memory_switch
    scale = "on 1 process; --num-processes N shares the encoding among N processes"
    rows = [
        StrategyRow(
            strategy=Strategy.ADAPT_QUERIES.value,
            items=0,
            quality=adapt,
            seconds=0.0,
            disk_bytes=0,
            memory_bytes=sum(costs.adapter_bytes(p) for p in back.values() if p),
            query_us=max(query_us.values(), default=None),
            needs=needs_back,
            notes=["the gallery stays as it is; queries are mapped (one matrix multiply)"],
        ),
        StrategyRow(
            strategy=Strategy.FORWARD.value,
            items=n_old,
            quality=fwd_q,
            seconds=sum(old[s] / r for s, r in map_rates.items()) + n_old / add_rate
            if not needs_fwd
            else None,
            disk_bytes=new_version(n_old),
            memory_bytes=memory_switch,
            query_us=None,
            needs=needs_fwd,
            notes=["measured matrix-multiply and FAISS add rates; no model runs"],
        ),
        StrategyRow(
            strategy=Strategy.PARTIAL.value,
            items=n_part,
            quality=part_q,
            seconds=encode_seconds(n_part),
            disk_bytes=new_version(n_part) + work(n_part),
            memory_bytes=model_mem,
            query_us=max(query_us.values(), default=None),
            needs=part_needs,
            notes=[scale, *notes_time],
            fraction=fraction,
            order=order,
        ),
        StrategyRow(
            strategy=Strategy.REEMBED.value,
            items=n_old,
            quality=reembed_q,
            seconds=encode_seconds(n_old),
            disk_bytes=new_version(n_old) + work(n_old),
            memory_bytes=model_mem,
            query_us=0.0,
            needs=needs_text,
            notes=[scale, *notes_time],
        ),
    ]
    rows += [
        StrategyRow(
            strategy=r["strategy"], items=0, quality=r["quality"], seconds=0.0, disk_bytes=0,
            memory_bytes=r["memory_bytes"], query_us=None, needs=r["needs"], notes=r["notes"],
        )
        for r in kind_rows(registry, target.name, old, {s: len(v) for s, v in texts.items()})
    ]  # fmt: skip
    rec, reason = _recommend(rows, target.name, sorted(old), n_old)
    command = None
    if rec != "none" and not rec.startswith("adapt-queries"):
        command = f"embedreg upgrade apply {folder} --to {target.name} --strategy {rec}"
        if rec == "partial":
            command += f" --fraction {fraction:g} --order {order}"
    return UpgradePlan(
        gallery=str(folder),
        name=g.name,
        target=target.name,
        count=len(g),
        segments=segments,
        rows=rows,
        recommendation=rec,
        reason=reason,
        command=command,
        rates=rates,
    )


def _recommend(rows: list[StrategyRow], target: str, old: list[str], n_old: int) -> tuple[str, str]:
    """The strategy to take and why (``none``: no upgrade needed)."""
    if n_old == 0:
        return "none", f"no upgrade needed: every item is already embedded by {target}"
    by = {r.strategy: r for r in rows}
    gain = by["reembed"].quality
    olds = ", ".join(old)
    if not gain.better_than(1.0):
        why = (
            f"{target} is not measurably better than {olds} for this gallery "
            f"({gain.label()} of today's quality: {gain.detail})"
        )
        if by["adapt-queries"].available:
            why += f"; {target} queries can search it as it is (adapt-queries, {by['adapt-queries'].quality.label()})"
        return "none", "no upgrade needed: " + why
    usable = [r for r in rows if r.available and r.quality.value is not None]
    if not usable:
        return "none", "no strategy is possible yet: " + "; ".join(by["reembed"].needs)
    best = max(usable, key=lambda r: r.quality.value or 0.0)
    assert best.quality.value is not None
    close = [
        r
        for r in usable
        if (r.quality.high if r.quality.high is not None else r.quality.value or 0.0)
        >= best.quality.value
    ]
    pick = min(
        close,
        key=lambda r: (float("inf") if r.seconds is None else r.seconds, -(r.quality.value or 0)),
    )
    why = (
        f"{pick.strategy}: expected quality {pick.quality.label()} ({pick.quality.basis}), "
        f"the cheapest not measurably below the best ({best.strategy}, {best.quality.label()})"
    )
    return pick.strategy, why
