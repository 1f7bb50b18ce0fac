"""auto's racing (issue 28): a gradient candidate stops once clearly out; the rest is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.adapters import torch_modules
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import ValidationError
from embedreg.training import AdapterTrainer, TrainConfig
from embedreg.training.racing import Tally, clearly_behind
from embedreg.training.selection import (
    AutoConfig,
    CandidateResult,
    FamilyCandidate,
    _race,
    choose,
    select_adapter,
)


def _hits(rate: float, n: int = 400, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < rate


def _tally(hits: np.ndarray, ap: float) -> Tally:
    t = Tally()
    t.hits.append(hits)
    t.aps.append(np.where(hits, ap, ap / 2).astype(np.float64))
    return t


def test_clearly_behind_needs_the_interval_above_zero():
    leader = _hits(0.9)
    assert clearly_behind(leader, _hits(0.5, seed=1), 0) is not None
    assert clearly_behind(leader, leader.copy(), 0) is None
    assert clearly_behind(_hits(0.5, seed=1), leader, 0) is None  # ahead: never stopped


def test_the_race_stops_the_clearly_behind_and_the_dominated_only():
    names = ["procrustes", "lambda-orth", "lowrank", "mlp"]
    results = [CandidateResult(FamilyCandidate("x", AutoConfig(), n)) for n in names]
    top = _hits(0.8)
    tallies = [
        _tally(top, 0.6),  # a closed form: the leader
        _tally(top.copy(), 0.6),  # as good: runs on
        _tally(_hits(0.4, seed=2), 0.6),  # clearly behind the leader on CMC@1
        _tally(top.copy(), 0.3),  # as good on CMC@1, clearly behind a simpler one on mAP
    ]
    still = _race(results, tallies, [1, 2, 3], 1, 5, 0)
    assert still == [1]
    assert results[2].stopped is not None and results[2].stopped.startswith(
        "stopped after 1 of 5 folds: procrustes ahead on cmc@1"
    )
    assert results[3].stopped is not None and "(simpler) as good and ahead on mAP" in (
        results[3].stopped
    )


def test_of_tied_candidates_one_passing_the_criterion_on_validation_goes_first():
    best = _hits(0.6, n=2000)
    near = best.copy()
    near[np.flatnonzero(best)[:20]] = False  # 0.002 behind, inside the interval: tied
    near[np.flatnonzero(~best)[:16]] = True
    simple = CandidateResult(FamilyCandidate("x", AutoConfig(), "simple"), hits=near)
    top = CandidateResult(FamilyCandidate("x", AutoConfig(), "top"), hits=best)
    for r in (simple, top):
        assert r.hits is not None
        r.figure = float(r.hits.mean())
        r.figures = {"cmc@1": r.figure}
    assert choose([simple, top], 0.0025, 0)[0] == 0  # the simpler of the tied
    index, reason = choose([simple, top], 0.0025, 0, reference=float(best.mean()))
    assert index == 1 and reason.endswith("passes the criterion on validation")


def test_a_raced_selection_records_where_each_candidate_stopped():
    data = planted_pairs(400, 12, 12, kind="affine", noise=0.2, n_classes=4, seed=3).pairs
    _, sel = select_adapter(
        data, TrainConfig(device="cpu", epochs=3), {"families": "procrustes,lambda-orth,mlp"}
    )
    for res in sel.results:
        done = res.to_dict()
        assert done["folds"] == 5 or done["stopped"].startswith(f"stopped after {res.folds} of 5")
        assert (res.figure is None) == (res.stopped is not None)
    assert sel.reference is not None and 0 < sel.reference < 1


def test_skipping_a_vanishing_lambda_penalty_changes_no_bit(monkeypatch: pytest.MonkeyPatch):
    data = planted_pairs(600, 16, 16, kind="affine", noise=0.2, n_classes=4, seed=0).pairs
    trainer = AdapterTrainer(TrainConfig(device="cpu", epochs=4, seed=0))

    def fit() -> np.ndarray:
        opts = {"lam_per_dim": 1.0}  # λ = 4: far outside the defect these epochs reach
        out = trainer.fit("lambda-orth", data.source, data.target, data.labels, options=opts)
        return np.asarray(out.adapter.affine().W)

    calls = []
    real = torch_modules.penalty_vanishes

    def counted(*args: object) -> bool:
        calls.append(real(*args))  # type: ignore[arg-type]
        return calls[-1]

    monkeypatch.setattr(torch_modules, "penalty_vanishes", counted)
    skipped = fit()
    assert any(calls)  # the skip happened
    monkeypatch.setattr(torch_modules, "penalty_vanishes", lambda *a: False)
    assert np.array_equal(skipped, fit())


def test_one_scoring_pass_equals_the_metrics_bit_for_bit():
    from embedreg.evaluation.metrics import (
        average_precisions,
        cmc_hits,
        mean_average_precision,
        own_pair_ranks,
    )
    from embedreg.training.racing import _score

    val = planted_pairs(300, 12, 12, kind="affine", noise=0.3, n_classes=5, seed=1).pairs
    rng = np.random.default_rng(0)
    queries = (val.source + 0.3 * rng.standard_normal(val.source.shape)).astype(np.float32)
    basis, hits, figures, aps = _score(queries, val, "cpu")
    codes = val.label_codes()
    assert basis == "cmc@1" and aps is not None
    assert np.array_equal(hits, cmc_hits(queries, val.target, codes, codes, 1))
    assert np.array_equal(
        aps, average_precisions(queries, val.target, codes, codes), equal_nan=True
    )
    assert figures["map"] == mean_average_precision(queries, val.target, codes, codes)
    assert figures["cmc@1"] == float(hits.mean())
    assert figures["recall@1"] == float((own_pair_ranks(queries, val.target) == 0).mean())
    unlabelled = type(val)(val.ids, val.source, val.target)
    basis, own, figures, aps = _score(queries, unlabelled, "cpu")
    assert basis == "recall@1" and aps is None
    assert np.array_equal(own, own_pair_ranks(queries, val.target) == 0)


def test_folds_fitted_in_threads_give_the_same_figures_and_choice():
    from embedreg.training.callbacks import TrainerCallback

    class Count(TrainerCallback):
        def __init__(self) -> None:
            self.epochs = 0

        def on_epoch_end(self, stats: object) -> None:
            self.epochs += 1

    data = planted_pairs(400, 12, 12, kind="affine", noise=0.2, n_classes=4, seed=3).pairs
    config = TrainConfig(device="cpu", epochs=3)
    runs = []
    for workers in (1, 2):
        count = Count()
        _, sel = select_adapter(
            data,
            config,
            {"families": "procrustes,lambda-orth,mlp", "workers": workers},
            callbacks=[count],
        )
        runs.append((sel, count.epochs))
    (one, epochs_one), (two, epochs_two) = runs
    assert one.winner.candidate.label == two.winner.candidate.label
    assert epochs_one == epochs_two > 0  # every fit's epochs reached the callback
    for a, b in zip(one.results, two.results, strict=True):
        assert (a.figures, a.stopped, a.folds, a.epochs) == (
            b.figures,
            b.stopped,
            b.folds,
            b.epochs,
        )


def test_workers_must_be_a_count():
    with pytest.raises(ValidationError):
        AutoConfig(workers=-1)
    assert AutoConfig(workers=0).threads() >= 1
