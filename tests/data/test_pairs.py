"""Paired embeddings: checks, pairing by id, splits, hashes."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.data.pairs import PairedEmbeddings, check_pairs, minimum_pairs, pairs_from_embeddings
from embedreg.errors import TrainingDataError


def make(n: int = 50, d_in: int = 4, d_out: int = 3, labels: bool = False) -> PairedEmbeddings:
    rng = np.random.default_rng(0)
    return PairedEmbeddings(
        ids=[f"id{i}" for i in range(n)],
        source=rng.standard_normal((n, d_in)).astype(np.float32),
        target=rng.standard_normal((n, d_out)).astype(np.float32),
        labels=[f"c{i % 3}" for i in range(n)] if labels else None,
    )


def test_minimum_pairs_says_the_affine_count():
    assert minimum_pairs(768) == 769
    assert minimum_pairs(768, 0.2) == 962
    assert minimum_pairs(4, 0.5) == 25  # never fewer than 20 held-out pairs


def test_nan_and_inf_rows_are_named():
    p = make()
    p.source[7, 1] = np.nan
    p.target[9, 0] = np.inf
    with pytest.raises(TrainingDataError, match=r"source vector.*'id7'"):
        p.check()
    p.source[7, 1] = 0
    with pytest.raises(TrainingDataError, match=r"target vector.*'id9'"):
        p.check()


def test_too_few_pairs_says_the_minimum():
    p = make(30, 8, 8)
    with pytest.raises(
        TrainingDataError, match=r"30 pairs are too few for a 8 → 8 adapter \(at least 31"
    ):
        p.check(min_pairs=31)


def test_counts_and_duplicates_are_refused():
    with pytest.raises(TrainingDataError, match="5 source vectors but 4 target"):
        check_pairs(np.zeros((5, 2), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(TrainingDataError, match="'a' appears more than once"):
        PairedEmbeddings(["a", "a"], np.zeros((2, 2)), np.zeros((2, 2)))


def test_split_is_reproducible_and_disjoint():
    p = make(100)
    a1, b1 = p.split(0.2, seed=3)
    a2, b2 = p.split(0.2, seed=3)
    assert a1.ids == a2.ids and b1.ids == b2.ids
    assert len(b1) == 20 and not set(a1.ids) & set(b1.ids)
    assert p.split(0.2, seed=4)[1].ids != b1.ids


def test_hash_changes_with_any_byte():
    p = make(labels=True)
    h = p.content_hash()
    assert h == make(labels=True).content_hash()
    q = make(labels=True)
    q.target[0, 0] += 1e-6
    assert q.content_hash() != h
    assert make(labels=False).content_hash() != h


def test_swapped_exchanges_sides():
    p = make()
    s = p.swapped()
    assert s.source is p.target and s.target is p.source


def test_pairing_by_id_aligns_other_order():
    rng = np.random.default_rng(1)
    new = rng.standard_normal((4, 3)).astype(np.float32)
    old = rng.standard_normal((4, 2)).astype(np.float32)
    ids = ["a", "b", "c", "d"]
    perm = [2, 0, 3, 1]
    p = pairs_from_embeddings(
        ids, new, ["x", "y", "x", "y"], [ids[i] for i in perm], old[perm], None
    )
    assert np.array_equal(p.target, old)
    assert p.labels == ["x", "y", "x", "y"]


def test_pairing_refuses_different_items_and_labels():
    v = np.zeros((3, 2), np.float32)
    with pytest.raises(TrainingDataError, match="do not hold the same items"):
        pairs_from_embeddings(["a", "b", "c"], v, None, ["a", "b", "z"], v, None)
    with pytest.raises(TrainingDataError, match="has item ids but"):
        pairs_from_embeddings(["a", "b", "c"], v, None, None, v, None)
    with pytest.raises(TrainingDataError, match="3 vectors"):
        pairs_from_embeddings(None, v, None, None, v[:2], None)
    with pytest.raises(TrainingDataError, match="labelled 'x'"):
        pairs_from_embeddings(["a", "b", "c"], v, ["x", "y", "y"], ["a", "b", "c"], v, ["y"] * 3)
