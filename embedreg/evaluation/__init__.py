"""Evaluation: retrieval metrics and the held-out figures every adapter carries.

- :mod:`.metrics`: recall@k, CMC, mAP, neighbour agreement, flips, AC/AM;
- :mod:`.figures`: :func:`measure`, every figure an adapter is registered with;
- :mod:`.estimators`: the label-free retention estimate (``judged-sim@10``);
- :mod:`.bootstrap`: confidence intervals over queries;
- :mod:`.qrels`, :mod:`.judged`: judged queries (BEIR qrels), nDCG@10 and recall@k retention;
- :mod:`.backfill`: retrieval quality as a gallery is re-embedded, and its area.

Example:
    >>> from embedreg.evaluation import RETENTION
    >>> RETENTION
    'retention'
"""

from __future__ import annotations

from .bootstrap import Interval, bootstrap_interval
from .crossmodal import image_figures_missing, measure_crossmodal, with_modalities
from .estimators import ESTIMATE_BASIS, judged_similarity
from .figures import RETENTION, RETENTION_BASIS, RETENTION_INTERVAL, measure
from .judged import JUDGED_BASIS, judged_figures, measure_judged
from .metrics import (
    average_compatibility,
    average_multimodel_accuracy,
    cmc,
    mean_average_precision,
    neighbour_agreement,
    recall_at_k,
)
from .qrels import Qrels, Relevance, read_judged_texts, read_qrels

__all__ = [
    "ESTIMATE_BASIS",
    "JUDGED_BASIS",
    "RETENTION",
    "RETENTION_BASIS",
    "RETENTION_INTERVAL",
    "Interval",
    "Qrels",
    "Relevance",
    "average_compatibility",
    "average_multimodel_accuracy",
    "bootstrap_interval",
    "cmc",
    "image_figures_missing",
    "judged_figures",
    "judged_similarity",
    "mean_average_precision",
    "measure",
    "measure_crossmodal",
    "measure_judged",
    "neighbour_agreement",
    "read_judged_texts",
    "read_qrels",
    "recall_at_k",
    "with_modalities",
]
