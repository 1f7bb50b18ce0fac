"""Adapter quality: BBC News halves (``adapter compare``), or the hard sets with the peers (``--hard``).

**BBC News** (the default).

For each pair of the chain (v3 → v2, v2 → v1; backward adapters, new
queries on an old gallery) and each of three random half splits, every
family is fit on one half with the default settings and measured on the
other half (the same code path as ``embedreg adapter compare``).  Prints
markdown tables for bench/RESULTS.md: per family the mean and range over
the splits, then the v3 → v2 targets' verdicts.

    python bench/quality.py [--splits 3] [--pairs v3:v2,v2:v1] [--json out.json]

**The hard sets** (``--hard``, bench/_hard_quality.py): per set and
generation pair, on the split ``adapter train`` makes, the default
(``--family auto``), every candidate of its grid fit alone on all the
training pairs, and the peers' methods (isotrieve, vectormigrate, rebasis,
each in its own environment), all measured by embedreg's metrics on the same
held-out items.

    python bench/quality.py --hard [--sets debian-packages,manpages,bbc-headlines] [--pairs v2:v1,v3:v2,v3:v1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import _chain
from embedreg.training import TrainConfig, compare_families

COLUMNS = [
    ("cmc@1", "CMC@1 A(new)/old"),
    ("target.cmc@1", "old/old"),
    ("source.cmc@1", "new/new"),
    ("map", "mAP"),
    ("recall@1", "recall@1"),
    ("agreement@10", "agree@10"),
    ("geometry", "geometry (pts)"),
    ("defect", "D"),
    ("retention", "retention"),
]


def fmt(values: list[float], key: str) -> str:
    scale = 1.0 if key in ("defect", "retention") else 100.0
    vals = [v * scale for v in values]
    mean = statistics.fmean(vals)
    digits = 3 if key == "retention" else 2
    if len(vals) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(vals):.{digits}f} to {max(vals):.{digits}f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hard", action="store_true", help="the hard sets, with the peers")
    ap.add_argument("--sets", default="debian-packages,manpages,bbc-headlines")
    ap.add_argument("--peers", default="isotrieve,vectormigrate,rebasis")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--pairs", default=None, help="v3:v2,v2:v1 (hard: v2:v1,v3:v2,v3:v1)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    if args.hard:
        import _hard_quality

        _hard_quality.main(args)
        return
    args.pairs = args.pairs or "v3:v2,v2:v1"
    config = TrainConfig(device=args.device)
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
    everything: dict[str, list[dict[str, object]]] = {}
    for spec in args.pairs.split(","):
        new, old = spec.split(":")
        pairs = _chain.chain_pairs(new, old)
        rows: dict[str, list[dict[str, object]]] = {}
        for seed in range(args.splits):
            train, test = _chain.halves(pairs, seed)
            t0 = time.perf_counter()
            for row in compare_families(train, test=test, config=config):
                entry = {
                    "split": seed,
                    "seconds": row.seconds,
                    "epochs": row.epochs,
                    "error": row.error,
                    **row.figures.to_dict(),
                }
                rows.setdefault(row.family, []).append(entry)
            print(f"  {new}→{old} split {seed}: {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        everything[f"{new}->{old}"] = [dict(r, family=f) for f, rs in rows.items() for r in rs]
        print(
            f"### {new} → {old} ({len(pairs)} BBC News documents, halves: {len(train)} train / {len(test)} test, {args.splits} splits)\n"
        )
        print(
            "| family | " + " | ".join(label for _, label in COLUMNS) + " | criterion | seconds |"
        )
        print("|---" * (len(COLUMNS) + 3) + "|")
        for family, entries in rows.items():
            if entries[0]["error"] is not None:
                print(
                    f"| {family} | not applicable: {entries[0]['error']} |"
                    + " |" * (len(COLUMNS) + 1)
                )
                continue
            cells = []
            for key, _ in COLUMNS:
                vals = [e[key] for e in entries if e.get(key) is not None]
                cells.append(fmt(vals, key) if vals else "—")  # type: ignore[arg-type]
            passed = sum(1 for e in entries if e.get("criterion"))
            secs = statistics.fmean(float(e["seconds"]) for e in entries)  # type: ignore[arg-type]
            print(
                f"| {family} | " + " | ".join(cells) + f" | {passed}/{len(entries)} | {secs:.1f} |"
            )
        print()
        if (new, old) == ("v3", "v2"):
            verdicts(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)


def verdicts(rows: dict[str, list[dict[str, object]]]) -> None:
    lam = rows["lambda-orth"]
    print("Targets (v3 → v2), per split:\n")
    for i, e in enumerate(lam):
        pro, aff = rows["procrustes"][i], rows["affine"][i]
        print(
            f"- split {i}: criterion {'pass' if e['criterion'] else 'FAIL'} "
            f"(λ-orth {100 * e['cmc@1']:.2f} vs v2/v2 {100 * e['target.cmc@1']:.2f}); "  # type: ignore[operator]
            f"λ-orth ≥ Procrustes ({100 * pro['cmc@1']:.2f}): {e['cmc@1'] >= pro['cmc@1']}; "  # type: ignore[operator]
            f"λ-orth ≥ affine ({100 * aff['cmc@1']:.2f}): {e['cmc@1'] >= aff['cmc@1']}; "  # type: ignore[operator]
            f"geometry {100 * e['geometry']:+.2f} points"  # type: ignore[operator]
        )
    print()


if __name__ == "__main__":
    main()
