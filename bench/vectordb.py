"""Galleries in vector databases (issue 24): build throughput, routed search latency, upgrades.

Per backend (FAISS folder, Qdrant local mode, Milvus Lite, PostgreSQL +
pgvector from the ``pgserver`` package), on the same N vectors:

- build throughput: items/s of ``build_gallery`` from one embeddings file;
- search latency: Q queries, k = 10, same-generation against routed (queries
  of another generation through a measured affine adapter), in the same run,
  and their ratio;
- an upgrade's wall time: ``upgrade apply --strategy partial`` (half the
  items re-embedded with a real model) on a gallery of real BBC News texts.

Build and search use synthetic vectors (normalised Gaussian, 384-d) of two
registered generations and an affine adapter fitted on 2,000 synthetic
pairs: their cost depends on the vectors' count and dimension, not on where
they come from.  The upgrade needs texts and a real model: BBC News embedded
by the test bed's v1, re-embedded by v2.

    python bench/vectordb.py --n 100000 --queries 100 --upgrade-n 2225
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import _chain


def urls(root: Path, pg: str, name: str) -> dict[str, str]:
    sep = "&" if "?" in pg else "?"
    return {
        "faiss": str(root / f"faiss-{name}"),
        "qdrant": f"qdrant://{root / 'qdrant'}?collection={name}",
        "milvus": f"milvus://{root / 'milvus.db'}?collection={name}",
        "pgvector": f"{pg}{sep}table={name}",
    }


def synthetic(reg, n: int, dim: int, root: Path):
    from embedreg.data.embeddings import save_embeddings
    from embedreg.data.pairs import PairedEmbeddings
    from embedreg.registry import Generation, HubSource, Recipe
    from embedreg.training import train_adapter

    old = reg.add_generation(Generation("old", HubSource("org/old", "1" * 40), Recipe(), dim))
    reg.add_generation(Generation("new", HubSource("org/new", "2" * 40), Recipe(), dim))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rot = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    m = 2000
    labels = [str(i % 20) for i in range(m)]
    pairs = PairedEmbeddings([f"p{i}" for i in range(m)], x[:m] @ rot, x[:m], labels=labels)
    train_adapter(reg, "new", "old", pairs, family="affine")
    path = save_embeddings(
        root / "old.safetensors",
        x,
        generation=old,
        role="document",
        ids=[f"d{i}" for i in range(n)],
    )
    return path, x, rot


def bench_search(reg, n: int, q: int, root: Path, pg: str) -> list[dict]:
    from embedreg.gallery import build_gallery
    from embedreg.gallery.locate import open_gallery

    emb, x, rot = synthetic(reg, n, 384, root)
    rng = np.random.default_rng(1)
    picks = rng.choice(n, q, replace=False)
    same_q = x[picks] + 0.05 * rng.standard_normal((q, 384)).astype(np.float32)
    same_q /= np.linalg.norm(same_q, axis=1, keepdims=True)
    routed_q = same_q @ rot  # the same queries in the other generation's space
    rows = []
    for backend, url in urls(root, pg, "bench").items():
        t = time.perf_counter()
        build_gallery(reg, "old", emb, url, register=False)
        build_s = time.perf_counter() - t
        g = open_gallery(url)
        try:
            old, new = reg.generation("old"), reg.generation("new")
            g.search_vectors(same_q[:2], 10, generation=old, registry=reg)  # warm
            g.search_vectors(routed_q[:2], 10, generation=new, registry=reg)
            t = time.perf_counter()
            same = g.search_vectors(same_q, 10, generation=old, registry=reg)
            same_s = time.perf_counter() - t
            t = time.perf_counter()
            routed = g.search_vectors(routed_q, 10, generation=new, registry=reg)
            routed_s = time.perf_counter() - t
        finally:
            close = getattr(g, "close", None)
            if close:
                close()
        agree = np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(same.ids, routed.ids, strict=True)]
        )
        rows.append(
            {
                "backend": backend,
                "n": n,
                "build_items_per_s": n / build_s,
                "same_ms_per_query": 1000 * same_s / q,
                "routed_ms_per_query": 1000 * routed_s / q,
                "ratio": routed_s / same_s,
                "top10_overlap_routed_vs_same": float(agree),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_upgrade(n: int, root: Path, pg: str) -> list[dict]:
    from embedreg import Registry
    from embedreg.gallery import build_gallery
    from embedreg.models import pin_model
    from embedreg.upgrade import JobOptions, PartialChoice, database
    from embedreg.upgrade import apply as folder_apply

    import testbed

    reg = Registry.open(root / "up-registry")
    reg.init()
    reg.add_generation(
        pin_model(
            "v1", testbed.v1_dir(), **{**testbed.V1_RECIPE, "max_tokens": 128}, fingerprint=False
        )
    )
    reg.add_generation(
        pin_model("v2", testbed.v2_dir(), max_tokens=128, parent="v1", fingerprint=False)
    )
    news = testbed.bbc_news()
    docs = root / "bbc.jsonl"
    with open(docs, "w", encoding="utf-8") as fh:
        for i in range(min(n, len(news.ids))):
            text = " ".join(news.texts[i].split())[:300]
            fh.write(json.dumps({"id": news.ids[i], "text": text}) + "\n")
    from embedreg.training import train_adapter, training_pairs

    train_adapter(reg, "v2", "v1", training_pairs(reg, "v2", "v1", texts=docs), family="affine")
    emb_folder = root / "up-faiss"
    build_gallery(reg, "v1", docs, emb_folder, device="cpu", register=False)
    rows = []
    for backend, url in urls(root, pg, "upg").items():
        if backend != "faiss":
            build_gallery(reg, "v1", docs, url, device="cpu", register=False)
        t = time.perf_counter()
        run, where = (folder_apply, emb_folder) if backend == "faiss" else (database.apply, url)
        run(reg, where, "v2", "partial", partial=PartialChoice(0.5), job=JobOptions(device="cpu"))
        rows.append(
            {"backend": backend, "n": min(n, len(news.ids)), "upgrade_s": time.perf_counter() - t}
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--upgrade-n", type=int, default=2225)
    ap.add_argument("--skip-upgrade", action="store_true")
    ap.add_argument("--skip-search", action="store_true")
    args = ap.parse_args()
    import pgserver
    from embedreg import Registry

    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="vectordb-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        server = pgserver.get_server(root / "pg", cleanup_mode="stop")
        try:
            reg = Registry.open(root / "registry")
            reg.init()
            if not args.skip_search:
                bench_search(reg, args.n, args.queries, root, server.get_uri())
            if not args.skip_upgrade:
                bench_upgrade(args.upgrade_n, root, server.get_uri())
        finally:
            server.cleanup()
    print(f"load average after: {_chain.load_average()}")


if __name__ == "__main__":
    main()
