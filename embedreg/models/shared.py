"""Encoders kept for a process's repeated searches: each (generation, pin, recipe, device) loads once.

A library loop of ``search_gallery(...)`` calls, or a service answering
queries, would otherwise load (and check the pin of) the model on every call:
on the quick-start world a single query by a compiled map took 125 ms that
way against 27 ms through a path that reused its encoder (stop 31).  The
last :data:`KEEP` encoders stay loaded; older ones are dropped (their memory
is freed once nothing else holds them).

Example:
    >>> from embedreg.models.shared import shared_encoder, clear_shared
    >>> clear_shared()
    >>> # shared_encoder(registry.generation("v2")) is shared_encoder(registry.generation("v2"))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..registry import Generation
    from .encoder import Encoder

__all__ = ["KEEP", "clear_shared", "shared_encoder"]

#: How many encoders stay loaded at once.
KEEP = 4

_LOCK = threading.Lock()
_KEPT: OrderedDict[tuple[str, str, str, str], Encoder] = OrderedDict()


def shared_encoder(generation: Generation, device: str = "auto") -> Encoder:
    """The process's encoder for ``generation`` on ``device``, made on first use.

    Keyed by the generation's name, pin and recipe hash, so a generation
    re-pinned or given another recipe gets a fresh encoder.
    """
    from .encoder import Encoder

    key = (generation.name, generation.pin, generation.recipe.hash, device)
    with _LOCK:
        encoder = _KEPT.get(key)
        if encoder is not None:
            _KEPT.move_to_end(key)
            return encoder
    encoder = Encoder(generation, device=device)  # outside the lock: loading takes seconds
    with _LOCK:
        kept = _KEPT.setdefault(key, encoder)
        _KEPT.move_to_end(key)
        while len(_KEPT) > KEEP:
            _KEPT.popitem(last=False)
    return kept


def clear_shared() -> None:
    """Drop every kept encoder (their models are freed once nothing else holds them)."""
    with _LOCK:
        _KEPT.clear()
