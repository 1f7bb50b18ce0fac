"""How texts are encoded, as one value: device, precision and batch size.

Example:
    >>> EncodeOptions(device="cpu", batch_size=64).precision
    'auto'
    >>> EncodeOptions(batch_size=0)
    Traceback (most recent call last):
    ...
    embedreg.errors.ValidationError: batch size must be a positive integer, got 0
"""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import PRECISIONS
from ..errors import ValidationError

__all__ = ["EncodeOptions"]


@dataclass(frozen=True)
class EncodeOptions:
    """Where and how an :class:`~embedreg.models.Encoder` runs.

    Args:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        precision: ``auto`` (float16 autocast on GPUs, float32 on CPU), ``fp32``,
            ``fp16`` or ``bf16``.
        batch_size: texts per forward pass (≥ 1).

    Raises:
        ValidationError: an unknown precision or a batch size below 1.
    """

    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32

    def __post_init__(self) -> None:
        size = self.batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValidationError(f"batch size must be a positive integer, got {size!r}")
        if self.precision not in PRECISIONS:
            raise ValidationError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
