"""Evidence for the λ-orth defaults the paper leaves open (α, λ, loss weights, lr, batch, epochs).

Two parts:

1. *Real data*: λ-orth v3 → v2 on BBC News halves (three splits, as in
   bench/quality.py), one setting changed at a time from the defaults;
   mean CMC@1 / mAP / recall@1 / geometry / D/λ / epochs / seconds.
   ``"labels": false`` trains without the topic labels (so the
   contrastive term is InfoNCE) and still measures with them.
2. *Synthetic band*: how far inside the λ band D ends for each α, on a
   planted affine map whose least-squares solution lies far outside the band.
3. *Stability* of the optimiser on 100k pairs 768 → 384 (the CPU speed
   case): the paper's Adam settings (lr 1e-3, β₂ 0.999) against ours, three
   seeds each; final validation loss, D and epochs.

    python bench/defaults.py [--part real|band|stability|all] [--splits 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import fields, replace
from typing import Any

import _chain
from embedreg.adapters.lambda_orth import LambdaOrthConfig, resolve_lambda
from embedreg.adapters.linear import defect
from embedreg.data.synthetic import planted_pairs
from embedreg.training import AdapterTrainer, TrainConfig, fit_and_measure

REAL_SWEEP: list[dict[str, Any]] = [
    {},
    {"w_contrastive": 0.0},
    {"w_contrastive": 0.05},
    {"w_contrastive": 0.2},
    {"w_contrastive": 0.5},
    {"temperature": 0.05},
    {"lam_per_dim": 0.1},
    {"lam_per_dim": 0.25},
    {"lam_per_dim": 0.5},
    {"lam_per_dim": 1.0},
    {"lam": math.inf},
    {"alpha": 10.0},
    {"alpha": 100.0},
    {"lr": 1e-3},
    {"lr": 1e-4},
    {"beta2": 0.999},
    {"batch_size": 256},
    {"batch_size": 1024},
    {"monitor": "loss"},
    {"joint_forward": True},
    {"labels": False},
    {"labels": False, "w_contrastive": 0.1},
    {"labels": False, "w_contrastive": 0.5},
]


SCHEDULE = {f.name for f in fields(TrainConfig)}


def split(change: dict[str, Any]) -> tuple[TrainConfig, LambdaOrthConfig]:
    """A change from the defaults as (schedule, λ-orth options)."""
    schedule = {k: v for k, v in change.items() if k in SCHEDULE}
    options = {k: v for k, v in change.items() if k not in SCHEDULE and k != "labels"}
    return TrainConfig(device="cpu", **schedule), LambdaOrthConfig(**options)


def real(splits: int) -> None:
    pairs = _chain.chain_pairs("v3", "v2")
    data = [_chain.halves(pairs, s) for s in range(splits)]
    print(
        "| change from the defaults | CMC@1 | mAP | recall@1 | geometry (pts) | D / λ | epochs | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for change in REAL_SWEEP:
        cfg, options = split(change)
        res: dict[str, list[float]] = {}
        for train, test in data:
            if change.get("labels") is False:  # train without labels, measure with them
                train = replace(train, labels=None)
            t0 = time.perf_counter()
            result, figs = fit_and_measure("lambda-orth", train, test, cfg, options)
            lam = options.absolute_lambda(768, 384)
            for key in ("cmc@1", "map", "recall@1", "geometry"):
                res.setdefault(key, []).append(100 * figs[key])
            res.setdefault("d", []).append(figs["defect"] / lam if math.isfinite(lam) else math.nan)
            res.setdefault("epochs", []).append(result.epochs_run)
            res.setdefault("seconds", []).append(time.perf_counter() - t0)
        m = {k: statistics.fmean(v) for k, v in res.items()}
        label = json.dumps(change) if change else "(defaults)"
        d = "—" if math.isnan(m["d"]) else f"{m['d']:.2f}"
        print(
            f"| `{label}` | {m['cmc@1']:.2f} | {m['map']:.2f} | {m['recall@1']:.2f} | "
            f"{m['geometry']:+.2f} | {d} | {m['epochs']:.1f} | {m['seconds']:.1f} |",
            flush=True,
        )


def band() -> None:
    print("| α | in → out | λ | D at the end | D / λ | held-out MSE |")
    print("|---|---|---|---|---|---|")
    for in_dim, out_dim in ((256, 128), (128, 256)):
        data = planted_pairs(20000, in_dim, out_dim, kind="affine", noise=0.05, seed=4).pairs
        train, test = data.split(0.1, seed=0)
        lam = resolve_lambda(None, 0.375, in_dim, out_dim)
        for alpha in (2.0, 10.0, 30.0, 100.0):
            trainer = AdapterTrainer(TrainConfig(device="cpu"))
            fit = trainer.fit("lambda-orth", train.source, train.target, options={"alpha": alpha})
            a = fit.adapter
            d = defect(a.affine().W)
            mse = float(((a.transform(test.source) - test.target) ** 2).sum(1).mean())
            print(
                f"| {alpha:g} | {in_dim} → {out_dim} | {lam:.2f} | {d:.2f} | {d / lam:.2f} | {mse:.4f} |",
                flush=True,
            )


def stability() -> None:
    data = planted_pairs(100_000, 768, 384, kind="affine", noise=0.3, seed=0).pairs
    settings: list[tuple[str, dict[str, Any]]] = [
        ("lr 1e-3, β₂ 0.999 (torch's Adam, the paper's lr)", {"lr": 1e-3, "beta2": 0.999}),
        ("lr 1e-3, β₂ 0.99", {"lr": 1e-3}),
        ("defaults (lr 2.4e-4 from the map size, β₂ 0.99)", {}),
    ]
    print(
        "| optimiser | seed | epochs (best) | D at the best epoch | validation loss at the best epoch |"
    )
    print("|---|---|---|---|---|")
    for label, change in settings:
        for seed in range(3):
            cfg = TrainConfig(device="cpu", seed=seed, **change)
            r = AdapterTrainer(cfg).fit("lambda-orth", data.source, data.target)
            best = r.history[r.best_epoch - 1]
            print(
                f"| {label} | {seed} | {r.epochs_run} ({r.best_epoch}) | {best.defect:.2f} "
                f"| {best.val_loss:.5f} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("real", "band", "stability", "all"), default="all")
    ap.add_argument("--splits", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
    if args.part in ("band", "all"):
        band()
        print()
    if args.part in ("stability", "all"):
        stability()
        print()
    if args.part in ("real", "all"):
        real(args.splits)


if __name__ == "__main__":
    main()
