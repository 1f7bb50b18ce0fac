"""λ-orth on the hard sets: one change at a time from the defaults, and the closed forms beside it.

For each hard set and generation pair (bench/_hard.py: the same split as
``adapter train``), fits λ-orth with each variant on the training part and
measures it on the held-out part (CMC@1 of new queries on the old gallery,
leave-one-out, and mAP).  Prints a markdown table per set and pair and a
summary (mean CMC@1 change from the defaults over every case).

    python bench/lambda_hard.py [--sets debian-packages,manpages] [--pairs v2:v1,v3:v2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import _chain
import _hard
from embedreg.training import TrainConfig, fit_and_measure

#: (label, family, options, schedule changes)
VARIANTS: list[tuple[str, str, dict[str, object], dict[str, object]]] = [
    ("procrustes", "procrustes", {}, {}),
    ("procrustes centred", "procrustes", {"center": True}, {}),
    ("affine (ridge)", "affine", {}, {}),
    ("λ-orth defaults (stop on mAP)", "lambda-orth", {}, {}),
    ("stop on CMC@1 (before)", "lambda-orth", {}, {"monitor": "cmc"}),
    (
        "stop on mAP, validation 0.25 + refit",
        "lambda-orth",
        {},
        {"validation": 0.25, "refit": True},
    ),
    ("centred start", "lambda-orth", {"center": True}, {}),
    ("λ per dim 0.25", "lambda-orth", {"lam_per_dim": 0.25}, {}),
    ("λ per dim 1", "lambda-orth", {"lam_per_dim": 1.0}, {}),
    ("λ = ∞", "lambda-orth", {"lam": float("inf")}, {}),
    ("contrastive weight 0", "lambda-orth", {"w_contrastive": 0.0}, {}),
    ("contrastive weight 0.3", "lambda-orth", {"w_contrastive": 0.3}, {}),
    ("joint forward map", "lambda-orth", {"joint_forward": True}, {}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="debian-packages,manpages")
    ap.add_argument("--pairs", default="v2:v1,v3:v2,v3:v1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
    everything = []
    for name in args.sets.split(","):
        for spec in args.pairs.split(","):
            new, old = spec.split(":")
            train, test = _hard.split(_hard.set_pairs(name, new, old), args.seed)
            print(f"### {name}: {new} → {old} ({len(train)} train / {len(test)} held out)\n")
            print("| variant | CMC@1 | mAP | old/old | criterion | D | epochs | seconds |")
            print("|---|---|---|---|---|---|---|---|")
            for label, family, options, sched in VARIANTS:
                config = TrainConfig(device="cpu", seed=args.seed, **sched)  # type: ignore[arg-type]
                t0 = time.perf_counter()
                result, measured = fit_and_measure(family, train, test, config, options)
                figs = measured.to_dict()  # the stored form: 'cmc@1', 'target.cmc@1', …
                secs = time.perf_counter() - t0
                d = figs.get("defect")
                print(
                    f"| {label} | {100 * figs['cmc@1']:.2f} | {100 * figs['map']:.2f} | "
                    f"{100 * figs['target.cmc@1']:.2f} | {'pass' if figs['criterion'] else 'FAIL'} | "
                    f"{'—' if d is None else f'{d:.2f}'} | {result.epochs_run or '—'}"
                    f"{f' ({result.best_epoch})' if result.epochs_run else ''} | {secs:.1f} |",
                    flush=True,
                )
                everything.append(
                    {
                        "set": name,
                        "pair": spec,
                        "variant": label,
                        "seconds": secs,
                        "epochs": result.epochs_run,
                        "best_epoch": result.best_epoch,
                        **figs,
                    }
                )
            print()
    base = {
        (e["set"], e["pair"]): e["cmc@1"]
        for e in everything
        if e["variant"].startswith("λ-orth defaults")
    }
    print("| variant | mean CMC@1 change from the defaults (points) | cases better / worse |")
    print("|---|---|---|")
    for label, *_ in VARIANTS:
        deltas = [
            100 * (e["cmc@1"] - base[(e["set"], e["pair"])])
            for e in everything
            if e["variant"] == label
        ]
        print(
            f"| {label} | {statistics.fmean(deltas):+.2f} | {sum(d > 0 for d in deltas)} / {sum(d < 0 for d in deltas)} |"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)
    print(f"\nload average after: {_chain.load_average()}", file=sys.stderr)


if __name__ == "__main__":
    main()
