"""Query throughput: same-generation search against search routed through compiled paths.

A gallery of N unit vectors (384-d, flat inner-product index) is searched by a
batch of queries in three ways, interleaved round after round so that load on
the machine hits every variant alike:

* **same generation**: 384-d queries searched directly;
* **routed, 1 hop**: 768-d queries of a newer generation, mapped by a measured
  768 → 384 affine adapter (``QueryPath.apply``), then searched;
* **routed, 3 hops**: 768-d queries through 768 → 1024 → 512 → 384 adapters,
  compiled by the resolver into one map;

and each routed variant also through the FAISS ``IndexPreTransform`` that
``QueryPath.to_faiss`` exports.  It also times the transform alone, per query,
in a batch and one query at a time.  The adapters are real (affine family,
fit and measured by ``embedreg.training.train_adapter`` on planted pairs) and the
paths come from the real ``Resolver``.

Run from the repository root:

    python bench/query.py                   # 100k and 1M vectors
    python bench/query.py --sizes 100000 --rounds 3

Prints a Markdown report on stdout.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _chain
import numpy as np
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.gallery import Gallery
from embedreg.routing import QueryPath, Resolver, RoutingPolicy
from embedreg.training import train_adapter

DIMS = {"g0": 384, "g1": 512, "g2": 1024, "g3": 768}


def machine() -> str:
    """bench/encode.py's machine line, plus the FAISS and numpy versions and the load."""
    import faiss

    return (
        f"{_chain.machine()}, faiss {faiss.__version__}, numpy {np.__version__}, "
        f"load average {_chain.load_average()}"
    )


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_registry(folder: Path, edges: list[tuple[str, str]]) -> Registry:
    """A registry of g0 ← g1 ← g2 ← g3 with measured affine adapters along ``edges``."""
    reg = Registry.open(folder)
    reg.init()
    parent = None
    for n, (name, dim) in enumerate(DIMS.items()):
        reg.add_generation(
            Generation(name, HubSource(f"org/{name}", f"{n:040x}"), Recipe(), dim, parent=parent)
        )
        parent = name
    rng = np.random.default_rng(0)
    n = 1400
    latent = rng.standard_normal((n, 256)).astype(np.float32)
    views = {g: latent @ rng.standard_normal((256, d)).astype(np.float32) for g, d in DIMS.items()}
    ids = [str(i) for i in range(n)]
    for new, old in edges:
        pairs = PairedEmbeddings(ids, views[new], views[old])
        train_adapter(reg, new, old, pairs, family="affine", name=f"{new}-{old}")
    return reg


def build_paths(folder: Path) -> tuple[Resolver, Resolver]:
    """Resolvers whose g3 → g0 path is one direct adapter, and a chain of three."""
    direct = Resolver(
        make_registry(folder / "direct", [("g3", "g0")]), RoutingPolicy(min_quality=0.0)
    )
    chain = make_registry(folder / "chain", [("g3", "g2"), ("g2", "g1"), ("g1", "g0")])
    return direct, Resolver(chain, RoutingPolicy(min_quality=0.0))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_size(
    n: int, nq: int, k: int, rounds: int, direct: Resolver, chain: Resolver
) -> list[str]:
    import faiss

    one, three = direct.resolve("g3", "g0"), chain.resolve("g3", "g0")
    rng = np.random.default_rng(n)
    index = faiss.IndexFlatIP(384)
    g0, g3 = direct.registry.generation("g0"), direct.registry.generation("g3")
    gallery = Gallery.create(g0)
    for start in range(0, n, 100_000):
        block = unit(rng, min(100_000, n - start), 384)
        index.add(block)
        gallery.add(block, [str(i) for i in range(start, start + len(block))], generation=g0)
    q384, q768 = unit(rng, nq, 384), unit(rng, nq, 768)
    pt1, pt3 = one.to_faiss(index), three.to_faiss(index)

    def search(queries: np.ndarray, gen: Generation, resolver: Resolver | None = None) -> object:
        return gallery.search_vectors(queries, k, generation=gen, resolver=resolver)

    variants: dict[str, Callable[[], object]] = {
        "same generation (384-d queries)": lambda: index.search(q384, k),
        "routed 1 hop, QueryPath.apply + search": lambda: index.search(one.apply(q768), k),
        "routed 3 hops, QueryPath.apply + search": lambda: index.search(three.apply(q768), k),
        "routed 1 hop, FAISS IndexPreTransform": lambda: pt1.search(q768, k),
        "routed 3 hops, FAISS IndexPreTransform": lambda: pt3.search(q768, k),
        "Gallery.search_vectors, same generation": lambda: search(q384, g0),
        "Gallery.search_vectors, routed 1 hop": lambda: search(q768, g3, direct),
        "Gallery.search_vectors, routed 3 hops": lambda: search(q768, g3, chain),
    }
    for fn in variants.values():
        fn()  # warm up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            times[name].append(timed(fn))
    rows = [
        f"\n### {n:,} gallery vectors, {nq:,} queries per batch, k={k}, {rounds} rounds\n",
        "| search | queries/s (median) | time vs same generation, median of rounds [quartiles] |",
        "|---|---|---|",
    ]
    for name, ts in times.items():
        ref = times[
            "Gallery.search_vectors, same generation"
            if name.startswith("Gallery")
            else "same generation (384-d queries)"
        ]
        # each round runs every variant back to back: comparing within a round cancels
        # the drift of a shared machine's load
        ratios = sorted(100 * (t / r - 1) for t, r in zip(ts, ref, strict=True))
        q1, med, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        rows.append(
            f"| {name} | {nq / statistics.median(ts):,.0f} | {med:+.1f}% [{q1:+.1f}, {q3:+.1f}] |"
        )
    return rows


def transform_latency(one: QueryPath, three: QueryPath, nq: int, rounds: int) -> list[str]:
    rng = np.random.default_rng(7)
    batch = unit(rng, nq, 768)
    single = [unit(rng, 1, 768) for _ in range(2000)]
    rows = [
        "\n### Added cost of the transform alone (768 → 384, with re-normalisation)\n",
        f"| path | per query in a batch of {nq:,} (µs) | one query at a time (µs, median) |",
        "|---|---|---|",
    ]
    for label, path in (("1 hop", one), ("3 hops, compiled", three)):

        def apply_batch(p: QueryPath = path) -> object:
            return p.apply(batch)

        apply_batch()
        per_batch = statistics.median(timed(apply_batch) for _ in range(rounds * 5)) / nq
        lat = []
        for q in single:
            t0 = time.perf_counter()
            path.apply(q)
            lat.append(time.perf_counter() - t0)
        rows.append(f"| {label} | {per_batch * 1e6:.2f} | {statistics.median(lat) * 1e6:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        direct, chain = build_paths(Path(tmp))
        one, three = direct.resolve("g3", "g0"), chain.resolve("g3", "g0")
        assert len(one.stages) == 1 and len(three.stages) == 1  # both compile to one affine map
        out = [
            "## Query routing (bench/query.py)",
            "",
            f"Machine: {machine()}",
            "",
            f"Paths: 1 hop {one.adapter_ids}; 3 hops {three.adapter_ids} (compiled into {len(three.stages)} map)",
        ]
        for n in args.sizes:
            out += bench_size(n, args.queries, args.k, args.rounds, direct, chain)
        out += transform_latency(one, three, args.queries, args.rounds)
    print("\n".join(out))


if __name__ == "__main__":
    main()
