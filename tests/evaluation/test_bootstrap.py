"""Bootstrap intervals over queries: coverage of a known rate, pairing, small sets refused."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.evaluation.bootstrap import (
    MIN_INTERVAL_QUERIES,
    Interval,
    bootstrap_interval,
    interval_note,
)


def test_interval_brackets_the_mean_and_narrows_with_more_queries() -> None:
    rng = np.random.default_rng(0)
    small = (rng.random(100) < 0.8).astype(float)
    large = (rng.random(4000) < 0.8).astype(float)
    a, b = bootstrap_interval(small), bootstrap_interval(large)
    assert a is not None and b is not None
    assert a.low <= small.mean() <= a.high and b.low <= large.mean() <= b.high
    assert (b.high - b.low) < (a.high - a.low) / 4  # ~ 1/sqrt(n)
    # the normal approximation's half-width for p = 0.8, n = 4000 is 1.96 * 0.0063 = 0.0124
    assert (b.high - b.low) / 2 == pytest.approx(0.0124, rel=0.15)


def test_coverage_of_a_known_rate() -> None:
    """Over 200 draws of 200 queries, the 95 % interval holds the true rate about 95 % of the time."""
    rng = np.random.default_rng(1)
    hits = 0
    for seed in range(200):
        x = (rng.random(200) < 0.7).astype(float)
        ci = bootstrap_interval(x, resamples=400, seed=seed)
        assert ci is not None
        hits += ci.low <= 0.7 <= ci.high
    assert 0.88 <= hits / 200 <= 0.99


def test_paired_ratio_is_tighter_than_its_parts_suggest() -> None:
    rng = np.random.default_rng(2)
    own = (rng.random(500) < 0.9).astype(float)
    path = own.copy()
    flip = rng.random(500) < 0.03
    path[flip] = 1 - path[flip]
    ratio = bootstrap_interval(path, own)
    assert ratio is not None
    assert ratio.low <= path.mean() / own.mean() <= ratio.high
    assert ratio.high - ratio.low < 0.05  # queries move together: the ratio varies little


def test_too_few_queries_get_no_interval_and_a_note() -> None:
    x = np.ones(MIN_INTERVAL_QUERIES - 1)
    assert bootstrap_interval(x) is None
    note = interval_note(len(x))
    assert note is not None and "too few" in note
    assert interval_note(MIN_INTERVAL_QUERIES) is None
    with pytest.raises(ValueError):
        bootstrap_interval(np.ones(40), np.ones(39))


def test_interval_round_trips_through_figures() -> None:
    assert Interval.from_value([0.25, 0.5]) == Interval(0.25, 0.5)
    assert Interval.from_value(None) is None and Interval.from_value([True, 1]) is None
    assert Interval(0.9512, 0.9873).format() == "[0.951, 0.987]"
