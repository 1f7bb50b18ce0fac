"""Choosing the torch device: ``"auto"`` takes CUDA when there is one, else the CPU.

Example:
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda")
    True
"""

from __future__ import annotations

import re

from .errors import ValidationError

_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def resolve_device(device: str = "auto") -> str:
    """The torch device string for ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Raises:
        ValidationError: an unknown device name, or CUDA/MPS asked for and absent.
    """
    if not _DEVICE_RE.fullmatch(device or ""):
        raise ValidationError(f"unknown device {device!r}", "use auto, cpu, cuda, cuda:N or mps")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValidationError(
            f"device {device!r} asked for, but torch sees no CUDA device",
            "use --device cpu (or auto), or install a CUDA build of torch",
        )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValidationError("device 'mps' asked for, but it is not available", "use --device cpu")
    return device
