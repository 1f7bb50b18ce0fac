"""What a training run reports: its start, each epoch, its result, and the hooks that see them.

Example:
    >>> class Printer(TrainerCallback):
    ...     def on_epoch_end(self, stats):
    ...         print(stats.epoch, round(stats.val_recall, 2))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..adapters import Adapter, FamilyConfig
from .config import TrainConfig

__all__ = ["EpochStats", "TrainResult", "TrainStart", "TrainerCallback"]


@dataclass(frozen=True, kw_only=True)
class EpochStats:
    """What one epoch measured (passed to callbacks).

    Attributes:
        epoch: 1-based epoch number.
        loss: mean training loss over the epoch.
        val_loss: alignment loss on the validation pairs.
        val_recall: own-pair recall@1 on the validation pairs.
        val_cmc: CMC top-1 on the validation pairs (with labels), else ``None``.
        defect: ``D`` of the module's weight, or ``None``.
        lr: the learning rate the epoch ran with.
        improved: whether the epoch beat the best so far (its weights are kept).
        seconds: wall time of the epoch.
        val_map: mAP on the validation pairs (with labels, leave-one-out), else ``None``.
    """

    epoch: int
    loss: float
    val_loss: float
    val_recall: float
    val_cmc: float | None
    defect: float | None
    lr: float
    improved: bool
    seconds: float
    val_map: float | None = None


@dataclass(frozen=True, kw_only=True)
class TrainStart:
    """What a training run is about to do (passed to callbacks)."""

    family: str
    fitting: str
    n_train: int
    n_validation: int
    input_dim: int
    output_dim: int
    device: str
    resident: bool
    epochs: int


@dataclass(kw_only=True)
class TrainResult:
    """The fitted adapter and how it was fitted.

    Attributes:
        options: the family's config as used (automatic values decided).
        config: the schedule as used (automatic batch size and rate decided);
            ``None`` for closed forms.
    """

    adapter: Adapter
    family: str
    device: str
    n_train: int
    n_validation: int
    seconds: float
    options: FamilyConfig
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    resident: bool = True
    batch_size: int = 0
    config: TrainConfig | None = None

    @property
    def epochs_run(self) -> int:
        """Epochs actually run."""
        return len(self.history)


class TrainerCallback:
    """Hooks into a training run; override what you need."""

    def on_train_begin(self, start: TrainStart) -> None:
        """Called once before the first epoch (or before a closed-form fit)."""

    def on_epoch_end(self, stats: EpochStats) -> bool | None:
        """Called after each epoch; return ``True`` to stop training."""
        return None

    def on_train_end(self, result: TrainResult) -> None:
        """Called once with the result."""
