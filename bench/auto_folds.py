"""``--family auto`` chosen with one validation part or k folds, on the hard sets (issue 17).

For each hard set and generation pair (the split ``adapter train`` makes,
bench/_hard.py), auto's candidates are validated with ``-o folds=K`` for each
K asked (``folds=1``: the single 25 % validation part of before) and the
choice is made by each rule below.  The chosen candidate refit on all the
training pairs is exactly that candidate fit alone (same pairs, same seed), so
its held-out CMC@1 is read from a ``bench/quality.py --hard --json`` run of
the same sets (``--against``), which also gives the best of every candidate
and peer for the "within 0.005" count.  The selections (pooled per-query hits
and figures) are kept in ``--cache`` so that the rules can be compared
without fitting again.

    OMP_NUM_THREADS=1 python bench/auto_folds.py --folds 1,3,5 \\
        --against hard.json hard_bbc.json --cache folds.pkl
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import _hard
from embedreg.training import TrainConfig
from embedreg.training.selection import (
    AutoConfig,
    CandidateResult,
    FamilyCandidate,
    choose,
    select_adapter,
)

#: "within this of the best" (the issue's acceptance).
CLOSE = 0.005


def select(name: str, new: str, old: str, folds: int) -> dict[str, Any]:
    """auto's validation of every candidate of one case with ``folds`` folds (no refit)."""
    train, _ = _hard.split(_hard.set_pairs(name, new, old), 0)
    t0 = time.perf_counter()
    _, sel = select_adapter(
        train, TrainConfig(device="cpu", seed=0), {"folds": folds, "refit": False}
    )
    return {
        "seconds": time.perf_counter() - t0,
        "results": [(r.candidate.label, r.figures, r.hits) for r in sel.results],
    }


def _results(entry: dict[str, Any]) -> list[CandidateResult]:
    out = []
    for label, figures, hits in entry["results"]:
        res = CandidateResult(FamilyCandidate("-", AutoConfig(), label))
        if hits is None:
            res.error = "not fit"
        else:
            res.figures, res.hits, res.figure = figures, hits, figures.get("cmc@1")
        out.append(res)
    return out


def simpler_on_ties(results: list[CandidateResult]) -> int:
    """The rule before: the best, or the simplest candidate tied with it (mAP left out)."""
    bare = [replace(r, figures={k: v for k, v in r.figures.items() if k != "map"}) for r in results]
    return choose(bare, AutoConfig().tolerance, 0)[0]


def map_on_ties(results: list[CandidateResult]) -> int:
    """auto's rule now (selection.choose): of the tied, the simplest near the highest mAP."""
    return choose(results, AutoConfig().tolerance, 0)[0]


RULES: dict[str, Callable[[list[CandidateResult]], int]] = {
    "CMC@1, ties to the simpler": simpler_on_ties,
    "CMC@1, ties by mAP": map_on_ties,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="manpages,debian-packages,bbc-headlines")
    ap.add_argument("--folds", default="1,3")
    ap.add_argument("--against", nargs="+", required=True, help="bench/quality.py --hard --json")
    ap.add_argument("--cache", default="auto_folds.pkl")
    args = ap.parse_args()
    cases = {
        (r[0]["set"], r[0]["pair"]): r
        for f in args.against
        for r in json.loads(Path(f).read_text())
    }
    cache_path = Path(args.cache)
    cache: dict[tuple[str, str, int], Any] = (
        pickle.loads(cache_path.read_bytes()) if cache_path.exists() else {}
    )
    ks = [int(k) for k in args.folds.split(",")]
    keys = [(s, f"{n}→{o}") for s in args.sets.split(",") for n, o in _hard.PAIRS]
    for (name, pair), k in ((c, k) for c in keys for k in ks):
        if (name, pair, k) not in cache:
            cache[(name, pair, k)] = select(name, *pair.split("→"), k)
            cache_path.write_bytes(pickle.dumps(cache))
            print(
                f"  {name} {pair} folds={k}: {cache[(name, pair, k)]['seconds']:.0f}s",
                file=sys.stderr,
            )
    print(
        "| folds | rule | "
        + " | ".join(f"{s} {p}" for s, p in keys)
        + " | passes | within 0.005 | mean |"
    )
    print("|---|---|" + "---|" * (len(keys) + 3))
    for k in ks:
        for rule_name, rule in RULES.items():
            cells, n_pass, n_close, total = [], 0, 0, 0.0
            for name, pair in keys:
                rows, results = cases[(name, pair)], _results(cache[(name, pair, k)])
                label = results[rule(results)].candidate.label
                row = next(r for r in rows if r["kind"] == "candidate" and r["method"] == label)
                top = max(r["cmc@1"] for r in rows if r["kind"] != "auto" and not r.get("error"))
                n_pass += bool(row["criterion"])
                n_close += row["cmc@1"] - top >= -CLOSE
                total += row["cmc@1"]
                mark = "" if row["criterion"] else " ✗"
                cells.append(f"{100 * row['cmc@1']:.2f} ({label}){mark}")
            print(
                f"| {k} | {rule_name} | "
                + " | ".join(cells)
                + f" | {n_pass} | {n_close} | {100 * total / len(keys):.2f} |"
            )
    seconds = {k: sum(cache[(s, p, k)]["seconds"] for s, p in keys) for k in ks}
    print(
        "\nselection seconds, all cases: "
        + ", ".join(f"folds={k}: {v:.0f}" for k, v in seconds.items())
    )


if __name__ == "__main__":
    main()
