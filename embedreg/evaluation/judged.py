"""Figures of an adapter on judged queries (queries + corpus + qrels): nDCG@10 and recall@k retention.

The queries are embedded by both generations (``queries.source`` by the
adapter's source, ``queries.target`` by its target), the corpus by the target
generation (the gallery); :class:`~embedreg.evaluation.qrels.Relevance` says
which corpus rows each query row is relevant to.  The path's queries
``A(src)`` and the gallery generation's own queries ``tgt`` search the same
corpus, so every figure has its reference:

=========================  ==========================================================
key                        definition
=========================  ==========================================================
``queries``                judged queries measured (those with a relevant item)
``ndcg@10``                mean nDCG@10 of ``A(src)`` queries over the corpus
``recall@10``, ``recall@100``  mean share of each query's relevant items in its top k
``target.*``               the same for the gallery generation's own queries
``retention``              ``ndcg@10 / target.ndcg@10`` (basis ``ndcg@10``)
``recall@10.retention``    ``recall@10 / target.recall@10``
``criterion``              ``ndcg@10 ≥ target.ndcg@10`` (BCT's criterion on this metric)
``flips.positive/negative``  queries whose top 1 is relevant for ``A(src)`` but not for
                           ``tgt``, and the reverse
``*.interval``             95 % bootstrap intervals over queries (``None`` below 30)
=========================  ==========================================================

Example:
    >>> import numpy as np
    >>> from embedreg.adapters.identity import IdentityAdapter
    >>> from embedreg.data.pairs import PairedEmbeddings
    >>> from embedreg.evaluation.qrels import Qrels, Relevance
    >>> corpus = np.eye(4, dtype=np.float32)
    >>> queries = PairedEmbeddings(["a", "b"], corpus[:2], corpus[:2])
    >>> rel = Relevance.from_qrels(Qrels({"a": {"0": 1}, "b": {"1": 1}}), ["a", "b"], ["0", "1", "2", "3"])
    >>> figs = measure_judged(IdentityAdapter(4), queries, corpus, rel)
    >>> figs.retention, figs.retention_basis, figs.criterion
    (1.0, 'ndcg@10', True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..adapters import Adapter
from ..data.pairs import PairedEmbeddings
from ..devices import select_device
from ..errors import DimensionMismatch, ValidationError
from ..registry.figures import Figures, Scores
from .bootstrap import bootstrap_interval
from .figures import interval_fields
from .metrics import flip_rates
from .qrels import Relevance, ndcg_per_query, recall_per_query

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["JUDGED_BASIS", "judged_figures", "measure_judged"]

#: The ``retention.basis`` of figures measured on judged queries.
JUDGED_BASIS = "ndcg@10"


def _top1_relevant(queries: FloatArray, corpus: FloatArray, rel: Relevance, device: str) -> Any:
    return recall_per_query(queries, corpus, rel, 1, device=device) > 0


def judged_figures(
    path_queries: FloatArray,
    own_queries: FloatArray,
    corpus: FloatArray,
    rel: Relevance,
    *,
    device: str = "cpu",
) -> Figures:
    """The figures of the module docstring for any two query sets over one corpus."""
    if len(rel) == 0:
        raise ValidationError(
            "no query has a relevant item in the corpus",
            "check that the qrels name the queries' and the corpus' ids",
        )
    n = len(rel)
    path: dict[str, float] = {}
    own: dict[str, float] = {}
    per: dict[str, tuple[Any, Any]] = {}
    for key, fn, k in (
        ("ndcg@10", ndcg_per_query, 10),
        ("recall@10", recall_per_query, 10),
        ("recall@100", recall_per_query, 100),
    ):
        ours = fn(path_queries, corpus, rel, k, device=device)
        theirs = fn(own_queries, corpus, rel, k, device=device)
        path[key], own[key] = float(ours.mean()), float(theirs.mean())
        per[key] = (ours, theirs)
    ndcg_span, ndcg_note = interval_fields(bootstrap_interval(per["ndcg@10"][0]), n)
    reference = own["ndcg@10"]
    retention_span, retention_note = interval_fields(bootstrap_interval(*per["ndcg@10"]), n)
    ref10 = own["recall@10"]
    r10_span, r10_note = interval_fields(bootstrap_interval(*per["recall@10"]), n)
    before = _top1_relevant(own_queries, corpus, rel, device)
    after = _top1_relevant(path_queries, corpus, rel, device)
    positive, negative = flip_rates(before, after)
    spans = {
        "ndcg@10.interval": ndcg_span,
        "retention.interval": retention_span,
        "recall@10.retention.interval": r10_span,
    }
    return Figures(
        queries=n,
        ndcg_at_10=path["ndcg@10"],
        recall_at_10=path["recall@10"],
        recall_at_100=path["recall@100"],
        target=Scores(
            ndcg_at_10=reference, recall_at_10=own["recall@10"], recall_at_100=own["recall@100"]
        ),
        ndcg_at_10_interval=ndcg_span,
        ndcg_at_10_interval_note=ndcg_note,
        retention=path["ndcg@10"] / reference if reference > 0 else 0.0,
        retention_basis=JUDGED_BASIS,
        retention_interval=retention_span,
        retention_interval_note=retention_note,
        recall_at_10_retention=path["recall@10"] / ref10 if ref10 > 0 else 0.0,
        recall_at_10_retention_interval=r10_span,
        recall_at_10_retention_interval_note=r10_note,
        criterion=bool(path["ndcg@10"] >= reference),
        flips_positive=positive,
        flips_negative=negative,
        nulls=frozenset(k for k, v in spans.items() if v is None),
    )


def measure_judged(
    adapter: Adapter,
    queries: PairedEmbeddings,
    corpus: FloatArray,
    relevance: Relevance,
    *,
    device: str = "auto",
) -> Figures:
    """Figures of ``adapter`` on judged queries (see the module docstring).

    ``queries.source`` / ``queries.target``: the queries embedded by the
    adapter's source / target generation; ``corpus``: the corpus embedded by
    the target generation, rows as ``relevance`` numbers them.
    """
    dev = select_device(device)
    if queries.source_dim != adapter.input_dim:
        raise DimensionMismatch(adapter.input_dim, queries.source_dim, "source query vectors")
    if corpus.shape[1] != adapter.output_dim or queries.target_dim != adapter.output_dim:
        raise DimensionMismatch(adapter.output_dim, corpus.shape[1], "target corpus vectors")
    adapted = np.asarray(adapter.transform(queries.source), dtype=np.float32)
    return judged_figures(adapted, queries.target, corpus, relevance, device=dev)
