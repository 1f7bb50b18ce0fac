"""Where torch work runs: ``auto`` picks CUDA, then MPS, then the CPU.

Encoding, training and evaluation all take a ``device`` string; this module
turns it into a concrete torch device name, and refuses one that this
machine does not have with a typed error.

Example:
    >>> select_device("cpu")
    'cpu'
    >>> select_device("tpu")
    Traceback (most recent call last):
    ...
    embedreg.errors.ValidationError: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps
"""

from __future__ import annotations

import re

from .errors import ValidationError

__all__ = ["DEVICE_HELP", "select_device"]

#: What a ``--device`` option accepts, for help texts.
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``mps``, else ``cpu``; others are checked.

    Raises:
        ValidationError: an unknown device, or one this machine lacks.
    """
    if device not in ("auto", "cpu", "mps") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ValidationError(f"unknown device {device!r}", f"use {DEVICE_HELP}")
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValidationError(
            f"device {device!r} asked for, but CUDA is not available", "use --device cpu or auto"
        )
    if device == "mps" and not _mps_available():
        raise ValidationError(
            f"device {device!r} asked for, but MPS is not available", "use --device cpu or auto"
        )
    return device
