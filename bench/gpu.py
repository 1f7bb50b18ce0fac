"""Every GPU figure in one command, within 8 minutes: ``bash bench/gpu.sh`` (issue 28).

On a machine with a CUDA device it runs, each step in a time budget of its
own, and writes one Markdown results file (``--out``, default
``gpu-results.md``) headed by the machine line, rewritten after every step
so that what was measured survives a step that fails or runs out of time:

1. **the ``gpu``-marked tests** (``python -m pytest -m gpu``), their summary line;
2. **λ-orth training on 1M pairs 1024 → 1024** (synthetic, as
   ``bench/train.py --case gpu``; target under 20 s), the whole
   ``AdapterTrainer.fit`` call, and Procrustes beside it;
3. **auto's wall time on the hard sets** (``bench/_hard.py``: the split
   ``adapter train`` makes; the sets are embedded first where they are not
   cached, which is part of neither figure), the choice and held-out CMC@1;
4. **encoding throughput** of the test-bed generations v1, v2, v3 at fp32 and
   bf16 (short BBC News sentences and whole documents);
5. **a 2-process re-embed** (``embedreg.models.sharded.run`` with
   ``num_processes=2``, the path ``upgrade apply --num-processes 2`` takes)
   against 1 process, only when two CUDA devices are present.

A step that cannot run (no test-bed models, no hard sets, one device) says
why in the file instead of a figure.  On a machine without CUDA it prints one
line saying so and exits 0 without running anything.

    bash bench/gpu.sh [--out FILE] [--budget 480]

Example:
    >>> STEPS[0][0]
    'gpu tests'
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]

#: Set to 1 to run every step on the CPU at tiny sizes (a check of this script
#: on a machine without CUDA; its figures mean nothing).
ON_CPU = "EMBEDREG_GPU_BENCH_ON_CPU"


class Bench:
    """The device, the sizes, the deadline and the results file being written."""

    def __init__(self, out: Path, budget: float, tiny: bool) -> None:
        self.out = out
        self.tiny = tiny
        self.device = "cpu" if tiny else "cuda"
        self.deadline = time.monotonic() + budget
        self.sections: list[str] = []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def write(self, header: str) -> None:
        """The results file as measured so far (atomically replaced)."""
        text = header + "\n\n" + "\n\n".join(self.sections) + "\n"
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.out)


def step_tests(b: Bench, budget: float) -> list[str]:
    """The ``gpu``-marked tests: pytest's summary line."""
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    if b.tiny:  # on the CPU they are all skipped; collect one module only
        cmd[-1] = "tests/training/test_trainer.py"
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget, check=False
        )
    except subprocess.TimeoutExpired:
        return [f"not finished within {budget:.0f} s"]
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    return [
        f"`{' '.join(cmd[1:])}`: exit {done.returncode}; {lines[-1] if lines else '(no output)'}"
    ]


def step_train(b: Bench, budget: float) -> list[str]:
    """λ-orth (and Procrustes) on 1M synthetic pairs 1024 → 1024."""
    from embedreg.data.synthetic import planted_pairs
    from embedreg.training import AdapterTrainer, TrainConfig

    n, dim = (2000, 64) if b.tiny else (1_000_000, 1024)
    t0 = time.perf_counter()
    data = planted_pairs(n, dim, dim, kind="affine", noise=0.3, seed=0).pairs
    rows = [
        f"{n:,} pairs {dim} → {dim} (synthetic, planted affine map; made in "
        f"{time.perf_counter() - t0:.1f} s, not counted); target for λ-orth: under 20 s",
        "",
        "| family | seconds (whole fit) | epochs | best epoch | pairs·epochs/s | under 20 s |",
        "|---|---|---|---|---|---|",
    ]
    for family in ("lambda-orth", "procrustes"):
        if b.left() < 5:
            rows.append(f"| {family} | not run: out of time | | | | |")
            continue
        t = time.perf_counter()
        result = AdapterTrainer(TrainConfig(device=b.device, seed=0)).fit(
            family, data.source, data.target
        )
        if b.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        wall = time.perf_counter() - t
        rate = result.n_train * max(result.epochs_run, 1) / wall
        rows.append(
            f"| {family} | {wall:.2f} | {result.epochs_run} | {result.best_epoch} | "
            f"{rate:,.0f} | {'yes' if wall < 20 else 'NO'} |"
        )
    return rows


def step_auto(b: Bench, budget: float) -> list[str]:
    """``--family auto`` on each hard set and pair: wall time, choice, held-out CMC@1."""
    import _hard
    from embedreg.training import TrainConfig
    from embedreg.training.runs import fit_family, measure_result

    end = time.monotonic() + budget
    rows = [
        "| set | pair | train pairs | auto s | selection s | chosen | held-out CMC@1 |",
        "|---|---|---|---|---|---|---|",
    ]
    sets = ("bbc-headlines",) if b.tiny else ("bbc-headlines", "manpages", "debian-packages")
    pairs = (("v2", "v1"),) if b.tiny else _hard.PAIRS
    for name in sets:
        for new, old in pairs:
            if time.monotonic() > end:
                rows.append(f"| {name} | {new}→{old} | not run: out of time | | | | |")
                continue
            try:  # the sets are built from this machine's man pages and apt lists
                train, test = _hard.split(_hard.set_pairs(name, new, old), 0)
            except Exception as exc:
                rows.append(
                    f"| {name} | {new}→{old} | not measured: {type(exc).__name__}: {exc} | | | | |"
                )
                continue
            if b.tiny:  # a slice: a check of the code path, not a figure
                train, test = (
                    train.subset(range(0, len(train), 6)),
                    test.subset(range(0, len(test), 8)),
                )
            config = TrainConfig(device=b.device, seed=0)
            t = time.perf_counter()
            result, selection = fit_family("auto", train, config)
            wall = time.perf_counter() - t
            assert selection is not None
            figs = measure_result(result, test, config)
            rows.append(
                f"| {name} | {new}→{old} | {len(train)} | {wall:.1f} | {selection.seconds:.1f} | "
                f"{selection.winner.candidate.label} | {100 * float(figs.cmc_at_1 or 0):.2f} |"
            )
    return rows


def step_encode(b: Bench, budget: float) -> list[str]:
    """Items/s of v1, v2, v3 at fp32 and bf16, short sentences and whole documents."""
    import encode
    from embedreg.models import Encoder

    import testbed

    end = time.monotonic() + budget
    news = testbed.bbc_news()
    short = encode.sentences(news.texts)
    long = list(news.texts)
    n_short, n_long = (64, 16) if b.tiny else (4000, 1000)
    rows = [
        f"batch size 128; short: BBC News sentences of 5 to 40 words (n={n_short}); long: whole "
        f"documents (n={n_long}), truncated to each generation's max tokens; one warm-up batch first",
        "",
        "| generation | dim | precision | short: items/s | long: items/s |",
        "|---|---|---|---|---|",
    ]
    for name, gen in encode.generations().items():
        for precision in ("fp32", "bf16"):
            if time.monotonic() > end:
                rows.append(f"| {name} | {gen.dimension} | {precision} | not run: out of time | |")
                continue
            enc = Encoder(gen, device=b.device, batch_size=128, precision=precision)
            s_rate, _ = encode.rate(enc, short[:n_short])
            l_rate, _ = encode.rate(enc, long[:n_long])
            rows.append(
                f"| {name} | {gen.dimension} | {precision} | {s_rate:,.0f} | {l_rate:,.0f} |"
            )
            del enc
    return rows


def step_reembed(b: Bench, budget: float) -> list[str]:
    """A gallery's documents re-embedded by v2 on 1 and on 2 processes (one device each)."""
    import torch

    devices = torch.cuda.device_count() if not b.tiny else 2
    if devices < 2:
        return [f"not run: {devices} CUDA device(s); the 2-process re-embed needs two"]
    from _chain import chain_registry
    from embedreg.models.sharded import WorkSpec, prepare, run
    from embedreg.util.hashing import file_sha256

    from upgrade import documents, steady_rate

    n = 64 if b.tiny else 4000
    gen = chain_registry().generation("v2")
    items = documents(min(n, 2225))
    n = sum(1 for _ in items.open())
    spec = WorkSpec(gen, str(items), file_sha256(items), n, chunk_size=16 if b.tiny else 256)
    rows = [
        f"v2, {n} BBC News documents (first 1,200 characters), chunks of {spec.chunk_size}; "
        "wall time includes start-up (model loads; accelerate's launcher for 2)",
        "",
        "| processes | wall s | items/s incl. start-up | steady items/s |",
        "|---|---|---|---|",
    ]
    for procs in (1, 2):
        work = Path(tempfile.mkdtemp()) / "work"
        prepare(work, spec)
        t = time.perf_counter()
        run(work, num_processes=procs, device=b.device)
        wall = time.perf_counter() - t
        rows.append(
            f"| {procs} | {wall:.1f} | {n / wall:,.1f} | {steady_rate(work, spec, procs):,.1f} |"
        )
        shutil.rmtree(work.parent)
    return rows


#: (title, function, share of the budget it may use at most)
STEPS: list[tuple[str, Callable[[Bench, float], list[str]], float]] = [
    ("gpu tests", step_tests, 0.25),
    ("λ-orth training, 1M pairs 1024 → 1024", step_train, 0.15),
    ("auto on the hard sets", step_auto, 0.30),
    ("encoding throughput, fp32 and bf16", step_encode, 0.15),
    ("2-process re-embed", step_reembed, 0.15),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="gpu-results.md", help="the results file (Markdown)")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for all the steps")
    args = ap.parse_args()
    tiny = os.environ.get(ON_CPU) == "1"
    try:
        import torch
    except ImportError:
        print(
            f"bench/gpu.sh needs torch with a CUDA device ({sys.executable} has no torch; "
            "set PYTHON= to the environment embedreg is installed in); nothing was run."
        )
        return 0
    if not tiny and not torch.cuda.is_available():
        print("bench/gpu.sh needs a CUDA device (none found); nothing was run.")
        return 0
    import _chain

    b = Bench(Path(args.out), args.budget, tiny)
    header = (
        f"## GPU figures (bench/gpu.sh, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
        f"\n\nMachine: {_chain.machine()}; CUDA devices: {torch.cuda.device_count()}; "
        f"load average before: {_chain.load_average()}"
        + (
            "\n\n**Run on the CPU at tiny sizes (a check of the script; no figure here means anything).**"
            if tiny
            else ""
        )
    )
    start = time.monotonic()
    for title, fn, share in STEPS:
        budget = min(share * args.budget, b.left())
        t = time.monotonic()
        print(f"bench/gpu.sh: {title} (budget {budget:.0f} s)", file=sys.stderr, flush=True)
        if budget < 5:
            body = ["not run: out of time"]
        else:
            try:
                body = fn(b, budget)
            except Exception as exc:  # one step's failure must not lose the others' figures
                body = [f"not measured: {type(exc).__name__}: {exc}"]
        b.sections.append(f"### {title} ({time.monotonic() - t:.0f} s)\n\n" + "\n".join(body))
        b.write(header)
    b.sections.append(
        f"Total {time.monotonic() - start:.0f} s; load average after: {_chain.load_average()}"
    )
    b.write(header)
    print(json.dumps({"results": str(b.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
