"""Matrix cells through a fused path or a cascade: the arithmetic's limits on synthetic spaces."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.evaluation.ranking import Judge
from embedreg.reports.cells import CellVectors, cell_scores
from embedreg.routing.kinds import PathOption
from embedreg.routing.policy import PathKind


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def spaces() -> tuple[Judge, CellVectors]:
    """Four classes; the query space separates them well, the gallery's own and the map less so."""
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(4), 30)
    centres = rng.standard_normal((4, 16))

    def space(noise: float) -> np.ndarray:
        return unit(centres[labels] + noise * rng.standard_normal((len(labels), 16)))

    query = space(0.3)
    items = space(1.2)
    vectors = CellVectors(mapped=space(1.5), own=items, query=query, query_items=query, items=items)
    return Judge.for_labels(labels), vectors


def option(kind: PathKind, **kw: object) -> PathOption:
    return PathOption(kind, 1.0, "pass", 0, **kw)  # type: ignore[arg-type]


def test_fused_ends_are_the_old_query_and_the_map(spaces) -> None:
    judge, v = spaces
    old_old = judge.score(v.own, v.items)
    mapped = judge.score(v.mapped, v.items)
    assert cell_scores(judge, option(PathKind.FUSED, t=0.0), v) == pytest.approx(old_old)
    assert cell_scores(judge, option(PathKind.FUSED, t=1.0), v) == pytest.approx(mapped)
    assert cell_scores(judge, option(PathKind.MAP), v) == pytest.approx(mapped)


def test_a_cascade_over_every_item_ranks_in_the_query_space(spaces) -> None:
    judge, v = spaces
    whole = cell_scores(judge, option(PathKind.CASCADE, k=len(v.items), first="map"), v)
    assert whole == pytest.approx(judge.score(v.query, v.query_items))
    shallow = cell_scores(judge, option(PathKind.CASCADE, k=1, first="map"), v)
    assert shallow == pytest.approx(judge.score(v.mapped, v.items))  # one candidate: the map's top
    # a deeper re-ranking moves toward the query space's figure
    mid = cell_scores(judge, option(PathKind.CASCADE, k=20, first="map"), v).mean()
    assert shallow.mean() <= mid <= whole.mean()


def test_a_cascade_over_the_fused_path_starts_from_it(spaces) -> None:
    judge, v = spaces
    fused = cell_scores(judge, option(PathKind.FUSED, t=0.0), v)
    over = cell_scores(judge, option(PathKind.CASCADE, k=1, t=0.0, first="fused"), v)
    assert over == pytest.approx(fused)
