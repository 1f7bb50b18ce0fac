"""Figures on an adapter's own training data are flagged: by its data hash or its items' ids."""

from __future__ import annotations

from embedreg.data.synthetic import planted_pairs
from embedreg.registry.provenance import Provenance, TrainingData
from embedreg.training import TrainConfig, evaluate_adapter, train_adapter
from embedreg.training.overlap import MAX_RECORDED_IDS, id_fingerprints, training_overlap


def test_the_record_keeps_the_training_items_and_eval_on_them_is_flagged(reg):
    pairs = planted_pairs(300, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    (run,) = train_adapter(reg, "v2", "v1", pairs, family="affine", config=TrainConfig(seed=0))
    data = run.record.provenance.training_data
    assert data.item_ids is not None and len(data.item_ids) == data.train < len(
        pairs
    )  # the held-out part is not in it
    same = evaluate_adapter(reg, run.record.id, pairs, device="cpu")  # the very same pairs
    assert same.training_overlap is not None and same.training_overlap["basis"] == "sha256"
    assert "own training data" in same.training_overlap["text"]
    part = pairs.subset(range(0, 300, 3))  # a third of the items, most of them trained on
    flag = evaluate_adapter(reg, run.record.id, part, device="cpu").training_overlap
    assert flag is not None
    held = set(pairs.ids) - set(_trained(pairs.ids, data.item_ids))
    expected = sum(1 for i in part.ids if i not in held)
    assert (flag["basis"], flag["items"], flag["of"]) == ("ids", expected, 100) and expected > 50
    other = planted_pairs(300, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=5).pairs
    fresh = other.subset(range(100))
    fresh = type(fresh)(
        ids=[f"new-{i}" for i in fresh.ids],
        source=fresh.source,
        target=fresh.target,
        labels=fresh.labels,
    )
    assert evaluate_adapter(reg, run.record.id, fresh, device="cpu").training_overlap is None


def _trained(ids: list[str], fingerprints: tuple[str, ...]) -> list[str]:
    known = set(fingerprints)
    return [i for i in ids if id_fingerprints([i])[0] in known]


def test_a_record_with_the_hash_alone_is_checked_by_the_hash():
    recorded = Provenance(training_data=TrainingData(sha256="x"))
    assert training_overlap("a", recorded, ["1"], "y") is None
    hit = training_overlap("a", recorded, ["1", "2"], "x")
    assert hit is not None and (hit.items, hit.of, hit.basis) == (2, 2, "sha256")
    assert MAX_RECORDED_IDS >= 1000
