"""The real upgrade chain for benchmarks: v1 → v2 → v3 over BBC News, embedded once and cached.

A benchmark registry lives in ``$EMBEDREG_BENCH_DIR`` (default
``~/.cache/embedreg-bench``), outside the repository, so embeddings made by a
slow model (v3 takes minutes on a CPU) are computed once: they sit in the
registry's embeddings cache (see :mod:`embedreg.models.embed`).  Generations
are registered with inputs truncated to 128 tokens, as in the test bed's
reference measurements.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from embedreg import Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.models import pin_model

import testbed

MAX_TOKENS = 128


def bench_dir() -> Path:
    root = Path(
        os.environ.get("EMBEDREG_BENCH_DIR") or Path("~/.cache/embedreg-bench").expanduser()
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


def chain_registry() -> Registry:
    """The benchmark registry with v1, v2 and v3 registered (created on first use)."""
    reg = Registry.open(bench_dir() / "registry")
    reg.init()
    known = reg.document().generations
    specs = [
        ("v1", testbed.v1_dir(), {**testbed.V1_RECIPE, "max_tokens": MAX_TOKENS}, None),
        ("v2", testbed.v2_dir(), {"max_tokens": MAX_TOKENS}, "v1"),
        ("v3", testbed.v3_dir(), {"max_tokens": MAX_TOKENS}, "v2"),
    ]
    for name, folder, recipe, parent in specs:
        if name not in known:
            reg.add_generation(pin_model(name, folder, parent=parent, **recipe, fingerprint=False))
    return reg


def bbc_jsonl() -> Path:
    """BBC News as JSON lines (id, text, label), written once."""
    path = bench_dir() / "bbc.jsonl"
    if not path.exists():
        news = testbed.bbc_news()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for i, t, label in zip(news.ids, news.texts, news.labels, strict=True):
                fh.write(json.dumps({"id": i, "text": t, "label": label}) + "\n")
        os.replace(tmp, path)
    return path


def chain_pairs(new: str, old: str) -> PairedEmbeddings:
    """BBC News embedded by ``new`` and ``old`` (queries' recipe), paired by id."""
    from embedreg.models.embed import embed_pairs

    def progress(gen: str, done: int, total: int | None) -> None:
        if done == total or done % 500 == 0:
            print(f"  embedding with {gen}: {done}/{total}", file=sys.stderr, flush=True)

    return embed_pairs(chain_registry(), new, old, bbc_jsonl(), role="query", progress=progress)


def halves(pairs: PairedEmbeddings, seed: int) -> tuple[PairedEmbeddings, PairedEmbeddings]:
    """A random split of the items in two halves (train, test)."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    half = len(pairs) // 2
    return pairs.subset(np.sort(order[:half])), pairs.subset(np.sort(order[half:]))


def machine() -> str:
    """CPU model, cores, torch and transformers versions, GPU (as bench/encode.py reports them)."""
    from encode import machine as describe

    return str(describe())


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"
