"""Backfill curves on the real chain: how much does the order of re-embedding matter?

For each upgrade (gallery generation → new generation: v1 → v2, v2 → v3) an
adapter new → old (λ-orth, default settings) is trained on one half of BBC
News and registered in the benchmark registry under a bench-only id; the
other half is the gallery and the queries (leave-one-out, CMC@1 on topics).
:func:`embedreg.reports.backfill` then measures the curves of the three
orders (random, worst-first, predicted with a 10 % probe) for both ways of
serving the rest (through the path, or forward-adapted with a forward
λ-orth adapter trained on the same half), averaged over three random
seeds of the order.  Prints markdown for bench/RESULTS.md.

    python bench/backfill.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import _chain
from embedreg.reports import EvalSet, backfill
from embedreg.routing import RoutingPolicy
from embedreg.training import train_adapter

UPGRADES = (("v1", "v2"), ("v2", "v3"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    reg = _chain.chain_registry()
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
    print(
        "| gallery → new | rest | order | area (mean over seeds) | gain over random | β=0 | β=0.5 | β=1 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for old, new in UPGRADES:
        pairs = _chain.chain_pairs(new, old)
        train, test = _chain.halves(pairs, 0)
        for direction in ("backward", "forward"):
            name = f"bench-backfill-{new}-{old}"
            train_adapter(
                reg,
                new,
                old,
                train,
                direction=direction,
                name=f"{name}-{direction}",
                replace_existing=True,
            )
        held = _chain.bench_dir() / f"backfill-{new}-{old}.jsonl"
        ids = set(test.ids)
        with (
            open(_chain.bbc_jsonl(), encoding="utf-8") as src,
            open(held, "w", encoding="utf-8") as out,
        ):
            for line in src:
                if json.loads(line)["id"] in ids:
                    out.write(line)
        data = EvalSet.from_texts(held)
        for rest in ("path", "forward"):
            runs = [
                backfill(
                    reg, old, new, data, rest=rest, seed=seed, policy=RoutingPolicy(min_quality=0.0)
                )
                for seed in range(args.seeds)
            ]
            print(f"  {old}→{new} {rest}: via {runs[0].via}", file=sys.stderr)
            for order in runs[0].areas:
                areas = [r.areas[order] for r in runs]
                gains = [r.gain(order) for r in runs]
                curve = runs[0].curves[order]
                gain = (
                    "—"
                    if order == "random"
                    else f"{statistics.fmean(gains):+.4f} ({min(gains):+.4f} to {max(gains):+.4f})"
                )
                print(
                    f"| {old} → {new} | {rest} | {order} | {statistics.fmean(areas):.4f} | {gain} "
                    f"| {curve[0]:.4f} | {curve[5]:.4f} | {curve[-1]:.4f} |"
                )


if __name__ == "__main__":
    main()
