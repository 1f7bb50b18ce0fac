"""Exports as sentence-transformers models: how closely they reproduce embedreg, and what they cost.

A registry of its own (in ``$EMBEDREG_BENCH_DIR/st-export``): v1, v2 (128 tokens)
and v2-short (the same weights reading 32 tokens), 500 BBC News texts of 200
characters embedded by each, and two affine adapters, v2-short → v2 and
v2 → v1.  Exported: the one adapter (one hop), and the path v2-short → v1
(two hops compiled into one ``Dense``).  For each export: the verification's
cosines and norm error, the wall and CPU seconds of the export (build, save,
load back, verify, card), the folder's size; then a fresh interpreter that
imports sentence-transformers alone loads the folder and encodes 64 texts
(wall seconds, and the cosine of its vectors against embedreg's path output
for those texts, which the verification never saw).  Prints markdown for
bench/RESULTS.md.

    python bench/st_export.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _chain
from embedreg import Registry
from embedreg.export import export_plan, export_sentence_transformers
from embedreg.export.verify import expected_vectors
from embedreg.models import pin_model
from embedreg.training import train_adapter, training_pairs

import testbed

LOADER = """
import json, sys, time
start = time.perf_counter()
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
texts = json.loads(sys.argv[2])
vectors = model.encode(texts)
import numpy as np
np.save(sys.argv[3], vectors)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "embedreg": sorted(m for m in sys.modules if m.startswith("embedreg"))}))
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def registry(root: Path) -> tuple[Registry, list[str]]:
    reg = Registry.open(root / "registry")
    reg.init()
    known = reg.document().generations
    specs = [
        ("v1", testbed.v1_dir(), {**testbed.V1_RECIPE, "max_tokens": 128}, None),
        ("v2", testbed.v2_dir(), {"max_tokens": 128}, "v1"),
        ("v2-short", testbed.v2_dir(), {"max_tokens": 32}, "v2"),
    ]
    for name, folder, recipe, parent in specs:
        if name not in known:
            reg.add_generation(pin_model(name, folder, parent=parent, **recipe, fingerprint=False))
    news = testbed.bbc_news()
    texts = [" ".join(t.split())[:200] for t in news.texts]
    train = root / "train.jsonl"
    if not train.exists():
        with open(train, "w", encoding="utf-8") as fh:
            for i in range(0, 2000, 4):
                fh.write(
                    json.dumps({"id": news.ids[i], "text": texts[i], "label": news.labels[i]})
                    + "\n"
                )
    for new, old in (("v2-short", "v2"), ("v2", "v1")):
        if f"{new}-to-{old}.affine" not in reg.document().adapters:
            pairs = training_pairs(reg, new, old, texts=train, device="cpu")
            train_adapter(reg, new, old, pairs, family="affine")
    held_out = [texts[i] for i in range(2, 2000, 28)][:64]  # never in the training texts
    return reg, held_out


def main() -> None:
    root = _chain.bench_dir() / "st-export"
    root.mkdir(parents=True, exist_ok=True)
    reg, texts = registry(root)
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()} at the start")
    print(
        "| export | hops | 1 − min cos (17 verification texts) | 1 − mean cos | max norm error "
        "| export wall s | export CPU s | folder MB | fresh load + encode 64, wall s "
        "| 1 − min cos on 64 other texts |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for what in ("v2-short-to-v2.affine", "v2-short:v1"):
        out = root / ("st-" + what.replace(":", "-to-"))
        shutil.rmtree(out, ignore_errors=True)
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = export_sentence_transformers(reg, what, out)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBEDREG")}
        npy = root / "vectors.npy"
        done = subprocess.run(
            [sys.executable, "-c", LOADER, str(out), json.dumps(texts), str(npy)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        fresh = json.loads(done.stdout.strip().splitlines()[-1])
        assert fresh["embedreg"] == [], fresh
        got = np.load(npy).astype(np.float64)
        want = expected_vectors(export_plan(reg, what), tuple(texts)).astype(np.float64)
        cos = np.einsum("ij,ij->i", got, want) / (
            np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1)
        )
        v = result.verification
        print(
            f"| {what} | {len(result.plan.path.adapter_ids)} | {1 - v.min_cosine:.1e} | "
            f"{1 - v.mean_cosine:.1e} | {v.max_norm_error:.1e} | {wall:.1f} | {cpu:.1f} | "
            f"{size:.1f} | {fresh['seconds']:.1f} | {1 - cos.min():.1e} |"
        )

    print(f"\nload average {_chain.load_average()} at the end")


if __name__ == "__main__":
    main()
