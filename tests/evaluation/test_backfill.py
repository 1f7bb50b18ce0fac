"""Backfill curves on planted spaces: endpoints, area, orders, merged search."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.evaluation.backfill import (
    backfill_curve,
    curve_area,
    misalignment,
    predicted_order,
    random_order,
    worst_first_order,
)
from embedreg.evaluation.ranking import Judge, merged_topk


def world(n: int = 400, seed: int = 0):
    """Topic vectors; the old model blurs two of the eight topics badly (a learnable region)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, 16))
    labels = np.arange(n) % 8
    new = (centres[labels] + 1.0 * rng.standard_normal((n, 16))).astype(np.float32)
    noise = np.where(labels < 2, 3.0, 0.3)[:, None]
    old = (new + noise * rng.standard_normal((n, 16))).astype(np.float32)
    return new, old, labels


def test_endpoints_are_the_two_pure_galleries() -> None:
    new, old, labels = world()
    judge = Judge.for_labels(labels)
    betas, values = backfill_curve(judge, new, new, new, old, random_order(len(new)), steps=5)
    assert betas[0] == 0.0 and betas[-1] == 1.0 and len(values) == 6
    assert values[0] == pytest.approx(judge.score(new, old).mean())
    assert values[-1] == pytest.approx(judge.score(new, new).mean())
    assert curve_area([0.0, 1.0], [0.5, 1.0]) == pytest.approx(0.75)


def test_worst_first_beats_random_and_predicted_learns_it_from_old_vectors() -> None:
    new, old, labels = world()
    judge = Judge.for_labels(labels)
    bad = misalignment(old, new)
    assert np.mean(bad[labels < 2]) > 2 * np.mean(bad[labels >= 2])
    areas = {}
    for name, order in (
        ("random", random_order(len(new), 0)),
        ("worst-first", worst_first_order(bad)),
        ("predicted", predicted_order(old, bad, probe=0.2, seed=0)),
    ):
        betas, values = backfill_curve(judge, new, new, new, old, order, steps=10)
        areas[name] = curve_area(betas, values)
    assert areas["worst-first"] > areas["random"] + 0.01
    assert areas["predicted"] > areas["random"]
    # after its random probe, the predicted order moves the blurred topics (a quarter) forward
    order = predicted_order(old, bad, probe=0.2, seed=0)
    assert np.mean(labels[order[80:160]] < 2) > 0.45


def test_predicted_order_reads_only_the_probe() -> None:
    new, old, _ = world()
    bad = misalignment(old, new)
    order = predicted_order(old, bad, probe=0.1, seed=3)
    probe = order[:40]
    changed = bad.copy()
    rest = np.setdiff1d(np.arange(len(bad)), probe)
    changed[rest] = np.random.default_rng(9).random(len(rest))
    assert np.array_equal(predicted_order(old, changed, probe=0.1, seed=3), order)
    assert sorted(order.tolist()) == list(range(len(bad)))


def test_merged_topk_scores_each_item_in_its_own_space() -> None:
    rng = np.random.default_rng(1)
    qa, ga = (
        rng.standard_normal((5, 4)).astype(np.float32),
        rng.standard_normal((9, 4)).astype(np.float32),
    )
    qb, gb = (
        rng.standard_normal((5, 3)).astype(np.float32),
        rng.standard_normal((9, 3)).astype(np.float32),
    )
    mask = np.arange(9) % 2 == 0

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    sims = np.where(mask, unit(qa) @ unit(ga).T, unit(qb) @ unit(gb).T)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    assert np.array_equal(merged_topk(qa, ga, qb, gb, mask, 3), expected)
