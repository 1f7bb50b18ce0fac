"""``upgrade plan``'s adapt-queries rows for fused and cascade paths (issue 23).

Besides adapting the queries with a map, a gallery can be searched as it is
through a *fused* path (the gallery's own generation embeds each query too)
or a *cascade* (the map's top K re-scored in the target's own space, the
candidates' stored texts embedded on demand): nothing changes on disk, and
each query costs extra encoder passes.  Each row's quality is the variant's
held-out retention (1.0 = today's search; above 1 when it beats it), the
best variant of each kind over the segments' direct adapters, item-weighted
over the segments; what is missing is named (an adapter trained without
labels has no variants; a fused path needs the old generation's weights, a
cascade the items' texts).

Example:
    >>> ROWS
    ('adapt-queries:fused', 'adapt-queries:cascade')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import EmbedRegError
from ..registry import Registry
from ..routing.kinds import PathOption, gallery_model_status, path_options
from ..routing.policy import PathKind, RoutingPolicy
from .quality import Estimate

__all__ = ["ROWS", "kind_rows"]

#: The rows this module adds to a plan.
ROWS = ("adapt-queries:fused", "adapt-queries:cascade")


def _best(options: list[PathOption], kind: PathKind) -> PathOption | None:
    usable = [o for o in options if o.kind is kind and not o.unavailable]
    usable.sort(key=lambda o: (o.criterion == "fail", -o.quality, o.cost))
    return usable[0] if usable else None


def kind_rows(
    registry: Registry,
    target: str,
    old: Mapping[str, int],
    texts: Mapping[str, int],
    policy: RoutingPolicy | None = None,
) -> list[dict[str, Any]]:
    """One row per kind: quality estimate, extra encodes a query, memory, what is missing.

    ``old``: segment → items; ``texts``: segment → items with a stored text.
    Returns plain fields the plan turns into its rows.
    """
    policy = policy or RoutingPolicy(min_quality=None)
    rows = []
    for kind, name in ((PathKind.FUSED, ROWS[0]), (PathKind.CASCADE, ROWS[1])):
        parts: list[tuple[PathOption, int]] = []
        needs: list[str] = []
        for seg, n in old.items():
            try:
                options = path_options(registry, target, seg, policy, texts=texts.get(seg, 0) == n)
            except EmbedRegError as exc:
                needs.append(f"no path from {target} to segment {seg}: {exc.message}")
                continue
            best = _best(options, kind)
            if best is None:
                missing = [o.unavailable for o in options if o.kind is kind and o.unavailable]
                needs.append(
                    f"no {kind.value} path to segment {seg}: {missing[0]}"
                    if missing
                    else f"no {kind.value} path to segment {seg}: train the adapter with labels "
                    f"(embedreg adapter train {target} {seg} --texts INPUT --label-column label)"
                )
                continue
            parts.append((best, n))
        total = sum(n for _, n in parts)
        if needs or not total:
            quality = Estimate(None, basis="not measured", detail="; ".join(needs))
        else:
            value = sum(o.quality * n for o, n in parts) / total
            lows = [o.interval.low if o.interval else o.quality for o, _ in parts]
            highs = [o.interval.high if o.interval else o.quality for o, _ in parts]
            quality = Estimate(
                round(value, 4),
                round(sum(lo * n for lo, (_, n) in zip(lows, parts, strict=True)) / total, 4),
                round(sum(hi * n for hi, (_, n) in zip(highs, parts, strict=True)) / total, 4),
                "measured",
                "; ".join(
                    f"{o.label()} via {o.adapter_id}: held-out retention {o.quality:.3f}"
                    for o, _ in parts
                ),
            )
        encodes = max((o.cost for o, _ in parts), default=0)
        memory = None
        if kind is PathKind.FUSED and parts:
            sizes = [gallery_model_status(registry.generation(seg))[1] for seg in old]
            memory = sum(s for s in sizes if s) or None
        who = (
            "the segment's generation embeds each query too"
            if kind is PathKind.FUSED
            else (f"{target} embeds each query's top candidates from their stored texts")
        )
        rows.append(
            {
                "strategy": name,
                "quality": quality,
                "memory_bytes": memory,
                "extra_encodes": encodes,
                "needs": needs,
                "notes": [
                    f"the gallery stays as it is; {who}: {encodes} extra encoder pass(es) a query",
                    f"search with: embedreg gallery search DIR --gen {target} --paths {kind.value}",
                ],
            }
        )
    return rows
