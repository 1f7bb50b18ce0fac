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
the cheapest strategy whose quality is not measurably below the best one's
(a one-off cost is preferred to one paid on every query: a fused path or a
cascade is recommended only when no strategy without extra encoder passes
per query is as good), or ``none`` (no upgrade needed) when the gallery is already the target's or
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
from ..registry import AdapterRecord, Registry
from ..routing import Resolver, RoutingPolicy
from . import costs
from .kinds import kind_rows
from .options import PartialChoice
from .quality import Estimate, forward_quality, partial_quality, path_quality, reembed_quality
from .survey import Rates, Sizes, Survey, measure_rates, survey_gallery

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
        extra_encodes: encoder passes each query costs besides its own
            (fused: 1; cascade: its K candidates), paid on every query.
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
    extra_encodes: int = 0

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
            "extra_encodes": self.extra_encodes,
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


@dataclass(frozen=True, kw_only=True)
class _Needs:
    """What is missing for a strategy, each with the command that makes it."""

    back: list[str]  # paths for the target's queries (adapt-queries, partial)
    fwd: list[str]  # forward paths (forward, partial in the worst order)
    text: list[str]  # texts to re-embed (reembed, partial)


def _needs(survey: Survey, policy: RoutingPolicy) -> _Needs:
    target = survey.target.name
    train = f"embedreg adapter train {target}"
    back = [
        f"no measured path for {target} queries to reach segment {s}: {train} {s} --texts INPUT"
        for s, p in survey.back.items()
        if p is None
    ]
    floor = policy.floor
    back += [
        f"the best path from {target} to {s} has quality {p.quality:.3f}, below "
        f"{floor:g}: {train} {s} --texts INPUT (a better one)"
        for s, p in survey.back.items()
        if p is not None and p.quality < floor
    ]
    back += [
        f"the best path from {target} to {s} fails the compatibility criterion "
        f"(--require-compatible): {train} {s} --texts INPUT"
        for s, p in survey.back.items()
        if policy.require_compatible and p is not None and p.criterion == "fail"
    ]
    fwd = [
        f"no forward path from {s} to {target}: {train} {s} --direction forward --texts INPUT"
        for s, p in survey.fwd.items()
        if p is None
    ]
    text = [
        f"{survey.untexted} item(s) have no text (built from an embeddings file): rebuild from "
        f"the original inputs with embedreg gallery build {target} INPUT -o NEWDIR"
    ]
    return _Needs(back=back, fwd=fwd, text=text if survey.untexted else [])


@dataclass(frozen=True, kw_only=True)
class _Qualities:
    """The expected quality of each strategy that moves no query (1.0 = today's search)."""

    adapt: Estimate
    forward: Estimate
    reembed: Estimate


def _qualities(registry: Registry, survey: Survey, needs: _Needs) -> _Qualities:
    by_id: dict[str, AdapterRecord] = registry.document().adapters
    old, target = survey.old, survey.target.name
    adapt = _weighted(
        [(path_quality(p, by_id), old[s]) for s, p in survey.back.items() if p is not None],
        "item-weighted over the segments' paths",
    )
    if needs.back:
        adapt = Estimate(None, basis="not measured", detail="a segment has no path")
    reembed = _weighted(
        [(reembed_quality(list(by_id.values()), s, target), old[s]) for s in old],
        "item-weighted over the segments",
    )
    fwd_parts: list[tuple[Estimate, int]] = []
    for s, p in survey.fwd.items():
        if p is None:
            continue
        one = (
            forward_quality(by_id[p.adapter_ids[0]])
            if len(p.adapter_ids) == 1
            else Estimate(p.quality, None, None, "estimate", "a chain: product of retentions")
        )
        fwd_parts.append((one, old[s]))
    forward = (
        _weighted(fwd_parts, "item-weighted over the segments' forward paths")
        if not needs.fwd
        else Estimate(None, basis="not measured", detail="a segment has no forward path")
    )
    return _Qualities(adapt=adapt, forward=forward, reembed=reembed)


def _rows(
    registry: Registry,
    survey: Survey,
    rates: Rates,
    partial: PartialChoice,
    policy: RoutingPolicy,
) -> list[StrategyRow]:
    """The four strategies' rows: quality, time, disk, memory and what each needs."""
    needs = _needs(survey, policy)
    q = _qualities(registry, survey, needs)
    sizes = Sizes.of(survey)
    n_old = survey.n_old
    n_part = max(1, round(partial.fraction * n_old)) if n_old else 0
    part_needs = needs.back + (needs.text if len(survey.pool) < n_part else [])
    if partial.order == "worst":
        part_needs += needs.fwd
    memory_switch = sizes.switch_memory()
    model = costs.model_bytes(survey.target)
    model_mem = None if model is None else model + memory_switch
    scale = "on 1 process; --num-processes N shares the encoding among N processes"
    query_us = max(rates.query_us.values(), default=None)
    return [
        StrategyRow(
            strategy=Strategy.ADAPT_QUERIES.value,
            items=0,
            quality=q.adapt,
            seconds=0.0,
            disk_bytes=0,
            memory_bytes=sum(costs.adapter_bytes(p) for p in survey.back.values() if p),
            query_us=query_us,
            needs=needs.back,
            notes=["the gallery stays as it is; queries are mapped (one matrix multiply)"],
        ),
        StrategyRow(
            strategy=Strategy.FORWARD.value,
            items=n_old,
            quality=q.forward,
            seconds=None if needs.fwd else rates.forward_seconds(survey),
            disk_bytes=sizes.new_version(n_old),
            memory_bytes=memory_switch,
            query_us=None,
            needs=needs.fwd,
            notes=["measured matrix-multiply and FAISS add rates; no model runs"],
        ),
        StrategyRow(
            strategy=Strategy.PARTIAL.value,
            items=n_part,
            quality=partial_quality(partial.fraction, q.adapt, q.reembed),
            seconds=rates.encode_seconds(n_part),
            disk_bytes=sizes.new_version(n_part) + sizes.work(n_part),
            memory_bytes=model_mem,
            query_us=query_us,
            needs=part_needs,
            notes=[scale, *rates.notes],
            fraction=partial.fraction,
            order=partial.order,
        ),
        StrategyRow(
            strategy=Strategy.REEMBED.value,
            items=n_old,
            quality=q.reembed,
            seconds=rates.encode_seconds(n_old),
            disk_bytes=sizes.new_version(n_old) + sizes.work(n_old),
            memory_bytes=model_mem,
            query_us=0.0,
            needs=needs.text,
            notes=[scale, *rates.notes],
        ),
    ]


def _kind_rows(registry: Registry, survey: Survey) -> list[StrategyRow]:
    """Rows of the query-path kinds (fused, cascade) that leave the gallery as it is."""
    texts = {s: len(v) for s, v in survey.texts.items()}
    return [
        StrategyRow(
            strategy=r["strategy"], items=0, quality=r["quality"], seconds=0.0, disk_bytes=0,
            memory_bytes=r["memory_bytes"], query_us=None, needs=r["needs"], notes=r["notes"],
            extra_encodes=r["extra_encodes"],
        )
        for r in kind_rows(registry, survey.target.name, survey.old, texts)
    ]  # fmt: skip


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
    partial = partial if partial is not None else PartialChoice()
    policy = policy if policy is not None else RoutingPolicy()
    # every path is found whatever it measures: a weak or failing one is a need of a row
    resolver = Resolver(registry, policy.replace(min_quality=None, require_compatible=False))
    survey = survey_gallery(registry, Path(folder), to, resolver)
    rates = measure_rates(survey, sample, device, batch_size)
    rows = _rows(registry, survey, rates, partial, policy) + _kind_rows(registry, survey)
    target = survey.target.name
    rec, reason = _recommend(rows, target, sorted(survey.old), survey.n_old)
    command = None
    if rec != "none" and not rec.startswith("adapt-queries"):
        command = f"embedreg upgrade apply {folder} --to {target} --strategy {rec}"
        if rec == "partial":
            command += f" --fraction {partial.fraction:g} --order {partial.order}"
    return UpgradePlan(
        gallery=str(folder),
        name=survey.gallery.name,
        target=target,
        count=len(survey.gallery),
        segments=survey.segments,
        rows=rows,
        recommendation=rec,
        reason=reason,
        command=command,
        rates=rates.to_dict(),
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
    # a one-off cost before one paid on every query: a row that adds encoder passes to each
    # query (fused, cascade) is taken only when no row without them is as good
    pick = min(
        close,
        key=lambda r: (
            r.extra_encodes > 0,
            float("inf") if r.seconds is None else r.seconds,
            r.extra_encodes,
            -(r.quality.value or 0),
        ),
    )
    why = (
        f"{pick.strategy}: expected quality {pick.quality.label()} ({pick.quality.basis}), "
        f"the cheapest not measurably below the best ({best.strategy}, {best.quality.label()})"
    )
    if pick.extra_encodes:
        why += f"; it costs {pick.extra_encodes} extra encoder pass(es) on every query"
    costly = [r for r in close if r.extra_encodes and r is not pick]
    if not pick.extra_encodes and costly:
        why += "; preferred to " + ", ".join(
            f"{r.strategy} ({r.extra_encodes} extra encodes a query)" for r in costly
        )
    return pick.strategy, why
