"""Expected quality of each upgrade strategy, from the adapters' measured figures.

Every figure is relative to the gallery as it is searched today: the old
generation's queries on the old gallery score **1.0**.  So:

- ``adapt-queries``: the query path's quality (the product of its hops'
  retentions: ``cmc@1(B(new) / old) / cmc@1(old / old)`` with labels);
- ``reembed``: ``cmc@1(new / new) / cmc@1(old / old)``, both measured on the
  same held-out pairs of the adapter that joins the two generations (labels
  needed: without them there is no measure of which model is better);
- ``forward``: ``cmc@1`` of the forward adapter across the spaces
  (``F(old)`` against ``new``) over ``cmc@1(old / old)``;
- ``partial``: the backfill curve at the fraction when one is recorded in
  the figures (``backfill``), else an **estimate**: the straight line
  between ``adapt-queries`` (nothing re-embedded) and ``reembed`` (all).

Intervals are 95 % Wilson intervals of the measured rate over the held-out
queries, divided by the reference rate (taken as exact): an indication of
the measurement's resolution, not a guarantee.  Without labels the rate is
an agreement, whose Wilson interval is conservative.

Example:
    >>> wilson(0.9, 100)
    (0.8256, 0.9448)
    >>> Estimate(1.02, 0.98, 1.05, "measured").better_than(1.0)
    False
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..registry import AdapterRecord
from ..routing import QueryPath
from ..routing.scale import hop_interval

__all__ = [
    "Estimate",
    "forward_quality",
    "partial_quality",
    "path_quality",
    "reembed_quality",
    "wilson",
]


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate ``p`` measured on ``n`` trials (rounded to 4 places)."""
    if n <= 0:
        return (0.0, 1.0)
    p = min(max(p, 0.0), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


@dataclass(frozen=True)
class Estimate:
    """An expected quality (1.0 = today's search), its interval and where it comes from.

    Attributes:
        value: the expected figure, or ``None`` when nothing measures it.
        low, high: its interval (``None`` when unknown).
        basis: ``measured``, ``estimate`` or ``not measured``.
        detail: the figures it comes from, in words.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    basis: str = "measured"
    detail: str = ""

    def better_than(self, reference: float) -> bool:
        """True when the whole interval lies above ``reference`` (measurably better)."""
        if self.value is None:
            return False
        return (self.low if self.low is not None else self.value) > reference

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "value": _r(self.value),
            "low": _r(self.low),
            "high": _r(self.high),
            "basis": self.basis,
            "detail": self.detail,
        }

    def label(self) -> str:
        """``0.962 [0.93,0.98]`` for tables."""
        if self.value is None:
            return "unknown"
        if self.low is None or self.high is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.2f},{self.high:.2f}]"


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _num(value: float | None) -> float | None:
    """``value`` when it is a finite number."""
    if value is None or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def _ratio(
    rate: float | None, reference: float | None, heldout: int | None
) -> tuple[float, float, float] | None:
    """``rate / reference`` with the Wilson interval of ``rate``, or ``None``."""
    p, ref = _num(rate), _num(reference)
    if p is None or ref is None or ref <= 0:
        return None
    low, high = wilson(p, int(heldout or 0))
    return (p / ref, low / ref, high / ref)


def path_quality(path: QueryPath, adapters: dict[str, AdapterRecord]) -> Estimate:
    """Quality of searching the gallery with the target's queries through ``path``."""
    if path.is_identity:
        return Estimate(1.0, 1.0, 1.0, "measured", "same space: no mapping")
    low = high = 1.0
    parts = []
    for adapter_id in path.adapter_ids:
        f = adapters[adapter_id].figures
        basis = f.retention_basis or "agreement@10"
        retention = _num(f.retention) or 0.0
        ratio = _ratio(f.cmc_at_1, f.target.cmc_at_1, f.heldout) if basis == "cmc@1" else None
        if ratio is None:
            lo, hi = wilson(retention, int(f.heldout or 0))
            ratio = (retention, lo, hi)
        low *= ratio[1]
        high *= ratio[2]
        parts.append(f"{adapter_id} retention {retention:.3f} ({basis})")
    detail = "; ".join(parts) + " (held-out figures of the path's adapters)"
    bands = [hop_interval(adapters[a].figures) for a in path.adapter_ids]
    if bands and all(b is not None for b in bands):  # the hops' bootstrap intervals
        low = math.prod(b.low for b in bands if b is not None)
        high = math.prod(b.high for b in bands if b is not None)
        detail += ", 95 % bootstrap interval"
    # The intervals are the measurement, never capped (like the other strategies'); the
    # value is the routing's path quality, each hop's retention capped at 1.
    return Estimate(path.quality, round(low, 4), round(high, 4), "measured", detail)


def _joining(
    adapters: Sequence[AdapterRecord], old: str, new: str, *, labelled: bool = True
) -> list[AdapterRecord]:
    """Adapters between ``old`` and ``new`` (either direction), best measured first."""
    found = [a for a in adapters if {a.source, a.target} == {old, new}]
    if labelled:
        found = [a for a in found if _num(a.figures.target.cmc_at_1) is not None]
    return sorted(found, key=lambda a: -float(a.figures.heldout or 0))


def reembed_quality(adapters: Sequence[AdapterRecord], old: str, new: str) -> Estimate:
    """Quality of the gallery re-embedded with ``new``: new/new over old/old, held out."""
    joined = _joining(adapters, old, new)
    if not joined:
        if _joining(adapters, old, new, labelled=False):
            detail = "the adapters between them were measured without labels"
        else:
            detail = f"no adapter between {old} and {new} has been measured"
        return Estimate(
            None, basis="not measured", detail=detail + ": which model is better is unknown"
        )
    rec = joined[0]
    f = rec.figures
    newer, older = (f.source, f.target) if rec.source == new else (f.target, f.source)
    ratio = _ratio(newer.cmc_at_1, older.cmc_at_1, f.heldout)
    assert ratio is not None and newer.cmc_at_1 is not None and older.cmc_at_1 is not None
    detail = (
        f"{new}/{new} cmc@1 {newer.cmc_at_1:.3f} vs {old}/{old} {older.cmc_at_1:.3f} on "
        f"{int(f.heldout or 0)} held-out pairs of {rec.id}"
    )
    return Estimate(ratio[0], round(ratio[1], 4), round(ratio[2], 4), "measured", detail)


def forward_quality(record: AdapterRecord | None) -> Estimate:
    """Quality of the gallery mapped by the forward adapter ``record`` (old → new)."""
    if record is None:
        return Estimate(None, basis="not measured", detail="no forward adapter")
    f = record.figures
    ratio = _ratio(f.cmc_at_1, f.source.cmc_at_1, f.heldout)
    if ratio is None:
        retention = _num(f.retention)
        if retention is None:
            return Estimate(None, basis="not measured", detail=f"{record.id} has no figures")
        lo, hi = wilson(retention, int(f.heldout or 0))
        basis = f.retention_basis or "agreement@10"
        return Estimate(retention, lo, hi, "estimate", f"{record.id} {basis} (no labels), held out")
    detail = (
        f"{record.id}: cmc@1 of F({record.source}) across to {record.target} over "
        f"{record.source}/{record.source}, held out (the reverse of how the gallery is searched)"
    )
    return Estimate(ratio[0], round(ratio[1], 4), round(ratio[2], 4), "estimate", detail)


def partial_quality(
    fraction: float, adapt: Estimate, reembed: Estimate, curve: dict[str, Any] | None = None
) -> Estimate:
    """Quality with ``fraction`` re-embedded: a measured backfill curve, else a straight line."""
    if curve:
        betas, values = curve.get("fraction"), curve.get("quality")
        if isinstance(betas, list) and isinstance(values, list) and len(betas) == len(values) > 1:
            value = _interpolate(fraction, [float(b) for b in betas], [float(v) for v in values])
            return Estimate(value, None, None, "measured", "the recorded backfill curve")
    if adapt.value is None or reembed.value is None:
        return Estimate(None, basis="not measured", detail="needs both ends measured")

    def line(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round((1 - fraction) * a + fraction * b, 4)

    return Estimate(
        line(adapt.value, reembed.value),
        line(adapt.low, reembed.low),
        line(adapt.high, reembed.high),
        "estimate",
        f"straight line between adapt-queries and reembed at {fraction:g} (no backfill curve measured)",
    )


def _interpolate(x: float, xs: list[float], ys: list[float]) -> float:
    pairs = sorted(zip(xs, ys, strict=True))
    if x <= pairs[0][0]:
        return pairs[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pairs):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0 or 1.0)
    return pairs[-1][1]
