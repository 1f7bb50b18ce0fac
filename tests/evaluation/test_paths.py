"""The one cascade measurement (leave-one-out, re-scoring, top columns) of evaluation.paths."""

from __future__ import annotations

import numpy as np
from embedreg.evaluation.paths import (
    cascade_scores,
    leave_out,
    normalize_rows,
    rank_figures,
    top_columns,
)


def scores(seed: int, n_queries: int = 40, n_items: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    items = normalize_rows(rng.standard_normal((n_items, 8)))
    queries = normalize_rows(rng.standard_normal((n_queries, 8)))
    mine = normalize_rows(rng.standard_normal((n_items, 8)))
    return queries @ items.T, mine[:n_queries] @ mine.T


def test_own_items_are_left_out_of_both_stages_as_before() -> None:
    """``own=`` gives, bit for bit, what leaving each query's item out of both matrices first
    gave (what reports/cells.py did), and changes neither input."""
    first, mine = scores(0)
    rows = np.arange(first.shape[0])
    kept = first.copy(), mine.copy()
    for k in (1, 5, 20, 60, 100):
        got, top = cascade_scores(first, mine, k, own=rows)
        want, want_top = cascade_scores(
            leave_out(first.copy(), rows), leave_out(mine.copy(), rows), k
        )
        assert np.array_equal(got, want) and np.array_equal(top, want_top)
        assert np.isneginf(got[rows, rows]).all()  # never a candidate
    assert np.array_equal(first, kept[0]) and np.array_equal(mine, kept[1])


def test_top_columns_are_the_head_of_the_full_ranking() -> None:
    first, mine = scores(1)
    ranked, _ = cascade_scores(first, mine, 10, own=np.arange(first.shape[0]))
    full = np.argsort(-ranked, axis=1, kind="stable")
    assert np.array_equal(top_columns(ranked, 7), full[:, :7])
    # the first column is what rank_figures reads as CMC@1: both rank the same cascade
    labels = np.arange(ranked.shape[1]) % 3
    hits, _ = rank_figures(ranked, labels[: ranked.shape[0]], labels)
    top1 = labels[top_columns(ranked, 1)[:, 0]] == labels[: ranked.shape[0]]
    assert np.array_equal(hits, top1)
