"""The hard sets (bench/datasets.py) embedded by the chain's generations, and their splits.

Each set is embedded once by v1, v2 and v3 (queries' recipe, 128 tokens) into
the benchmark registry's cache (see ``_chain``).  A split keeps
``HELDOUT`` of the items for the figures, as ``embedreg adapter train
--heldout`` does (the same function, the same seed), so what is trained and
measured here is what a user's default ``adapter train`` trains and measures.
"""

from __future__ import annotations

import sys

import _chain
import datasets
from embedreg.data.pairs import PairedEmbeddings
from embedreg.training.data import split_pairs

#: Share of each set held out for the figures (about 2,000 evaluation items
#: on the package descriptions, 1,360 on the man pages).
HELDOUT = 0.4

#: Generation pairs (new, old) measured on each set.
PAIRS = (("v2", "v1"), ("v3", "v2"), ("v3", "v1"))


def set_pairs(name: str, new: str, old: str) -> PairedEmbeddings:
    """Set ``name`` embedded by ``new`` (source) and ``old`` (target), paired by id."""
    from embedreg.models.embed import embed_pairs

    def progress(gen: str, done: int, total: int | None) -> None:
        if done == total or done % 1000 == 0:
            print(f"  {name}: embedding with {gen}: {done}/{total}", file=sys.stderr, flush=True)

    path = datasets.dataset_file(name, _chain.bench_dir())
    return embed_pairs(_chain.chain_registry(), new, old, path, role="query", progress=progress)


def split(pairs: PairedEmbeddings, seed: int) -> tuple[PairedEmbeddings, PairedEmbeddings]:
    """(train, held-out) exactly as ``adapter train --heldout HELDOUT --seed SEED`` splits."""
    return split_pairs(pairs, HELDOUT, seed, [pairs.source_dim])
