"""The compatibility matrix over a chain of generations, with AC and AM.

For generations ``g_1 … g_m`` given oldest first, ``C[t][j]`` (``j ≤ t``) is
the retrieval metric of queries embedded by ``g_t`` on a gallery embedded by
``g_j``, through the best measured query path from ``g_t`` to ``g_j`` (the
resolver's choice of a map, a fused path or a cascade within the policy, as
serving would take it, :mod:`.cells`; the diagonal needs no path).
A pair with no acceptable path is ``None`` and says why.  Summaries (see
``method.md``):

- **AC** (average compatibility): the fraction of pairs ``j < t`` (with a
  path) where ``C[t][j] > C[j][j]``: the newer queries through the path beat
  the gallery generation's own;
- **AM** (average multi-model accuracy): the mean of the lower triangle,
  diagonal included.

The metric is CMC@1 (leave-one-out) with class labels or nDCG@10 with
judged queries (:class:`~embedreg.evaluation.ranking.Judge`); each cell
carries its bootstrap interval over queries.

Example:
    >>> data = EvalSet.from_texts("bbc.jsonl")  # doctest: +SKIP
    >>> m = compatibility_matrix(reg, ["v1", "v2", "v3"], data)  # doctest: +SKIP
    >>> m.values[2][0], m.ac, m.am  # doctest: +SKIP
    (0.951, 1.0, 0.947)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..devices import select_device
from ..errors import NoCompatiblePath, ValidationError
from ..evaluation.bootstrap import Interval, bootstrap_interval
from ..evaluation.metrics import average_compatibility, average_multimodel_accuracy
from ..models import EncodeOptions
from ..registry import Registry
from ..routing import RoutingPolicy
from ..routing.kinds import resolve_kind
from ..util.callbacks import NamedProgress
from .cells import CellVectors, cell_scores
from .evalset import EvalSet, EvalVectors

__all__ = ["CompatibilityMatrix", "compatibility_matrix"]

#: ``step(done, total)`` as the matrix's cells are measured.
StepFn = Callable[[int, int], None]


@dataclass(frozen=True)
class CompatibilityMatrix:
    """``C[t][j]`` for query generation ``t`` and gallery generation ``j ≤ t``.

    Attributes:
        generations: oldest first (rows: queries, columns: galleries).
        metric: ``cmc@1``, ``ndcg@10``, ….
        values: ``values[t][j]``; ``None`` above the diagonal and where no path is.
        intervals: the same cells' bootstrap intervals.
        paths: the adapters each cell's path takes (empty: no mapping).
        kinds: each cell's path kind as a label (``map``, ``fused t=0.3``,
            ``cascade K=50 over map``; ``None`` on the diagonal and where no path is).
        qualities: each cell's path quality (the registry's figure).
        reasons: why a cell has no value.
        queries: how many queries each cell scores.
        overlaps: the adapters on the paths whose training data the set
            overlaps (id → :class:`~embedreg.training.overlap.TrainingOverlap`
            as a dict): the cells through them are optimistic.
    """

    generations: list[str]
    metric: str
    values: list[list[float | None]]
    intervals: list[list[Interval | None]]
    paths: list[list[list[str] | None]]
    qualities: list[list[float | None]]
    reasons: list[list[str | None]]
    queries: int
    data: str = ""
    overlaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    kinds: list[list[str | None]] = field(default_factory=list)

    def optimistic(self, t: int, j: int) -> bool:
        """Whether cell ``[t][j]`` goes through an adapter measured on its training data."""
        return any(a in self.overlaps for a in self.paths[t][j] or [])

    @property
    def ac(self) -> float:
        """Average compatibility: share of pairs ``j < t`` with ``C[t][j] > C[j][j]``."""
        return average_compatibility(self.values)

    @property
    def am(self) -> float:
        """Average multi-model accuracy: mean of the lower triangle, diagonal included."""
        return average_multimodel_accuracy(self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``embedreg eval matrix --json`` prints)."""
        return {
            "generations": self.generations,
            "metric": self.metric,
            "matrix": self.values,
            "intervals": [[i.to_list() if i else None for i in row] for row in self.intervals],
            "paths": self.paths,
            "kinds": self.kinds,
            "qualities": self.qualities,
            "reasons": self.reasons,
            "ac": self.ac,
            "am": self.am,
            "queries": self.queries,
            "data": self.data,
            "training_overlap": self.overlaps,
        }


def compatibility_matrix(
    registry: Registry,
    generations: Sequence[str],
    data: EvalSet,
    *,
    metric: str | None = None,
    policy: RoutingPolicy | None = None,
    encode: EncodeOptions | None = None,
    progress: NamedProgress | None = None,
    step: StepFn | None = None,
) -> CompatibilityMatrix:
    """Measure the compatibility matrix of ``generations`` (oldest first) on ``data``.

    Raises:
        ValidationError: fewer than two generations, one given twice, or data
            without relevance (labels or qrels).
        UnknownGeneration: a name the registry does not know.
    """
    names = [registry.generation(g).name for g in generations]
    if len(names) < 2:
        raise ValidationError("a compatibility matrix needs at least two generations")
    if len(set(names)) != len(names):
        raise ValidationError(f"a generation is given twice: {', '.join(names)}")
    judge = data.judge(metric)
    encode = encode if encode is not None else EncodeOptions()
    dev = select_device(encode.device)
    policy = policy if policy is not None else RoutingPolicy()
    vecs: dict[str, EvalVectors] = {
        g: data.embed(registry, g, encode=encode, progress=progress) for g in names
    }
    m = len(names)
    values: list[list[float | None]] = [[None] * m for _ in range(m)]
    intervals: list[list[Interval | None]] = [[None] * m for _ in range(m)]
    paths: list[list[list[str] | None]] = [[None] * m for _ in range(m)]
    qualities: list[list[float | None]] = [[None] * m for _ in range(m)]
    reasons: list[list[str | None]] = [[None] * m for _ in range(m)]
    kinds: list[list[str | None]] = [[None] * m for _ in range(m)]
    cells = [(t, j) for t in range(m) for j in range(t + 1)]
    if step is not None:
        step(0, len(cells))  # the start: a count from the first cell on would miss it
    for n, (t, j) in enumerate(cells, 1):
        q, g = names[t], names[j]
        try:  # both generations embedded the set: fused and cascade paths are offered
            routed = resolve_kind(
                registry, q, g, policy, texts=True, model_status=lambda _: (None, None)
            )
        except NoCompatiblePath as exc:
            reasons[t][j] = exc.reason
        else:
            path = routed.map_path
            own = CellVectors(
                mapped=path.apply(vecs[q].queries),
                own=vecs[g].queries,
                query=vecs[q].queries,
                query_items=vecs[q].items,
                items=vecs[g].items,
            )
            per_query = cell_scores(judge, routed.chosen, own, device=dev)
            values[t][j] = float(per_query.mean())
            intervals[t][j] = bootstrap_interval(per_query)
            paths[t][j] = path.adapter_ids
            qualities[t][j] = routed.quality
            kinds[t][j] = routed.chosen.label() if t != j else None
        if step is not None:
            step(n, len(cells))
    return CompatibilityMatrix(
        names,
        judge.metric,
        values,
        intervals,
        paths,
        qualities,
        reasons,
        judge.queries,
        data.source,
        data.training_overlaps(registry, (a for row in paths for p in row if p for a in p)),
        kinds,
    )
