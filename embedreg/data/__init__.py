"""Data: input files, embeddings files, and paired embeddings for training and measuring.

- :mod:`.inputs`: items to embed from ``.txt`` / ``.jsonl`` / ``.csv``;
- :mod:`.embeddings`: safetensors files of vectors pinned to their generation;
- :mod:`.labels`: class labels as users have them, coded as integers;
- :mod:`.pairs`: the same items embedded by two generations, checked and split;
- :mod:`.synthetic`: pairs with a planted map, for known answers.

Nothing here loads a model: turning texts into vectors is :mod:`embedreg.models`.
"""

from __future__ import annotations

from .embeddings import (
    Embeddings,
    EmbeddingsMeta,
    EmbeddingsWriter,
    iter_embeddings,
    load_embeddings,
    read_meta,
    save_embeddings,
)
from .inputs import INPUT_SUFFIXES, InputColumns, InputItem, count_lines, read_inputs
from .labels import label_codes
from .pairs import MIN_HELDOUT, PairedEmbeddings, load_pairs, minimum_pairs, pair_embeddings

__all__ = [
    "INPUT_SUFFIXES",
    "MIN_HELDOUT",
    "Embeddings",
    "EmbeddingsMeta",
    "EmbeddingsWriter",
    "InputColumns",
    "InputItem",
    "PairedEmbeddings",
    "count_lines",
    "iter_embeddings",
    "label_codes",
    "load_embeddings",
    "load_pairs",
    "minimum_pairs",
    "pair_embeddings",
    "read_inputs",
    "read_meta",
    "save_embeddings",
]
