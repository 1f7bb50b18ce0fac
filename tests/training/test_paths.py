"""Fused and cascade paths: the interpolation, t fitted on training folds, figures held out."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.data.pairs import PairedEmbeddings
from embedreg.evaluation import measure
from embedreg.evaluation.paths import cascade_scores, rank_figures, slerp
from embedreg.training import TrainConfig
from embedreg.training.paths import CASCADE_KS, T_GRID, adapter_paths
from embedreg.training.runs import fit_family


def labelled_world(n: int = 300, seed: int = 0) -> PairedEmbeddings:
    """A new (16-d) and an old (12-d) noisy view of the same labelled items."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, 10)).astype(np.float32)
    labels = rng.integers(0, 6, n)
    z = centres[labels] + 0.9 * rng.standard_normal((n, 10)).astype(np.float32)
    views = []
    for dim, noise in ((16, 0.3), (12, 0.9)):
        x = z @ rng.standard_normal((10, dim)).astype(np.float32)
        x += noise * rng.standard_normal(x.shape).astype(np.float32)
        views.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return PairedEmbeddings(
        [f"i{k}" for k in range(n)], views[0], views[1], [str(c) for c in labels]
    )


def test_slerp_ends_and_arc() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-6)
    mid = slerp(a, b, 0.5)
    np.testing.assert_allclose(np.linalg.norm(mid, axis=1), 1.0, atol=1e-5)
    # halfway along the arc: equally far from both ends
    np.testing.assert_allclose((mid * a).sum(1), (mid * b).sum(1), atol=1e-5)
    np.testing.assert_allclose(slerp(a, a, 0.3), a, atol=1e-6)  # parallel rows


def test_cascade_rescores_only_the_top_k() -> None:
    first = np.array([[0.9, 0.8, 0.1, -np.inf]], np.float32)
    own = np.array([[0.0, 0.5, 0.9, 0.9]], np.float32)
    scores, top = cascade_scores(first, own, 2)
    assert sorted(top[0].tolist()) == [0, 1]
    order = np.argsort(-scores[0]).tolist()
    assert order[:3] == [1, 0, 2]  # the two candidates in the query space's order, then the rest
    hits, ap = rank_figures(scores, np.array([1]), np.array([0, 1, 1, 1]))
    assert hits.tolist() == [True]
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2)  # item 3 was left out (-inf)


def test_paths_fitted_and_measured_held_out() -> None:
    pairs = labelled_world()
    train, heldout = pairs.subset(np.arange(200)), pairs.subset(np.arange(200, 300))
    config = TrainConfig()
    result, _ = fit_family("procrustes", train, config)
    paths = adapter_paths(
        "procrustes", result.options, train, heldout, result.adapter, config, None
    )
    assert paths.fitted and paths.t in T_GRID and paths.folds == 5
    assert paths.validation_pairs == 200 and paths.validation_gallery == 200
    kinds = {(v.kind, v.first, v.k) for v in paths.variants}
    assert ("fused", None, None) in kinds
    assert {("cascade", f, k) for f in ("map", "fused") for k in CASCADE_KS} <= kinds
    figs = measure(result.adapter, heldout)
    by_kind = {(v.kind, v.first, v.k): v for v in paths.variants}
    # the map row is the same figure measure() gives the adapter; old/old and new/new too
    assert by_kind[("map", None, None)].figures.cmc_at_1 == pytest.approx(figs.cmc_at_1)
    assert by_kind[("map", None, None)].figures.map == pytest.approx(figs.map, abs=1e-6)
    assert paths.target.cmc_at_1 == pytest.approx(figs.target.cmc_at_1)
    assert paths.source.cmc_at_1 == pytest.approx(figs.source.cmc_at_1)
    # a cascade deeper than the gallery re-scores everything: new/new exactly
    deep = by_kind[("cascade", "map", 100)].figures
    assert deep.cmc_at_1 == pytest.approx(paths.source.cmc_at_1)
    fused = by_kind[("fused", None, None)]
    assert fused.cost.extra_encodes == 1 and fused.cost.second_model
    assert fused.figures.criterion == (fused.figures.cmc_at_1 >= paths.target.cmc_at_1)
    assert fused.figures.retention_interval is not None
    # t = 0 is the old model alone: its validation figure is old/old on the training folds
    grid = {row.t: row for row in paths.t_grid}
    assert set(grid) == set(T_GRID)
    own = train.target @ train.target.T
    np.fill_diagonal(own, -np.inf)
    codes = np.asarray(train.label_codes())
    hits, _ = rank_figures(own, codes, codes)
    assert grid[0.0].cmc_at_1 == pytest.approx(float(hits.mean()))


def test_paths_need_labels() -> None:
    pairs = labelled_world(120)
    unlabelled = PairedEmbeddings(pairs.ids, pairs.source, pairs.target)
    train, heldout = unlabelled.subset(np.arange(80)), unlabelled.subset(np.arange(80, 120))
    result, _ = fit_family("procrustes", train, TrainConfig())
    out = adapter_paths("procrustes", None, train, heldout, result.adapter, TrainConfig(), None)
    assert out.to_dict() == {  # what the record stores
        "fitted": False,
        "reason": "no labels: CMC@1 (the criterion's figure) needs classes",
    }


def test_auto_fold_fits_are_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto's own fits of the chosen candidate on its folds choose t: nothing is fit again."""
    from embedreg.training.trainer import AdapterTrainer

    pairs = labelled_world()
    train, heldout = pairs.subset(np.arange(200)), pairs.subset(np.arange(200, 300))
    config = TrainConfig()
    result, selection = fit_family("auto", train, config, {"families": "procrustes,affine"})
    assert selection is not None and len(selection.fold_fits) == selection.folds == 5
    refit = adapter_paths(
        result.family, result.options, train, heldout, result.adapter, config, None
    )

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fold was fit again")

    monkeypatch.setattr(AdapterTrainer, "fit", no_fit)
    reused = adapter_paths(
        result.family, result.options, train, heldout, result.adapter, config, selection
    )
    # closed forms are deterministic: the same folds give the same t and the same figures
    assert reused.t == refit.t and reused.folds == refit.folds == 5
    assert [row.cmc_at_1 for row in reused.t_grid] == [row.cmc_at_1 for row in refit.t_grid]
    for a, b in zip(reused.variants, refit.variants, strict=True):
        assert a.figures.cmc_at_1 == pytest.approx(b.figures.cmc_at_1)
