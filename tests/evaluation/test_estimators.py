"""The label-free estimate on planted spaces: 1 for the target's own queries, ~0 at random, ordered by noise."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.evaluation import judged_similarity
from embedreg.evaluation.estimators import judged_similarity_parts, judged_similarity_with_interval


def clustered(n: int = 600, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, d))
    x = centres[rng.integers(0, 12, n)] + 0.6 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def test_own_queries_score_one_and_random_ones_about_zero() -> None:
    t = clustered()
    assert judged_similarity(t, t) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    random_queries = rng.standard_normal(t.shape).astype(np.float32)
    assert abs(judged_similarity(random_queries, t)) < 0.1
    shuffled = t[rng.permutation(len(t))]
    assert abs(judged_similarity(shuffled, t)) < 0.1


def test_estimate_falls_as_the_path_gets_noisier_and_never_exceeds_one() -> None:
    t = clustered()
    rng = np.random.default_rng(4)
    values = [
        judged_similarity(t + s * rng.standard_normal(t.shape).astype(np.float32), t)
        for s in (0.1, 0.5, 1.0, 2.0, 4.0)
    ]
    assert values == sorted(values, reverse=True)
    assert all(v <= 1.0 + 1e-9 for v in values) and values[0] > 0.9 and values[-1] < 0.5


def test_parts_and_interval() -> None:
    t = clustered(200)
    q = t + 0.5 * np.random.default_rng(5).standard_normal(t.shape).astype(np.float32)
    path, own = judged_similarity_parts(q, t)
    assert path.shape == own.shape == (200,) and np.all(own >= path - 1e-6)
    value, ci = judged_similarity_with_interval(q, t)
    assert ci is not None and ci.low <= value <= ci.high
    assert value == pytest.approx(path.sum() / own.sum())
