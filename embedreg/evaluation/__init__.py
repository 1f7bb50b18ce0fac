"""Evaluation: retrieval metrics and the held-out figures every adapter carries.

- :mod:`.metrics`: recall@k, CMC, mAP, neighbour agreement, flips, AC/AM;
- :mod:`.figures`: :func:`measure`, every figure an adapter is registered with.

Example:
    >>> from embedreg.evaluation import RETENTION
    >>> RETENTION
    'retention'
"""

from __future__ import annotations

from .figures import RETENTION, RETENTION_BASIS, measure
from .metrics import (
    average_compatibility,
    average_multimodel_accuracy,
    cmc,
    mean_average_precision,
    neighbour_agreement,
    recall_at_k,
)

__all__ = [
    "RETENTION",
    "RETENTION_BASIS",
    "average_compatibility",
    "average_multimodel_accuracy",
    "cmc",
    "mean_average_precision",
    "measure",
    "neighbour_agreement",
    "recall_at_k",
]
