"""Embeddings files: vectors tied to the generation that made them.

An embeddings file is a `safetensors <https://huggingface.co/docs/safetensors>`_
file holding

- ``embeddings``: float32, shape ``(N, d)``;
- optionally ``ids_data`` (uint8, the UTF-8 bytes of all ids one after the
  other) and ``ids_offsets`` (int64, ``N + 1`` offsets into it), and the same
  pair ``labels_data`` / ``labels_offsets`` for labels: millions of ids cost
  a few bytes each, not one giant metadata string;

and string metadata: ``format`` (``embedreg.embeddings``), ``format_version``,
``generation``, ``pin``, ``recipe_hash``, ``role`` (``query`` or
``document``), ``count``, ``dimension``, ``created``, ``embedreg_version``,
plus ``row_start`` (the position of the file's first row in the whole set).
Any safetensors reader (numpy, torch) reads it without embedreg.

**Shards.** Up to ``shard_rows`` rows, the path the user gave is that single
file. Beyond, the path is a *folder* of that name holding ``index.json`` (the
metadata above and the list of shards with their row counts) and the shard
files ``embeddings-00001.safetensors``, ``embeddings-00002.safetensors`` …,
each a complete embeddings file of its own. Readers accept either through
the path the user gave.

**Bounded memory.** :class:`EmbeddingsWriter` streams vectors straight to
disk: the safetensors header is written last into space reserved at the
start, so memory holds only the batch being written and the current shard's
ids and labels.

**Atomic.** Everything is written in a temporary sibling and renamed into
place when the writer closes; an interrupted write leaves the old file (or
nothing) at the path, never half a file.

**Pinned.** Reading with ``generation=`` refuses a file made by another
generation (other name, pin or recipe) with :class:`GenerationMismatch`,
which names both.

Example:
    >>> import tempfile, numpy as np
    >>> from embedreg.registry import Generation, HubSource, Recipe
    >>> gen = Generation("v2", HubSource("org/model", "0" * 40), Recipe(), dimension=3)
    >>> path = tempfile.mkdtemp() + "/e.safetensors"
    >>> _ = save_embeddings(path, np.eye(3, dtype="float32"), generation=gen,
    ...                     role="document", ids=["a", "b", "c"])
    >>> emb = load_embeddings(path, generation=gen)
    >>> emb.vectors.shape, emb.ids, emb.meta.generation
    ((3, 3), ['a', 'b', 'c'], 'v2')
"""

from __future__ import annotations

from .format import Embeddings, EmbeddingsMeta, check_generation
from .reader import iter_embeddings, load_embeddings, read_meta
from .writer import EmbeddingsWriter, save_embeddings

__all__ = [
    "Embeddings",
    "EmbeddingsMeta",
    "EmbeddingsWriter",
    "check_generation",
    "iter_embeddings",
    "load_embeddings",
    "read_meta",
    "save_embeddings",
]
