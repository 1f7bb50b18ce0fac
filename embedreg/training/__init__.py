"""Training: fit adapter families to paired embeddings, measure them, register them.

- :mod:`.config`: the schedule every gradient family shares (:class:`TrainConfig`);
- :mod:`.trainer`: :class:`AdapterTrainer` (closed forms and the Adam loop);
- :mod:`.losses`, :mod:`.callbacks`: the contrastive terms; what a run reports;
- :mod:`.data`: the pairs a run trains on (files or texts), split reproducibly;
- :mod:`.runs`: :func:`train_adapter` (fit, measure, store, register), :func:`evaluate_adapter`;
- :mod:`.compare`: :func:`compare_families` on one split.

Family hyperparameters are not here: each family declares its own
(:mod:`embedreg.adapters`).

Example:
    >>> from embedreg.training import TrainConfig
    >>> TrainConfig(epochs=5).patience
    4
"""

from __future__ import annotations

from .callbacks import EpochStats, TrainerCallback, TrainResult, TrainStart
from .compare import FamilyComparison, compare_families, options_by_family
from .config import TrainConfig, auto_batch_size, auto_learning_rate
from .crossmodal import image_pairs, measure_images, train_crossmodal
from .data import DEFAULT_HELDOUT, DIRECTION_CHOICES, default_role, split_pairs, training_pairs
from .runs import AdapterRun, evaluate_adapter, fit_and_measure, train_adapter
from .trainer import AdapterTrainer, label_codes

__all__ = [
    "DEFAULT_HELDOUT",
    "DIRECTION_CHOICES",
    "AdapterRun",
    "AdapterTrainer",
    "EpochStats",
    "FamilyComparison",
    "TrainConfig",
    "TrainResult",
    "TrainStart",
    "TrainerCallback",
    "auto_batch_size",
    "auto_learning_rate",
    "compare_families",
    "default_role",
    "evaluate_adapter",
    "fit_and_measure",
    "image_pairs",
    "label_codes",
    "measure_images",
    "options_by_family",
    "split_pairs",
    "train_adapter",
    "train_crossmodal",
    "training_pairs",
]
