"""Query paths beyond one map on the hard sets (issue 23): fused and cascade against old/old and new/new.

For each set and generation pair, on the split ``adapter train`` makes
(bench/_hard.py, 40 % held out, seed 0): ``--family auto`` is fit on the
training pairs exactly as ``adapter train`` fits it (5 folds, the winner refit),
then :func:`embedreg.training.paths.adapter_paths` fits the fused path's ``t``
on the training pairs only (auto's own fold fits, every training item in the
validation gallery) and measures every variant on the held-out items:

- old/old, new/new (each generation's own queries on its own gallery),
- auto's map, fused (t fitted), cascade K = 20, 50, 100 over the map and over
  the fused path;

CMC@1 with its 95 % bootstrap interval, mAP, the criterion (CMC@1 ≥ old/old),
the share of the old/old → new/new CMC@1 gap closed, and what the resolver
chooses with ``--paths any`` (:func:`embedreg.routing.kinds.choose_option`).
µs/query is the arithmetic on the held-out gallery (fusion, re-scoring); the
encoders' own cost per text is measured separately (``--encoders``) on 200
headlines, one thread.

    OMP_NUM_THREADS=1 python bench/paths.py --json paths.json
    python bench/paths.py --report paths.json    # the Markdown tables
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import _hard
from embedreg.registry import Figures, PathsRecord
from embedreg.registry.provenance import PathVariant
from embedreg.routing.kinds import PathOption, choose_option, stored_options
from embedreg.routing.policy import PathKind, RoutingPolicy
from embedreg.training import TrainConfig
from embedreg.training.paths import variant_label
from embedreg.training.runs import fit_family, measure_result


def run_case(name: str, new: str, old: str) -> dict[str, Any]:
    """One set and pair: auto, its paths, the resolver's choice."""
    from embedreg.training.paths import adapter_paths

    pairs = _hard.set_pairs(name, new, old)
    train, heldout = _hard.split(pairs, 0)
    config = TrainConfig(device="cpu", seed=0)
    t0 = time.perf_counter()
    result, selection = fit_family("auto", train, config)
    fit_seconds = time.perf_counter() - t0
    measured = measure_result(result, heldout, config)
    t0 = time.perf_counter()
    record = adapter_paths(
        result.family, result.options, train, heldout, result.adapter, config, selection
    )
    paths_seconds = time.perf_counter() - t0
    chosen = choose(measured, record)
    figures, paths = measured.to_dict(), record.to_dict()  # the results file: stored forms
    return {
        "set": name,
        "pair": f"{new}→{old}",
        "train": len(train),
        "heldout": len(heldout),
        "auto": selection.winner.candidate.label if selection else result.family,
        "map": {k: figures.get(k) for k in ("cmc@1", "cmc@1.interval", "map", "criterion")},
        "paths": paths,
        "choice": chosen,
        "seconds": {"auto": round(fit_seconds, 1), "paths": round(paths_seconds, 1)},
    }


def choose(figures: Figures, paths: PathsRecord) -> dict[str, Any]:
    """What ``resolve NEW OLD --paths any`` takes among auto's map and its variants."""
    from embedreg.evaluation.bootstrap import Interval

    options = [
        PathOption(
            PathKind.MAP,
            float(figures.retention or 0.0),
            "pass" if figures.criterion else "fail",
            0,
            interval=Interval.from_value(figures.retention_interval),
        ),
        *stored_options(paths),
    ]
    out = {}
    for label, policy in (
        ("any", RoutingPolicy(min_quality=None)),
        ("any, ≤ 1 extra encode", RoutingPolicy(min_quality=None, max_query_cost=1)),
    ):
        picked, _, reason = choose_option(options, policy)
        out[label] = {
            "path": picked.label(),
            "quality": picked.quality,
            "criterion": picked.criterion,
            "reason": reason,
        }
    return out


def encoder_costs(n: int = 200) -> dict[str, float]:
    """µs per text of each generation's encoder (query role, batch 32, this process's threads)."""
    import _chain
    import datasets
    from embedreg.models import Encoder

    path = datasets.dataset_file("bbc-headlines", _chain.bench_dir())
    texts = [json.loads(line)["text"] for line in path.read_text().splitlines()[:n]]
    reg = _chain.chain_registry()
    out = {}
    for gen in ("v1", "v2", "v3"):
        enc = Encoder(reg.generation(gen), device="cpu")
        enc.encode(texts[:8], role="query")  # load and warm up
        t0 = time.perf_counter()
        enc.encode(texts, role="query")
        out[gen] = round((time.perf_counter() - t0) / n * 1e6, 1)
    return out


def pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.2f}"


def band(value: Any) -> str:
    return f"[{100 * value[0]:.1f}, {100 * value[1]:.1f}]" if isinstance(value, list) else "—"


def report(cases: list[dict[str, Any]], encoders: dict[str, float] | None) -> str:
    """Markdown: one summary table, then one table per case."""
    lines = [
        "| set | pair | old/old | new/new | auto's map | fused (t) | cascade K=100 over map | "
        "gap closed at K=100 | `--paths any` chooses | passes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        p = c["paths"]
        rows = {variant_label(PathVariant.from_dict(v)): v for v in p["variants"]}
        fused = rows[f"fused t={p['t']:g}"]["figures"]
        k100 = rows["cascade K=100 over map"]["figures"]
        old, new = p["target.cmc@1"], p["source.cmc@1"]
        gap = (k100["cmc@1"] - old) / (new - old) if new - old > 0 else None
        pick = c["choice"]["any"]
        lines.append(
            f"| {c['set']} | {c['pair']} | {pct(old)} | {pct(new)} | {pct(c['map']['cmc@1'])} "
            f"({c['auto']}) | {pct(fused['cmc@1'])} ({p['t']:g}) | {pct(k100['cmc@1'])} | "
            f"{'—' if gap is None else f'{100 * gap:.0f} %'} | {pick['path']} | "
            f"{'pass' if pick['criterion'] == 'pass' else 'FAIL'} |"
        )
    for c in cases:
        p = c["paths"]
        lines += [
            "",
            f"#### {c['set']}: {c['pair']} ({c['train']} train / {c['heldout']} held out; "
            f"auto chose {c['auto']}, t = {p['t']:g}: {p['t_reason']})",
            "",
            "| path | CMC@1 | 95 % | mAP | criterion | extra encodes / query | µs / query (arithmetic) |",
            "|---|---|---|---|---|---|---|",
            f"| old/old | {pct(p['target.cmc@1'])} | | {pct(p['target.map'])} | | 0 | |",
            f"| new/new | {pct(p['source.cmc@1'])} | | {pct(p['source.map'])} | | | |",
        ]
        for v in p["variants"]:
            f, cost = v["figures"], v["cost"]
            lines.append(
                f"| {variant_label(PathVariant.from_dict(v))} | {pct(f['cmc@1'])} | {band(f.get('cmc@1.interval'))} | "
                f"{pct(f['map'])} | {'pass' if f['criterion'] else 'FAIL'} | "
                f"{cost['extra_encodes']} | {cost['arith_us_per_query']:.1f} |"
            )
        cheap = c["choice"]["any, ≤ 1 extra encode"]
        lines += [
            "",
            f"`--paths any` chooses {c['choice']['any']['path']} ({c['choice']['any']['reason']}); "
            f"with `--max-query-cost 1`: {cheap['path']} ({cheap['reason']}). "
            f"Seconds: auto {c['seconds']['auto']}, paths {c['seconds']['paths']}.",
        ]
    if encoders:
        lines += [
            "",
            "Encoder cost, µs per text (query role, batch 32, 1 thread, 200 headlines): "
            + ", ".join(f"{g} {us:,.0f}" for g, us in encoders.items()),
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="debian-packages,manpages,bbc-headlines")
    ap.add_argument("--pairs", default="v2:v1,v3:v2,v3:v1")
    ap.add_argument("--json", help="write the cases here (after each case)")
    ap.add_argument("--encoders", action="store_true", help="also time the three encoders")
    ap.add_argument("--report", help="print the Markdown of a --json file and exit")
    args = ap.parse_args()
    if args.report:
        data = json.loads(Path(args.report).read_text())
        print(report(data["cases"], data.get("encoders")))
        return
    out: dict[str, Any] = {"cases": []}
    if args.json and Path(args.json).exists():
        out = json.loads(Path(args.json).read_text())
    done = {(c["set"], c["pair"]) for c in out["cases"]}
    for name in args.sets.split(","):
        for pair in args.pairs.split(","):
            new, old = pair.split(":")
            if (name, f"{new}→{old}") in done:
                continue
            print(f"{name} {new}→{old} …", file=sys.stderr, flush=True)
            out["cases"].append(run_case(name, new, old))
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1))
    if args.encoders:
        out["encoders"] = encoder_costs()
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
    print(report(out["cases"], out.get("encoders")))


if __name__ == "__main__":
    main()
