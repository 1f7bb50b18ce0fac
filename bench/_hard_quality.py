"""``bench/quality.py --hard``: the default, every candidate and the peers on the hard sets.

For each hard set and generation pair (bench/_hard.py: the split ``adapter
train`` makes), on the same training and held-out items:

* **auto**: ``--family auto``, the default of ``adapter train`` (candidates
  fit on part of the training pairs, chosen on the rest, winner refit);
* **every candidate** of auto's grid, fit alone on all the training pairs
  (what ``--family NAME -o …`` trains);
* **the peers' methods** (bench/_peers.py, each peer in its own virtual
  environment), fit with their own defaults on the same training pairs.

All are measured the same way, by embedreg's metrics: CMC@1 of adapted new
queries on the old gallery (leave-one-out), mAP, and the compatibility
criterion (CMC@1 at least the old model's own, old queries on the old
gallery).  Prints markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import _chain
import _hard
import numpy as np
from embedreg.data.pairs import PairedEmbeddings
from embedreg.evaluation.metrics import cmc, mean_average_precision
from embedreg.training import TrainConfig
from embedreg.training.runs import fit_family, measure_result
from embedreg.training.selection import candidate_grid

#: "within this of the best" (the issue's acceptance).
CLOSE = 0.005


def measure_queries(adapted: np.ndarray, test: PairedEmbeddings) -> dict[str, Any]:
    """CMC@1, mAP and the criterion of adapted new queries on the old gallery of ``test``."""
    codes = test.label_codes()
    assert codes is not None
    c1 = cmc(adapted, test.target, codes, codes, (1,))[1]
    reference = cmc(test.target, test.target, codes, codes, (1,))[1]
    return {
        "cmc@1": c1,
        "map": mean_average_precision(adapted, test.target, codes, codes),
        "target.cmc@1": reference,
        "criterion": bool(c1 >= reference),
    }


def one_case(
    name: str, new: str, old: str, seed: int, peers: list[str], device: str
) -> list[dict[str, Any]]:
    """Every row (auto, candidates, peers' methods) of one set and generation pair."""
    train, test = _hard.split(_hard.set_pairs(name, new, old), seed)
    config = TrainConfig(device=device, seed=seed)
    rows: list[dict[str, Any]] = []

    t0, c0 = time.perf_counter(), time.process_time()
    result, selection = fit_family("auto", train, config)
    auto_cpu = time.process_time() - c0
    assert selection is not None
    figs = measure_result(result, test, config)
    rows.append(
        {
            "kind": "auto",
            "method": f"auto → {selection.winner.candidate.label}",
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": auto_cpu,  # the fit alone, this process's CPU: steadier under load
            "reason": selection.reason,
            "validation": {r.candidate.label: r.figure for r in selection.results},
            **_keep(figs),
        }
    )
    print(f"  {name} {new}→{old}: auto {rows[-1]['seconds']:.0f}s", file=sys.stderr, flush=True)

    grid = candidate_grid(
        len(train), train.source_dim, train.target_dim, labels=train.labels is not None
    )
    for cand in grid:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            result, _ = fit_family(cand.family, train, config, cand.options)
            cpu = time.process_time() - c0
        except Exception as exc:  # recorded, not fatal
            rows.append({"kind": "candidate", "method": cand.label, "error": str(exc)})
            continue
        figs = measure_result(result, test, config)
        rows.append(
            {
                "kind": "candidate",
                "method": cand.label,
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": cpu,
                "epochs": result.epochs_run,
                "best_epoch": result.best_epoch,
                **_keep(figs),
            }
        )
    print(f"  {name} {new}→{old}: candidates done", file=sys.stderr, flush=True)

    for peer in peers:
        try:
            out = _hard.run_peer(peer, train, test)
        except Exception as exc:  # a peer that cannot install or run: said so
            rows.append({"kind": "peer", "method": f"{peer} (all)", "error": str(exc)})
            continue
        for key, value in out.items():
            if key.endswith(".seconds"):
                continue
            if isinstance(value, str):
                rows.append({"kind": "peer", "method": f"{peer}: {key}", "error": value})
                continue
            rows.append(
                {
                    "kind": "peer",
                    "method": f"{peer}: {key}",
                    "seconds": out.get(f"{key}.seconds"),
                    **measure_queries(np.asarray(value), test),
                }
            )
    for r in rows:
        r.update(set=name, pair=f"{new}→{old}", train=len(train), heldout=len(test))
    return rows


def _keep(figures: Any) -> dict[str, Any]:
    figs = figures.to_dict()  # a typed Figures record, as registry.json stores it
    return {k: figs.get(k) for k in ("cmc@1", "map", "target.cmc@1", "criterion", "defect")}


def print_case(rows: list[dict[str, Any]]) -> None:
    r0 = rows[0]
    print(
        f"### {r0['set']}: {r0['pair']} ({r0['train']} train / {r0['heldout']} held out; "
        f"old/old CMC@1 {100 * r0['target.cmc@1']:.2f})\n"
    )
    print("| method | CMC@1 | mAP | criterion | seconds |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r.get("error"):
            print(f"| {r['method']} | not run: {r['error'][:160]} | | | |")
            continue
        secs = r.get("seconds")
        print(
            f"| {r['method']} | {100 * r['cmc@1']:.2f} | {100 * r['map']:.2f} | "
            f"{'pass' if r['criterion'] else 'FAIL'} | {'—' if secs is None else f'{secs:.1f}'} |"
        )
    if "reason" in r0:
        print(f"\nauto chose {r0['method'].split('→ ')[1]}: {r0['reason']}.\n")


def _best(rows: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    ok = [r for r in rows if r["kind"] == kind and not r.get("error")]
    return max(ok, key=lambda r: r["cmc@1"]) if ok else None


def summary(cases: list[list[dict[str, Any]]]) -> None:
    """One line per case: old/old, auto, λ-orth alone, best candidate, best peer; then the counts."""
    print("### Summary (CMC@1 on the held-out items, points)\n")
    print(
        "| set | pair | old/old | auto (chosen) | λ-orth defaults | best candidate | best peer "
        "| auto passes | any passes | auto − best of all |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    n_auto = n_any = n_close = n_need = 0
    for rows in cases:
        auto = rows[0]
        lam = next(r for r in rows if r["method"] == "lambda-orth")
        cand, peer = _best(rows, "candidate"), _best(rows, "peer")
        others = [r for r in (cand, peer) if r is not None]
        top = max(others, key=lambda r: r["cmc@1"])
        any_pass = any(r["criterion"] for r in rows if not r.get("error"))
        gap = auto["cmc@1"] - top["cmc@1"]
        n_auto += bool(auto["criterion"])
        n_any += any_pass
        n_need += any_pass and not auto["criterion"]
        n_close += gap >= -CLOSE
        peer_cell = "—" if peer is None else f"{100 * peer['cmc@1']:.2f} ({peer['method']})"
        print(
            f"| {auto['set']} | {auto['pair']} | {100 * auto['target.cmc@1']:.2f} "
            f"| {100 * auto['cmc@1']:.2f} ({auto['method'].split('→ ')[1]}) "
            f"| {100 * lam['cmc@1']:.2f} | {100 * top['cmc@1']:.2f} ({top['method']}) "
            f"| {peer_cell} | {'pass' if auto['criterion'] else 'FAIL'} "
            f"| {'yes' if any_pass else 'no'} | {100 * gap:+.2f} |"
        )
    print(
        f"\nauto passes the criterion in {n_auto} of {len(cases)} cases; some method passes in "
        f"{n_any}; auto fails where another passes in {n_need}; auto within {CLOSE} of the best "
        f"candidate or peer in {n_close} of {len(cases)}.\n"
    )


def warm_up() -> None:
    """Pay the process's one-off imports before anything is timed.

    The first optimiser a process builds imports ``torch._dynamo`` (2 to 4 CPU
    s here); without this the first case's auto, timed first, was charged it
    and the single fits timed after it were not.
    """
    import torch

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def main(args: argparse.Namespace) -> None:
    peers = [p for p in args.peers.split(",") if p]
    warm_up()
    pairs = args.pairs or "v2:v1,v3:v2,v3:v1"
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
    cases = []
    for name in args.sets.split(","):
        for spec in pairs.split(","):
            new, old = spec.split(":")
            rows = one_case(name, new, old, args.seed, peers, args.device)
            print_case(rows)
            sys.stdout.flush()
            cases.append(rows)
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(cases, fh, indent=1, default=str)
    summary(cases)
    print(f"load average after: {_chain.load_average()}", file=sys.stderr)
