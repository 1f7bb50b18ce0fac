"""Real models on real data: v3 (all-mpnet-base-v2, 768-d) queries search a v2 (all-MiniLM-L6-v2,
384-d) BBC News gallery through a trained, measured adapter."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.gallery import Gallery
from embedreg.models import Encoder, pin_model
from embedreg.routing import PathKind, RoutingPolicy
from embedreg.training import train_adapter

pytestmark = pytest.mark.slow

N_TRAIN, N_QUERIES, CHARS, TOKENS = 1000, 100, 160, 64


def majority_topic_rate(ids: list[list[str]], topic: dict[str, str], truth: list[str]) -> float:
    return float(
        np.mean(
            [
                Counter(topic[i] for i in row).most_common(1)[0][0] == t
                for row, t in zip(ids, truth, strict=True)
            ]
        )
    )


def test_v3_queries_find_same_topic_items_in_a_v2_gallery(
    tmp_path: Path, v2_dir: Path, v3_dir: Path, bbc_news: Any
) -> None:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    recipe = {"max_tokens": TOKENS, "fingerprint": False}
    v2 = reg.add_generation(pin_model("v2", v2_dir, **recipe))
    v3 = reg.add_generation(pin_model("v3", v3_dir, parent="v2", **recipe))
    order = np.random.default_rng(0).permutation(len(bbc_news.texts))[: N_TRAIN + N_QUERIES]
    texts = [" ".join(bbc_news.texts[i].split())[:CHARS] for i in order]
    labels = [bbc_news.labels[i] for i in order]
    ids = [f"bbc-{i}" for i in order]
    e2 = Encoder(v2, device="cpu", batch_size=64).encode(texts, role="document")
    e3 = Encoder(v3, device="cpu", batch_size=64).encode(texts, role="document")

    # the adapter learns v3 → v2 from the gallery's own items (as a team would), and is measured
    (run,) = train_adapter(
        reg,
        "v3",
        "v2",
        PairedEmbeddings(ids[:N_TRAIN], e3[:N_TRAIN], e2[:N_TRAIN], labels=labels[:N_TRAIN]),
        family="lambda-orth",
    )
    assert run.record.figures.retention > 0.9

    gallery = Gallery.create(v2)
    gallery.add(e2[:N_TRAIN], ids[:N_TRAIN], generation=v2, texts=texts[:N_TRAIN])
    topic = dict(zip(ids, labels, strict=True))
    truth = labels[N_TRAIN:]
    routed = gallery.search_vectors(e3[N_TRAIN:], k=10, generation=v3, registry=reg)
    assert routed.paths["v2"].adapter_ids == ["v3-to-v2.lambda-orth"]
    same_gen = gallery.search_vectors(e2[N_TRAIN:], k=10, generation=v2)

    routed_rate = majority_topic_rate(routed.ids, topic, truth)
    reference = majority_topic_rate(same_gen.ids, topic, truth)
    assert routed_rate >= 0.85
    assert routed_rate >= reference - 0.05, (routed_rate, reference)
    # the top hit is of the query's own topic about as often as with v2's own queries
    top1 = np.mean([topic[row[0]] == t for row, t in zip(routed.ids, truth, strict=True)])
    assert top1 >= 0.85

    # texts: Gallery.search embeds them with v3's recipe and takes the same route
    # by the map, as the vectors (fused paths and cascades: tests/gallery/test_kinded.py)
    maps = RoutingPolicy(kinds=frozenset({PathKind.MAP}))
    by_text = gallery.search(
        texts[N_TRAIN:], k=10, generation="v3", registry=reg, device="cpu", policy=maps
    )
    assert by_text.paths["v2"].adapter_ids == ["v3-to-v2.lambda-orth"]
    same_top1 = np.mean([a[0] == b[0] for a, b in zip(by_text.ids, routed.ids, strict=True)])
    assert same_top1 >= 0.98  # the same vectors up to batch-composition rounding
