"""Encoding throughput and streaming memory of embedreg's Encoder on the three real generations.

Measures, on the device given (default: auto, i.e. CUDA when present):

1. items/s per generation (v1, v2, v3) on short sentences and on long
   documents (BBC News, truncated to each generation's max tokens);
2. length-sorted batching against input order on a shuffled mix of short and
   long texts (same texts, same vectors);
3. resident memory (RSS) while ``embed_inputs`` streams a file of N short
   texts into a sharded embeddings file, sampled as the work proceeds, to show
   that memory stays flat instead of growing with N.

Run from the repository root (prepares the test bed cache on first use):

    python bench/encode.py                      # everything, ~15 min on 2 CPU cores
    python bench/encode.py --quick              # small sizes, a smoke test
    python bench/encode.py --stream-items 200000 --stream-gen v1 --only stream

Prints a Markdown report (machine, settings, tables) on stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from embedreg import Generation
from embedreg.models import Encoder, pin_model
from embedreg.models.embed import embed_inputs

import testbed


def machine() -> str:
    import torch
    import transformers

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, "
        f"Python {platform.python_version()}, GPU: {gpu}"
    )


def generations() -> dict[str, Generation]:
    return {
        "v1": pin_model("v1", testbed.v1_dir(), **testbed.V1_RECIPE, fingerprint=False),
        "v2": pin_model("v2", testbed.v2_dir(), **testbed.V2_RECIPE, fingerprint=False),
        "v3": pin_model("v3", testbed.v3_dir(), **testbed.V3_RECIPE, fingerprint=False),
    }


def sentences(texts: list[str]) -> list[str]:
    """Short texts: the sentences of the BBC News documents (5 to 40 words)."""
    out = []
    for doc in texts:
        for sent in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
            if 5 <= len(sent.split()) <= 40:
                out.append(sent)
    return out


def rate(encoder: Encoder, texts: list[str]) -> tuple[float, float]:
    """(items per wall-clock second, items per CPU second of this process)."""
    encoder.encode(texts[: encoder.batch_size])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts)
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return len(texts) / wall, len(texts) / used


def bench_throughput(
    gens: dict[str, Generation], short: list[str], long: list[str], args: argparse.Namespace
) -> list[str]:
    sizes = {
        "v1": (args.short, args.long),
        "v2": (args.short, args.long),
        "v3": (args.short // 4, args.long // 4),
    }
    rows = [
        "| generation | dim | max tokens | short: items/s | short: items/CPU-s | long: items/s | long: items/CPU-s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, gen in gens.items():
        n_short, n_long = sizes[name]
        enc = Encoder(gen, device=args.device, batch_size=args.batch_size)
        s_wall, s_cpu = rate(enc, short[:n_short])
        l_wall, l_cpu = rate(enc, long[:n_long])
        rows.append(
            f"| {name} | {gen.dimension} | {gen.recipe.max_tokens} | {s_wall:,.1f} (n={n_short}) | "
            f"{s_cpu:,.1f} | {l_wall:,.1f} (n={n_long}) | {l_cpu:,.1f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
        del enc
    return rows


def bench_sorting(
    gen: Generation, short: list[str], long: list[str], args: argparse.Namespace
) -> list[str]:
    mix = short[: args.mixed * 3 // 4] + long[: args.mixed // 4]
    random.Random(0).shuffle(mix)
    modes = {"input order": False, "length-sorted": True}
    encoders = {
        label: Encoder(gen, device=args.device, batch_size=args.batch_size, sort_by_length=sort)
        for label, sort in modes.items()
    }
    times: dict[str, list[float]] = {label: [] for label in modes}
    results = {}
    encoders["input order"].encode(mix[: args.batch_size])  # warm-up
    for _ in range(args.repeats):  # alternate, so that load changes hit both alike
        for label, enc in encoders.items():
            start = time.perf_counter()
            results[label] = enc.encode(mix)
            times[label].append(time.perf_counter() - start)
            print(label, f"{times[label][-1]:.1f} s", file=sys.stderr, flush=True)
    rows = [
        "| batching | items/s (median) | items/s (best) | seconds per run |",
        "|---|---|---|---|",
    ]
    for label, runs in times.items():
        med = statistics.median(runs)
        rows.append(
            f"| {label} | {len(mix) / med:,.1f} | {len(mix) / min(runs):,.1f} | "
            f"{', '.join(f'{t:.1f}' for t in runs)} |"
        )
    speedup = statistics.median(times["input order"]) / statistics.median(times["length-sorted"])
    diff = float(abs(results["input order"] - results["length-sorted"]).max())
    rows.append("")
    rows.append(
        f"{len(mix)} texts ({args.mixed * 3 // 4} sentences, {args.mixed // 4} documents, shuffled), "
        f"generation {gen.name}, batch size {args.batch_size}, {args.repeats} alternating runs each: "
        f"length-sorted is {speedup:.2f}x faster (medians); largest difference between the two "
        f"results: {diff:.1e}."
    )
    return rows


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_stream(gen: Generation, short: list[str], args: argparse.Namespace) -> list[str]:
    n = args.stream_items
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "short.txt"
        with open(src, "w", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(f"{short[i % len(short)]} ({i})\n")
        encoder = Encoder(gen, device=args.device, batch_size=args.batch_size)
        encoder.encode(short[:64])
        baseline = rss_mib()
        samples: list[tuple[int, float]] = []
        done_box = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                samples.append((done_box[0], rss_mib()))

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        start = time.perf_counter()
        result = embed_inputs(
            gen,
            src,
            Path(tmp) / "out.safetensors",
            encoder=encoder,
            chunk_size=args.chunk_size,
            shard_rows=args.shard_rows,
            progress=lambda done, total: done_box.__setitem__(0, done),
        )
        seconds = time.perf_counter() - start
        stop.set()
        thread.join()
        shards = len(list((Path(tmp) / "out.safetensors").glob("*.safetensors")))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = (
        f"process peak (ru_maxrss): {peak_kib / 1024:,.0f} MiB"
        if args.only == ["stream"]
        else "(run with --only stream for a process peak free of the other sections)"
    )
    rows = ["| items done | RSS (MiB) |", "|---|---|"]
    for frac in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
        target = frac * n
        near = min(samples, key=lambda s: abs(s[0] - target)) if samples else (0, float("nan"))
        rows.append(f"| {near[0]:,} | {near[1]:,.0f} |")
    later = [m for d, m in samples if d >= 0.1 * n]
    vectors_mib = n * gen.dimension * 4 / 2**20
    rows += [
        "",
        f"Generation {gen.name}, {n:,} short texts, chunk {args.chunk_size}, shards of {args.shard_rows:,} rows "
        f"({shards} shard files), {result.items_per_second:,.1f} items/s over {seconds:,.0f} s.",
        f"RSS after loading the model: {baseline:,.0f} MiB; during streaming (after the first 10%): "
        f"min {min(later):,.0f} / max {max(later):,.0f} MiB; {peak}. "
        f"For scale, the {n:,} vectors alone are {vectors_mib:,.0f} MiB.",
    ]
    return rows


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--short", type=int, default=2000, help="short texts per generation (v3: a quarter)"
    )
    parser.add_argument(
        "--long", type=int, default=200, help="long documents per generation (v3: a quarter)"
    )
    parser.add_argument("--mixed", type=int, default=800, help="texts in the sorting comparison")
    parser.add_argument("--mixed-gen", default="v2")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per batching mode")
    parser.add_argument("--stream-items", type=int, default=200_000)
    parser.add_argument("--stream-gen", default="v1")
    parser.add_argument("--chunk-size", type=int, default=8192)
    parser.add_argument("--shard-rows", type=int, default=65536)
    parser.add_argument("--only", choices=["throughput", "sorting", "stream"], action="append")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.short, args.long, args.mixed, args.stream_items = 128, 16, 64, 3000
        args.repeats = 1
        args.chunk_size, args.shard_rows = 512, 1000
    parts = set(args.only or ["throughput", "sorting", "stream"])

    news = testbed.bbc_news()
    long = [" ".join(t.split()) for t in news.texts]
    random.Random(1).shuffle(long)
    short = sentences(news.texts)
    random.Random(2).shuffle(short)
    gens = generations()

    print("## Encoding (bench/encode.py)\n")
    print(f"Machine: {machine()}.  ")
    print(
        f"Command: `python bench/encode.py {' '.join(sys.argv[1:])}`; device {args.device}, batch size {args.batch_size}.\n"
    )
    if "throughput" in parts:
        print("### Throughput per generation\n")
        print(
            "Short: BBC News sentences (5-40 words); long: whole BBC News documents (~2,300 characters), "
            "truncated to the generation's max tokens.\n"
        )
        print(f"Before: {load()}.\n")
        print("\n".join(bench_throughput(gens, short, long, args)) + "\n")
    if "sorting" in parts:
        print("### Length-sorted batching against input order (mixed lengths)\n")
        print(f"Before: {load()}.\n")
        print("\n".join(bench_sorting(gens[args.mixed_gen], short, long, args)) + "\n")
    if "stream" in parts:
        print("### Memory while streaming short texts into an embeddings file\n")
        print(f"Before: {load()}.\n")
        print("\n".join(bench_stream(gens[args.stream_gen], short, args)) + "\n")
    print(f"After: {load()}.")


if __name__ == "__main__":
    main()
