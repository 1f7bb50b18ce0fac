"""Retrieval metrics against brute-force references; the figures of measure()."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.adapters.affine import AffineAdapter
from embedreg.adapters.identity import IdentityAdapter
from embedreg.adapters.procrustes import ProcrustesAdapter
from embedreg.data.pairs import PairedEmbeddings
from embedreg.data.synthetic import planted_pairs
from embedreg.evaluation import judged_similarity, measure
from embedreg.evaluation.metrics import (
    average_compatibility,
    average_multimodel_accuracy,
    cmc,
    flip_rates,
    mean_average_precision,
    neighbour_agreement,
    recall_at_k,
)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(q, g, q_lab, g_lab, loo):
    s = unit(q) @ unit(g).T
    if loo:
        np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    rel = g_lab[order] == q_lab[:, None]
    if loo:
        rel[:, -1] = False
    top1 = rel[:, 0].mean()
    top5 = rel[:, :5].any(1).mean()
    aps = []
    for r in rel:
        if r.sum():
            hits = np.flatnonzero(r)
            aps.append(np.mean((np.arange(len(hits)) + 1) / (hits + 1)))
    return top1, top5, float(np.mean(aps))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((60, 6)).astype(np.float32)
    g = (q + 0.8 * rng.standard_normal((60, 6))).astype(np.float32)
    lab = rng.integers(0, 4, 60)
    return q, g, lab


@pytest.mark.parametrize("loo", [True, False])
def test_cmc_and_map_match_brute_force(data, loo):
    q, g, lab = data
    top1, top5, ap = brute(q, g, lab, lab, loo)
    c = cmc(q, g, lab, lab, (1, 5), exclude_self=loo)
    assert c[1] == pytest.approx(top1) and c[5] == pytest.approx(top5)
    assert mean_average_precision(q, g, lab, lab, exclude_self=loo) == pytest.approx(ap)


def test_recall_matches_brute_force(data):
    q, g, _ = data
    s = unit(q) @ unit(g).T
    rank = (s > np.diag(s)[:, None]).sum(1)
    r = recall_at_k(q, g, (1, 10))
    assert r[1] == pytest.approx(np.mean(rank < 1)) and r[10] == pytest.approx(np.mean(rank < 10))
    assert 0 < r[1] < r[10] < 1


def test_agreement_is_one_for_itself_and_lower_otherwise(data):
    q, g, _ = data
    assert neighbour_agreement(g, g, g, g) == 1.0
    assert neighbour_agreement(q, g, g, g) < 1.0


def test_flips_and_matrix_summaries():
    before = np.array([True, True, False, False])
    after = np.array([True, False, True, False])
    assert flip_rates(before, after) == (0.25, 0.25)
    matrix = [[0.9, None, None], [0.92, 0.95, None], [0.85, 0.97, 0.96]]
    assert average_compatibility(matrix) == pytest.approx(2 / 3)
    assert average_multimodel_accuracy(matrix) == pytest.approx(
        np.mean([0.9, 0.92, 0.95, 0.85, 0.97, 0.96])
    )


def test_measure_with_labels_has_every_figure():
    data = planted_pairs(600, 12, 12, noise=0.3, n_classes=4, seed=0)
    pairs = data.pairs
    figs = measure(
        ProcrustesAdapter.fit(pairs.source, pairs.target, ProcrustesAdapter.make_config()),
        pairs,
        device="cpu",
    )
    for key in (
        "recall@1",
        "recall@10",
        "agreement@10",
        "cmc@1",
        "cmc@5",
        "map",
        "target.cmc@1",
        "target.cmc@5",
        "target.map",
        "source.cmc@1",
        "source.map",
        "adapted.cmc@1",
        "geometry",
        "criterion",
        "flips.positive",
        "flips.negative",
        "defect",
        "retention",
        "retention.basis",
        "heldout",
        "labels",
    ):
        assert key in figs.to_dict(), key  # the stored form holds every figure
    assert figs.labels is True and figs.heldout == 600
    assert figs.retention == pytest.approx(figs.cmc_at_1 / figs.target.cmc_at_1)
    assert figs.retention_basis == "cmc@1" and 0 <= figs.judged_sim_at_10 <= 1
    low, high = figs.retention_interval
    assert low <= figs.retention <= high
    low, high = figs.cmc_at_1_interval
    assert low <= figs.cmc_at_1 <= high
    assert figs.criterion == (figs.cmc_at_1 >= figs.target.cmc_at_1)
    # an orthogonal map of equal dimension keeps the new space's geometry exactly
    assert figs.geometry == pytest.approx(0.0, abs=1e-9)
    assert figs.defect < 1e-4


def test_measure_without_labels_uses_the_label_free_estimate():
    pairs = planted_pairs(400, 10, 8, kind="affine", noise=0.2, seed=1).pairs
    a = AffineAdapter.fit(pairs.source, pairs.target, AffineAdapter.make_config())
    figs = measure(a, pairs, device="cpu")
    assert figs.criterion is None and "criterion" in figs.nulls and figs.cmc_at_1 is None
    assert figs.retention_basis == "judged-sim@10"
    assert (
        figs.retention
        == figs.judged_sim_at_10
        == pytest.approx(judged_similarity(a.transform(pairs.source), pairs.target))
    )
    assert figs.retention > figs.agreement_at_10  # the old, stricter figure is still recorded
    low, high = figs.retention_interval
    assert low <= figs.retention <= high and figs.recall_at_1_interval is not None
    assert figs.flips_negative == pytest.approx(1 - figs.recall_at_1)
    assert -1 <= figs.geometry <= 0


def test_small_heldout_sets_say_they_are_too_small_for_an_interval():
    pairs = planted_pairs(25, 6, 6, noise=0.1, seed=3).pairs
    figs = measure(IdentityAdapter(6), pairs, device="cpu")
    assert figs.retention_interval is None and "retention.interval" in figs.nulls
    assert "too few" in figs.retention_interval_note


def test_identity_between_rotated_spaces_finds_few_pairs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    labels = [str(i % 3) for i in range(300)]
    y = (x @ np.linalg.qr(rng.standard_normal((8, 8)))[0]).astype(np.float32)
    figs = measure(
        IdentityAdapter(8),
        PairedEmbeddings([str(i) for i in range(300)], x, y, labels),
        device="cpu",
    )
    assert figs.recall_at_1 < 0.2


def test_ties_count_against_the_query() -> None:
    """Issue 14 #14: identical (e.g. all-zero) vectors rank last, so recall@1 is 0, not 1."""
    from embedreg.evaluation.metrics import own_pair_ranks, recall_at_k

    same = np.ones((30, 4), dtype=np.float32)
    assert own_pair_ranks(same, same).tolist() == [29] * 30
    zeros = np.zeros((30, 4), dtype=np.float32)
    assert recall_at_k(zeros, zeros, (1, 10)) == {1: 0.0, 10: 0.0}
    x = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32)
    assert recall_at_k(x, x, (1,)) == {1: 1.0}  # distinct vectors still find themselves


def test_all_zero_training_vectors_are_refused() -> None:
    from embedreg.errors import TrainingDataError
    from embedreg.training import AdapterTrainer, TrainConfig

    x = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    zeros = x.copy()
    zeros[[3, 7]] = 0.0
    with pytest.raises(
        TrainingDataError, match=r"2 target vector\(s\) are all zeros \(.row 3., .row 7.\)"
    ):
        AdapterTrainer(TrainConfig(device="cpu")).fit("procrustes", x, zeros)
