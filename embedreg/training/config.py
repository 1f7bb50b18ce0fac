"""The training schedule: what every gradient family shares (epochs, steps, stopping, device).

A family's own hyperparameters (λ, rank, loss weights …) live in its config
class (:mod:`embedreg.adapters.config`); :class:`TrainConfig` holds only the
optimisation schedule, the same for every family.  The defaults were chosen
by measurement (``bench/RESULTS.md``).

Example:
    >>> TrainConfig().epochs, auto_batch_size(1000)
    (40, 64)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ValidationError

__all__ = ["MONITORS", "TrainConfig", "auto_batch_size", "auto_learning_rate"]

#: Values of ``TrainConfig.monitor``.
MONITORS: tuple[str, ...] = ("auto", "recall", "cmc", "map", "loss")


def auto_batch_size(n_train: int) -> int:
    """The default batch size: the power of two nearest ``n_train / 32``, within [64, 4096].

    About 32 Adam steps per epoch whatever the data size, so small sets
    still take enough steps per epoch and large ones use large batches.

    Example:
        >>> auto_batch_size(1000), auto_batch_size(100_000), auto_batch_size(10**6)
        (64, 4096, 4096)
    """
    target = max(n_train / 32.0, 1.0)
    return int(min(4096, max(64, 2 ** round(math.log2(target)))))


def auto_learning_rate(weights: int) -> float:
    """The default Adam learning rate for a module whose largest weight has ``weights`` entries.

    ``1e-3 · min(1, √(16384 / weights))``: Adam moves every entry by about
    ``lr`` per step, so one step moves a matrix of ``weights`` entries by
    about ``lr · √weights`` (Frobenius).  For a 768 → 384 map at 1e-3 that
    is half a unit per step: the defect shoots past λ, the gate throws it
    back and training stalls (measured in bench/RESULTS.md).  Keeping each
    step the size of a 128 × 128 matrix's at the paper's 1e-3 trains large
    and small maps alike.

    Example:
        >>> auto_learning_rate(40 * 24), round(auto_learning_rate(768 * 384), 6)
        (0.001, 0.000236)
    """
    return 1e-3 * min(1.0, math.sqrt(16384.0 / max(weights, 1)))


@dataclass(frozen=True)
class TrainConfig:
    """How gradient families are optimised (closed forms use only ``device``).

    Attributes:
        epochs: most epochs (early stopping usually ends sooner).
        batch_size: pairs per Adam step; ``None`` picks :func:`auto_batch_size`
            (about 32 steps per epoch, between 64 and 4096 pairs).
        lr: Adam's initial learning rate (halved after each epoch without
            improvement); ``None`` picks :func:`auto_learning_rate` (the
            paper's 1e-3 for small maps, less for large ones).
        beta2: Adam's second-moment decay.  0.99 rather than torch's 0.999: the
            sharp λ gate gives rare large gradients, and with 0.999 one of them
            shrinks the following ~1000 steps (bench/RESULTS.md).
        patience: epochs without improvement before stopping.
        min_delta: relative drop of the validation loss that counts as improvement.
        validation: fraction of the training pairs held back for early stopping.
        max_validation: at most this many validation pairs.
        monitor: the validation figure early stopping follows: ``recall``
            (each item's own pair at rank 1), ``cmc`` (CMC top-1 with labels,
            leave-one-out), ``map`` (mAP with labels, leave-one-out: smoother
            than CMC on a few hundred pairs), ``loss`` (the alignment loss
            alone), or ``auto`` (``map`` when the pairs carry labels, else
            ``recall``).  Ties are broken by the loss.
        refit: after early stopping has chosen the epoch count on the
            validation part, train again on all the training pairs for that
            many epochs (same learning rates), so the validation pairs train too.
        seed: seeds the validation split, batch order and initialisation.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    """

    epochs: int = 40
    batch_size: int | None = None
    lr: float | None = None
    beta2: float = 0.99
    patience: int = 4
    min_delta: float = 1e-3
    validation: float = 0.1
    max_validation: int = 4096
    monitor: str = "auto"
    refit: bool = False
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "max_validation"):
            value = getattr(self, name)
            if name == "batch_size" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be a positive integer, got {value!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValidationError(f"lr must be positive, got {self.lr!r}")
        if not 0.0 < self.beta2 < 1.0:
            raise ValidationError(f"beta2 must be in (0, 1), got {self.beta2!r}")
        if not self.min_delta >= 0:
            raise ValidationError(f"min_delta must be zero or positive, got {self.min_delta!r}")
        if self.monitor not in MONITORS:
            raise ValidationError(
                f"monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}"
            )
        if not 0.0 < self.validation < 1.0:
            raise ValidationError(f"validation must be a fraction in (0, 1), got {self.validation}")

    def to_dict(self) -> dict[str, Any]:
        """The schedule as a JSON-ready dict (recorded in provenance, without the device)."""
        data = asdict(self)
        data.pop("device")
        if not self.refit:
            data.pop("refit")  # as before the option existed: earlier requests hash the same
        return data
