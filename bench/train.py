"""Training speed: pairs/s and time to converge for λ-orth (and the closed forms).

* CPU: 100k pairs 768 → 384 (target: converged in under 60 s);
* GPU: 1M pairs 1024 → 1024 (target: under 20 s), only where CUDA is present.

Data are synthetic (a planted affine map plus noise, unit-norm sources with
a decaying spectrum); "converged" means early stopping ended the run (the
validation figure stopped improving for ``patience`` epochs), and the time
is the whole ``AdapterTrainer.fit`` call: moments and Procrustes
initialisation, every epoch, validation and restoring the best epoch.
Each case runs ``--repeat`` times; the median and range are printed as a
markdown table for bench/RESULTS.md.

    python bench/train.py [--repeat 3] [--case cpu|gpu|all] [--families lambda-orth,procrustes,affine]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _chain
from embedreg.data.synthetic import planted_pairs
from embedreg.training import AdapterTrainer, TrainConfig

CASES = {
    "cpu": {"n": 100_000, "in": 768, "out": 384, "device": "cpu", "target": 60.0},
    "gpu": {"n": 1_000_000, "in": 1024, "out": 1024, "device": "cuda", "target": 20.0},
}


def run_case(name: str, families: list[str], repeat: int) -> None:
    import torch

    spec = CASES[name]
    if spec["device"] == "cuda" and not torch.cuda.is_available():
        print(
            f"| {name} | {spec['n']:,} pairs {spec['in']} → {spec['out']} | not measured: no CUDA device | | | | |"
        )
        return
    t0 = time.perf_counter()
    data = planted_pairs(
        int(spec["n"]), int(spec["in"]), int(spec["out"]), kind="affine", noise=0.3, seed=0
    ).pairs
    gen_s = time.perf_counter() - t0
    for family in families:
        times, rates, epochs, best = [], [], [], []
        result = None
        for r in range(repeat):
            config = TrainConfig(device=str(spec["device"]), seed=r)
            t = time.perf_counter()
            result = AdapterTrainer(config).fit(family, data.source, data.target)
            times.append(time.perf_counter() - t)
            rates.append(result.n_train * max(result.epochs_run, 1) / times[-1])
            epochs.append(result.epochs_run)
            best.append(result.best_epoch)
        assert result is not None
        med = statistics.median(times)
        verdict = "yes" if med < float(spec["target"]) else "NO"
        print(
            f"| {name} ({result.device}) | {spec['n']:,} pairs {spec['in']} → {spec['out']} | {family} "
            f"| {med:.1f} ({min(times):.1f} to {max(times):.1f}) | {statistics.median(rates):,.0f} "
            f"| {statistics.median(epochs):.0f} (best {statistics.median(best):.0f}) "
            f"| {result.batch_size or '—'} | {verdict if family == 'lambda-orth' else ''} |",
            flush=True,
        )
    print(f"<!-- data generation {gen_s:.1f}s, not counted -->")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--case", choices=("cpu", "gpu", "all"), default="all")
    ap.add_argument("--families", default="lambda-orth,procrustes,affine")
    args = ap.parse_args()
    print(f"machine: {_chain.machine()}; load average before: {_chain.load_average()}\n")
    print(
        "| case | data | family | seconds to converge, median (range) | pairs/s | epochs | batch | under target |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in ("cpu", "gpu") if args.case == "all" else (args.case,):
        run_case(name, args.families.split(","), args.repeat)
    print(f"\nload average after: {_chain.load_average()}")


if __name__ == "__main__":
    main()
