"""Gallery upgrades: re-embedding throughput on 1 and N processes, the cost of checkpointing,
and search quality of mixed (partially upgraded) galleries against a single-space gallery.

Three parts (``--only``):

1. ``throughput``: BBC News documents (truncated to 128 tokens) re-embedded by
   v2 through a sharded work folder (:mod:`embedreg.models.sharded`) on 1
   process and on N processes started by accelerate (``--num-processes``),
   rounds alternating; wall time includes start-up (model loads), and the
   steady rate is measured between the first and the last chunk written;
2. ``checkpoint``: one loaded encoder, the same texts, in one run: encoded
   in one call (no chunks), in chunks without writing, and in checkpointed
   chunks written as files (what an upgrade job does), rounds alternating;
3. ``merge``: v1 → v2 on BBC News: adapters fitted on 700 documents, a
   gallery of 1,200 and 325 held-out queries; CMC@1 / precision@10 (same
   topic) and the overlap of the top 10 with the single-space v2 gallery's,
   for old/old, adapt-queries, forward, mixed galleries (25 / 50 / 75 % re-embedded,
   random or worst-first order) merged by score, calibrated score or
   reciprocal-rank fusion, and the single-space gallery itself.

    python bench/upgrade.py                     # all three, ~10 min on 2 CPU cores
    python bench/upgrade.py --only merge
    python bench/upgrade.py --only throughput --items 400 --rounds 2

Prints Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _chain import bbc_jsonl, chain_pairs, chain_registry, load_average, machine
from embedreg import Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.gallery import Gallery
from embedreg.models import Encoder
from embedreg.models.sharded import WorkSpec, chunk_path, embed_share, prepare, processes, run
from embedreg.training import train_adapter
from embedreg.upgrade.calibrate import fit_calibration
from embedreg.upgrade.selection import round_trip, select
from embedreg.util.hashing import file_sha256


def documents(n: int, chars: int = 1200) -> Path:
    """The first ``n`` BBC documents (shuffled once) as an items file."""
    rows = [json.loads(line) for line in bbc_jsonl().read_text().splitlines()]
    order = np.random.default_rng(0).permutation(len(rows))[:n]
    path = Path(tempfile.mkdtemp()) / "items.jsonl"
    with open(path, "w") as fh:
        for i in order:
            fh.write(json.dumps({"id": rows[i]["id"], "text": rows[i]["text"][:chars]}) + "\n")
    return path


def steady_rate(work: Path, spec: WorkSpec, processes: int) -> float:
    """Items per second after each process's first chunk (model loading left out).

    Process ``r`` embeds chunks ``r, r + N, …``: its first is chunk ``r``.
    """
    stamps = [chunk_path(work, k).stat().st_mtime for k in range(spec.chunks)]
    start = max(stamps[:processes])
    later = [k for k in range(processes, spec.chunks) if stamps[k] > start]
    rows = sum(spec.rows(k) for k in later)
    return rows / (max(stamps) - start) if later else 0.0


def throughput(args: argparse.Namespace) -> None:
    reg = chain_registry()
    gen = reg.generation("v2")
    items = documents(args.items)
    spec = WorkSpec(gen, str(items), file_sha256(items), args.items, chunk_size=args.chunk)
    results: dict[int, list[tuple[float, float]]] = {1: [], args.num_processes: []}
    print(f"Load average before: {load_average()}", file=sys.stderr)
    for r in range(args.rounds):
        for n in (1, args.num_processes) if r % 2 == 0 else (args.num_processes, 1):
            work = Path(tempfile.mkdtemp()) / "work"
            prepare(work, spec)
            t = time.perf_counter()
            run(work, num_processes=n, device="cpu")
            wall = time.perf_counter() - t
            results[n].append((wall, steady_rate(work, spec, n)))
            print(f"  round {r} processes {n}: {wall:.1f}s", file=sys.stderr)
            shutil.rmtree(work.parent)
    print(
        f"\n### Re-embedding throughput, v2, {args.items} BBC documents, chunks of {args.chunk}\n"
    )
    print(f"{args.rounds} rounds, order alternating; load average after: {load_average()}\n")
    print("| processes | wall s (median) | items/s incl. start-up | steady items/s (median) |")
    print("|---|---|---|---|")
    for n, rows in results.items():
        wall = statistics.median(w for w, _ in rows)
        rate = statistics.median(s for _, s in rows)
        print(f"| {n} | {wall:.1f} | {args.items / wall:.1f} | {rate:.1f} |")


def checkpoint(args: argparse.Namespace) -> None:
    reg = chain_registry()
    gen = reg.generation("v2")
    items = documents(args.items)
    texts = [json.loads(line)["text"] for line in items.read_text().splitlines()]
    encoder = Encoder(gen, device="cpu")
    procs = processes("cpu")
    modes = ("one call", "chunks, no files", "checkpointed chunks")
    times: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else tuple(reversed(modes)):
            t = time.perf_counter()
            if mode == "one call":
                encoder.encode(texts)
            elif mode == "chunks, no files":
                for a in range(0, len(texts), args.chunk):
                    encoder.encode(texts[a : a + args.chunk])
            else:
                work = Path(tempfile.mkdtemp()) / "work"
                spec = WorkSpec(
                    gen, str(items), file_sha256(items), len(texts), chunk_size=args.chunk
                )
                prepare(work, spec)
                embed_share(work, procs, encoder=encoder)
                shutil.rmtree(work.parent)
            times[mode].append(time.perf_counter() - t)
            print(f"  round {r} {mode}: {times[mode][-1]:.1f}s", file=sys.stderr)
    base = statistics.median(times["one call"])
    print(f"\n### Cost of checkpointing, v2, {len(texts)} BBC documents, chunks of {args.chunk}\n")
    print(
        f"One loaded encoder, {args.rounds} rounds, order alternating; load average {load_average()}\n"
    )
    print("| mode | s (median) | items/s | vs one call |")
    print("|---|---|---|---|")
    for mode in modes:
        t = statistics.median(times[mode])
        print(f"| {mode} | {t:.2f} | {len(texts) / t:.1f} | {100 * (t / base - 1):+.1f} % |")


def topic_figures(
    hits: Any, labels: dict[str, str], truth: list[str], ref: list[list[str]] | None
) -> tuple[float, float, float | None]:
    cmc = float(np.mean([labels[row[0]] == t for row, t in zip(hits.ids, truth, strict=True)]))
    p10 = float(
        np.mean(
            [np.mean([labels[i] == t for i in row]) for row, t in zip(hits.ids, truth, strict=True)]
        )
    )
    overlap = None
    if ref is not None:
        overlap = float(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(hits.ids, ref, strict=True)])
        )
    return cmc, p10, overlap


def merge(args: argparse.Namespace) -> None:
    hi, lo = args.pair.split(",")
    pairs = chain_pairs(hi, lo)  # row i: the new and the old vectors of one document
    labels = dict(zip(pairs.ids, pairs.labels or [], strict=True))
    order = np.random.default_rng(1).permutation(len(pairs))
    train, gal, qry = order[:1000], order[1000:1900], order[1900:]
    tmp = Path(tempfile.mkdtemp())
    reg = Registry.open(tmp / "reg")
    reg.init()
    chain = chain_registry()
    old_gen, new_gen = chain.generation(lo), chain.generation(hi)
    v1 = reg.add_generation(replace(old_gen, parent=None))
    v2 = reg.add_generation(replace(new_gen, parent=lo))
    t = np.sort(train)
    train_adapter(
        reg,
        hi,
        lo,
        PairedEmbeddings(
            [pairs.ids[i] for i in t],
            pairs.source[t],
            pairs.target[t],
            [labels[pairs.ids[i]] for i in t],
        ),
        family="affine",
        direction="both",
    )
    ids = [pairs.ids[i] for i in gal]
    new, old = pairs.source[gal], pairs.target[gal]
    q2, q1 = pairs.source[qry], pairs.target[qry]
    truth = [labels[pairs.ids[i]] for i in qry]
    single = Gallery.create(v2)
    single.add(new, ids, generation=v2)
    ref = single.search_vectors(q2, k=10, generation=v2)
    rows: list[tuple[str, tuple[float, float, float | None]]] = []
    old_g = Gallery.create(v1)
    old_g.add(old, ids, generation=v1)
    rows.append(
        (
            f"old/old: {lo} queries, {lo} gallery",
            topic_figures(old_g.search_vectors(q1, k=10, generation=v1), labels, truth, None),
        )
    )
    rows.append(
        (
            f"adapt-queries: {hi} queries → {lo} gallery",
            topic_figures(
                old_g.search_vectors(q2, k=10, generation=v2, registry=reg), labels, truth, ref.ids
            ),
        )
    )
    from embedreg.routing import Resolver

    resolver = Resolver(reg)
    fwd, back = resolver.resolve(lo, hi), resolver.resolve(hi, lo)
    forward_g = Gallery.create(v2)
    forward_g.add(fwd.apply(old), ids, generation=v2)
    rows.append(
        (
            f"forward: {hi} queries, F({lo}) gallery",
            topic_figures(
                forward_g.search_vectors(q2, k=10, generation=v2), labels, truth, ref.ids
            ),
        )
    )
    scores = dict(zip(ids, round_trip(old, fwd, back).tolist(), strict=True))
    for fraction in (0.25, 0.5, 0.75):
        for how in ("random", "worst"):
            if how == "worst" and fraction != 0.5:
                continue
            chosen = set(select(ids, round(fraction * len(ids)), how, seed=0, scores=scores))
            pick = np.array([i in chosen for i in ids])
            g = Gallery.create(v2)
            g.add(new[pick], [i for i, p in zip(ids, pick, strict=True) if p], generation=v2)
            g.add_segment(v1)
            g.add(old[~pick], [i for i, p in zip(ids, pick, strict=True) if not p], generation=v1)
            cal = fit_calibration(
                new[pick], new[pick], back.apply(new[pick]), old[pick], metric="ip"
            )
            assert cal is not None
            g.calibration = {lo: {hi: cal}}
            for mode in ("score", "calibrated", "rrf"):
                if how == "worst" and mode == "rrf":
                    continue
                hits = g.search_vectors(q2, k=10, generation=v2, registry=reg, merge=mode)
                share = float(np.mean([s == hi for row in hits.segments for s in row]))
                label = f"partial {int(fraction * 100)} % ({how}), merged by {mode}"
                rows.append(
                    (
                        f"{label}; {hi} share of top 10: {share:.2f}",
                        topic_figures(hits, labels, truth, ref.ids),
                    )
                )
            if fraction == 0.5 and how == "random":
                cal50 = cal
    rows.append(
        (
            f"single space: {hi} queries, {hi} gallery (reembed)",
            topic_figures(ref, labels, truth, ref.ids),
        )
    )
    print(
        f"\n### Mixed galleries: {lo} → {hi}, BBC News, gallery {len(ids)}, {len(truth)} held-out queries\n"
    )
    print(f"Adapters: affine, both directions, fitted on {len(train)} other documents (labels).")
    print(
        f"CMC@1 and precision@10: same topic; overlap@10: with the single-space {hi} gallery's top 10."
    )
    print(
        f"Calibration at 50 % (random): scale {cal50.scale:.3f}, shift {cal50.shift:.3f}, rmse {cal50.rmse}.\n"
    )
    print("| search | CMC@1 | P@10 | overlap@10 |")
    print("|---|---|---|---|")
    for name, (cmc, p10, ov) in rows:
        print(f"| {name} | {cmc:.3f} | {p10:.3f} | {'—' if ov is None else f'{ov:.3f}'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("throughput", "checkpoint", "merge"))
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--pair", default="v2,v1", help="NEW,OLD generations of the merge part")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    for part in ("throughput", "checkpoint", "merge"):
        if args.only in (None, part):
            globals()[part](args)


if __name__ == "__main__":
    main()
