"""Encoders kept for a process's repeated searches: each (generation, pin, recipe, device) loads once.

A library loop of ``search_gallery(...)`` calls, or a service answering
queries, would otherwise load (and check the pin of) the model on every call:
on the quick-start world a single query by a compiled map took 125 ms that
way against 27 ms through a path that reused its encoder (stop 31).  The
last :data:`KEEP` encoders stay loaded; older ones are dropped (their memory
is freed once nothing else holds them).

Encoding through :func:`shared_encode` takes the encoder's own lock: one
tokenizer and model serve threads one call at a time (a fast tokenizer shared
by threads can fail with "Already borrowed").

Example:
    >>> from embedreg.models.shared import shared_encode, clear_shared
    >>> clear_shared()
    >>> shared_encode(registry.generation("v2"), ["rates rise"], role="query").shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..registry import Generation
    from .encoder import Encoder

__all__ = ["KEEP", "clear_shared", "shared_encode", "shared_encoder"]

#: How many encoders stay loaded at once.
KEEP = 4

_LOCK = threading.Lock()
_KEPT: OrderedDict[tuple[str, str, str, str], tuple[Encoder, threading.Lock]] = OrderedDict()


def shared_encoder(generation: Generation, device: str = "auto") -> Encoder:
    """The process's encoder for ``generation`` on ``device``, made on first use.

    Keyed by the generation's name, pin and recipe hash, so a generation
    re-pinned or given another recipe gets a fresh encoder.  Threads encode
    with it through :func:`shared_encode`.
    """
    return _kept(generation, device)[0]


def shared_encode(
    generation: Generation, texts: Sequence[str], *, role: str, device: str = "auto"
) -> Any:
    """``texts`` embedded by the shared encoder of ``generation``, one thread at a time."""
    encoder, lock = _kept(generation, device)
    with lock:
        return encoder.encode(list(texts), role=role)


def _kept(generation: Generation, device: str) -> tuple[Encoder, threading.Lock]:
    from .encoder import Encoder

    key = (generation.name, generation.pin, generation.recipe.hash, device)
    with _LOCK:
        entry = _KEPT.get(key)
        if entry is not None:
            _KEPT.move_to_end(key)
            return entry
    made = (Encoder(generation, device=device), threading.Lock())  # outside: loading takes seconds
    with _LOCK:
        entry = _KEPT.setdefault(key, made)
        _KEPT.move_to_end(key)
        while len(_KEPT) > KEEP:
            _KEPT.popitem(last=False)
    return entry


def clear_shared() -> None:
    """Drop every kept encoder (their models are freed once nothing else holds them)."""
    with _LOCK:
        _KEPT.clear()
