"""The backfill curve of an upgrade: quality as a gallery of an old generation is re-embedded.

:func:`backfill` measures, for a gallery embedded by ``gallery_gen`` being
re-embedded by ``new_gen``, the retrieval metric of ``new_gen`` queries at
each re-embedded fraction β (the maths: :mod:`embedreg.evaluation.backfill`),
for each order asked (``random``, ``worst-first``, ``predicted``), and each
curve's area and gain over the random order.  The items not yet re-embedded
are searched through the registry's best path ``new_gen → gallery_gen``
(``rest="path"``: a mixed gallery's search) or moved by the best forward path
``gallery_gen → new_gen`` (``rest="forward"``).

:func:`backfill_vectors` does the same on vectors already embedded (a
report's pairs), with any map for the rest.

Example:
    >>> data = EvalSet.from_texts("bbc.jsonl")  # doctest: +SKIP
    >>> result = backfill(reg, "v2", "v3", data)  # doctest: +SKIP
    >>> result.areas["random"], result.gain("worst-first")  # doctest: +SKIP
    (0.951, 0.006)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..devices import select_device
from ..errors import ValidationError
from ..evaluation.backfill import (
    DEFAULT_PROBE,
    ORDERS,
    backfill_curve,
    curve_area,
    misalignment,
    predicted_order,
    random_order,
    worst_first_order,
)
from ..evaluation.ranking import Judge
from ..models import EncodeOptions
from ..registry import Registry
from ..routing import Resolver, RoutingPolicy
from ..util.callbacks import NamedProgress
from .evalset import EvalSet

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["REST_MODES", "BackfillResult", "backfill", "backfill_vectors"]

#: How the items not yet re-embedded are searched.
REST_MODES: tuple[str, ...] = ("path", "forward")
#: ``step(done, total)`` as the curves' points are measured.
StepFn = Callable[[int, int], None]


@dataclass(frozen=True)
class BackfillResult:
    """Backfill curves of one upgrade.

    Attributes:
        gallery: the gallery's (old) generation; ``new``: the re-embedding one.
        rest: ``path`` or ``forward``; ``via``: the adapters the rest goes through.
        metric: the judge's metric; ``betas``: the re-embedded fractions.
        curves: per order, the metric at each β; ``areas``: per order, the area.
    """

    gallery: str
    new: str
    rest: str
    via: list[str]
    metric: str
    betas: list[float]
    curves: dict[str, list[float]] = field(default_factory=dict)
    areas: dict[str, float] = field(default_factory=dict)
    queries: int = 0
    probe: float = DEFAULT_PROBE
    overlaps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def gain(self, order: str) -> float:
        """Area gained by ``order`` over the random order."""
        return self.areas[order] - self.areas["random"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``embedreg eval backfill --json`` prints)."""
        return {
            "gallery": self.gallery,
            "new": self.new,
            "rest": self.rest,
            "via": self.via,
            "metric": self.metric,
            "betas": self.betas,
            "curves": self.curves,
            "areas": self.areas,
            "gains": {o: self.gain(o) for o in self.areas if o != "random"},
            "queries": self.queries,
            "probe": self.probe,
            "training_overlap": self.overlaps,
        }


def _orders(orders: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(["random", *orders]))
    unknown = [o for o in chosen if o not in ORDERS]
    if unknown:
        raise ValidationError(
            f"unknown backfill order {unknown[0]!r}", f"use one of {', '.join(ORDERS)}"
        )
    return chosen


def backfill_vectors(
    judge: Judge,
    *,
    queries_new: FloatArray,
    items_new: FloatArray,
    queries_rest: FloatArray,
    items_rest: FloatArray,
    bad: npt.ArrayLike,
    old_items: FloatArray,
    orders: Sequence[str] = ORDERS,
    steps: int = 10,
    seed: int = 0,
    probe: float = DEFAULT_PROBE,
    device: str = "cpu",
    step: StepFn | None = None,
) -> tuple[list[float], dict[str, list[float]], dict[str, float]]:
    """``(betas, curves, areas)`` for vectors already in hand.

    ``bad`` is each item's misalignment (:func:`~embedreg.evaluation.backfill.misalignment`),
    ``old_items`` the old vectors the ``predicted`` order learns from.
    """
    chosen = _orders(orders)
    n = items_new.shape[0]
    plans = {
        "random": lambda: random_order(n, seed),
        "worst-first": lambda: worst_first_order(bad),
        "predicted": lambda: predicted_order(old_items, bad, probe=probe, seed=seed),
    }
    curves: dict[str, list[float]] = {}
    areas: dict[str, float] = {}
    betas: list[float] = []
    total = len(chosen) * (steps + 1)
    if step is not None:
        step(0, total)  # the start: a count from the first point on would miss it
    for k, name in enumerate(chosen):

        def point(done: int, _total: int, base: int = k * (steps + 1)) -> None:
            if step is not None:
                step(base + done, total)

        betas, curves[name] = backfill_curve(
            judge,
            queries_new,
            items_new,
            queries_rest,
            items_rest,
            plans[name](),
            steps=steps,
            device=device,
            progress=point,
        )
        areas[name] = curve_area(betas, curves[name])
    return betas, curves, areas


def backfill(
    registry: Registry,
    gallery_gen: str,
    new_gen: str,
    data: EvalSet,
    *,
    orders: Sequence[str] = ORDERS,
    rest: str = "path",
    metric: str | None = None,
    steps: int = 10,
    seed: int = 0,
    probe: float = DEFAULT_PROBE,
    policy: RoutingPolicy | None = None,
    encode: EncodeOptions | None = None,
    progress: NamedProgress | None = None,
    step: StepFn | None = None,
) -> BackfillResult:
    """Backfill curves of re-embedding a ``gallery_gen`` gallery with ``new_gen`` on ``data``.

    Raises:
        ValidationError: an unknown order or rest mode, one generation twice,
            or data without labels or qrels.
        NoCompatiblePath: no path for the rest (``new_gen → gallery_gen``, or
            ``gallery_gen → new_gen`` with ``rest="forward"``).
    """
    if rest not in REST_MODES:
        raise ValidationError(f"rest must be one of {', '.join(REST_MODES)}, got {rest!r}")
    old, new = registry.generation(gallery_gen).name, registry.generation(new_gen).name
    if old == new:
        raise ValidationError("the gallery generation and the new one are the same")
    chosen = _orders(orders)
    judge = data.judge(metric)
    encode = encode if encode is not None else EncodeOptions()
    dev = select_device(encode.device)
    resolver = Resolver(registry, policy)
    path = resolver.resolve(new, old) if rest == "path" else resolver.resolve(old, new)
    v_old = data.embed(registry, old, encode=encode, progress=progress)
    v_new = data.embed(registry, new, encode=encode, progress=progress)
    if rest == "path":
        queries_rest, items_rest = path.apply(v_new.queries), v_old.items
        bad = misalignment(path.apply(v_new.items), v_old.items)
    else:
        queries_rest, items_rest = v_new.queries, path.apply(v_old.items)
        bad = misalignment(items_rest, v_new.items)
    betas, curves, areas = backfill_vectors(
        judge,
        queries_new=v_new.queries,
        items_new=v_new.items,
        queries_rest=queries_rest,
        items_rest=items_rest,
        bad=bad,
        old_items=v_old.items,
        orders=chosen,
        steps=steps,
        seed=seed,
        probe=probe,
        device=dev,
        step=step,
    )
    return BackfillResult(
        old,
        new,
        rest,
        path.adapter_ids,
        judge.metric,
        betas,
        curves,
        areas,
        judge.queries,
        probe,
        data.training_overlaps(registry, path.adapter_ids),
    )
