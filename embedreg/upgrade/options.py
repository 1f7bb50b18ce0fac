"""The values an upgrade job is asked with: which items a partial upgrade takes, how the job runs.

:class:`PartialChoice` is which items a ``partial`` upgrade re-embeds (a
fraction of them, in an :class:`~embedreg.constants.ItemOrder`, seeded);
:class:`JobOptions` is how the job runs (checkpointed chunks, processes,
device, batch size).  :func:`~embedreg.upgrade.apply` and
:func:`~embedreg.upgrade.resume` take them whole.

Example:
    >>> PartialChoice(fraction=0.25, order="worst").order
    'worst'
    >>> JobOptions(num_processes=2).device
    'auto'
"""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import DEFAULT_CHUNK_ITEMS, ItemOrder
from ..errors import ValidationError

__all__ = ["JobOptions", "PartialChoice"]


@dataclass(frozen=True)
class PartialChoice:
    """Which items a partial upgrade re-embeds: a ``fraction`` of them, chosen in ``order``.

    Args:
        fraction: share of the items re-embedded, in (0, 1].
        order: ``given``, ``random`` (with ``seed``) or ``worst`` (the items the
            paths serve worst first).
        seed: seeds the random order.

    Raises:
        ValidationError: a fraction outside (0, 1] or an unknown order.
    """

    fraction: float = 0.5
    order: str = ItemOrder.RANDOM.value
    seed: int = 0

    def __post_init__(self) -> None:
        if self.order not in ItemOrder.values():
            raise ValidationError(
                f"order must be one of {', '.join(ItemOrder.values())}, got {self.order!r}"
            )
        if not 0.0 < self.fraction <= 1.0:
            raise ValidationError(f"fraction must be in (0, 1], got {self.fraction}")
        object.__setattr__(self, "order", str(ItemOrder(self.order)))


@dataclass(frozen=True)
class JobOptions:
    """How an upgrade job runs.

    Args:
        chunk_size: items per checkpointed chunk (≥ 1).
        num_processes: re-embed with that many processes (accelerate).
        device: where the model runs (``auto``, ``cpu``, ``cuda``, …).
        batch_size: texts per forward pass (≥ 1).

    Raises:
        ValidationError: a chunk size, process count or batch size below 1.
    """

    chunk_size: int = DEFAULT_CHUNK_ITEMS
    num_processes: int = 1
    device: str = "auto"
    batch_size: int = 32

    def __post_init__(self) -> None:
        for name in ("chunk_size", "num_processes", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name.replace('_', ' ')} must be ≥ 1, got {value!r}")
