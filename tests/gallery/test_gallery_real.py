"""Real models on real data: v3 (all-mpnet-base-v2, 768-d) queries search a v2 (all-MiniLM-L6-v2,
384-d) BBC News gallery through a trained, measured adapter."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.gallery import Gallery
from embedreg.routing import PathKind, RoutingPolicy
from embedreg.training import train_adapter, training_pairs

pytestmark = pytest.mark.slow

N_TRAIN, N_QUERIES = 1000, 100


def majority_topic_rate(ids: list[list[str]], topic: dict[str, str], truth: list[str]) -> float:
    return float(
        np.mean(
            [
                Counter(topic[i] for i in row).most_common(1)[0][0] == t
                for row, t in zip(ids, truth, strict=True)
            ]
        )
    )


def test_v3_queries_find_same_topic_items_in_a_v2_gallery(tmp_path: Path, v3_chain: Any) -> None:
    """1100 BBC News documents (160 characters) embedded by v2 and v3 once per run (``v3_chain``):
    1000 make the gallery and train the adapter, 100 are the queries."""
    reg = Registry.open(v3_chain.copy(tmp_path / "reg"))
    v2, v3 = reg.generation("v2"), reg.generation("v3")
    cached = training_pairs(reg, "v3", "v2", texts=v3_chain.inputs)
    assert cached.labels is not None and len(cached.ids) == N_TRAIN + N_QUERIES
    rows = [json.loads(line) for line in v3_chain.inputs.read_text().splitlines()]
    text_of = {r["id"]: r["text"] for r in rows}
    ids, labels = cached.ids, cached.labels
    texts = [text_of[i] for i in ids]
    e3, e2 = cached.source, cached.target
    assert e3.shape == (N_TRAIN + N_QUERIES, 768) and e2.shape == (N_TRAIN + N_QUERIES, 384)

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
