"""--family auto: the candidate grid, the k-fold choice, the record it leaves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from embedreg.adapters import Adapter
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import PluginError, TrainingDataError, ValidationError
from embedreg.evaluation.metrics import cmc_hits
from embedreg.training import (
    AdapterTrainer,
    TrainConfig,
    TrainerCallback,
    TrainStart,
    train_adapter,
)
from embedreg.training.selection import (
    AutoConfig,
    CandidateResult,
    FamilyCandidate,
    candidate_grid,
    choose,
    fold_rows,
    select_adapter,
)

FAST = TrainConfig(device="cpu", epochs=3)


def test_every_family_puts_its_candidates_in_the_grid_simplest_first():
    square = [c.label for c in candidate_grid(3000, 384, 384, labels=True)]
    assert square[0] == "identity" and square[1:3] == ["procrustes", "procrustes center=true"]
    assert square.index("affine") < square.index("lambda-orth") < square.index("mlp")
    assert [c for c in square if c.startswith("lambda-orth")][1:]  # a grid of λ-orth settings
    rect = [c.label for c in candidate_grid(3000, 768, 384, labels=True)]
    assert "identity" not in rect  # 768 → 384 has no identity
    only = candidate_grid(3000, 8, 8, labels=False, families=["affine", "procrustes"])
    assert [c.family for c in only] == ["affine", "procrustes", "procrustes"]
    assert Adapter.auto_candidates(n_train=10, input_dim=2, output_dim=2, labels=False) == []


def _result(label: str, hits: list[int]) -> CandidateResult:
    cand = FamilyCandidate("affine", AutoConfig(), label)
    arr = np.array(hits, dtype=bool)
    return CandidateResult(cand, float(arr.mean()), {"cmc@1": float(arr.mean())}, hits=arr)


def test_a_simpler_candidate_within_the_tolerance_and_tied_is_chosen():
    rng = np.random.default_rng(0)
    best = rng.random(2000) < 0.6
    near = best.copy()  # better on 16 queries, worse on 20: 0.002 behind, inside the interval
    near[np.flatnonzero(best)[:20]] = False
    near[np.flatnonzero(~best)[:16]] = True
    far = best.copy()
    far[np.flatnonzero(best)[:40]] = False  # 0.02 behind
    simple, mid, top = _result("simple", far), _result("mid", near), _result("top", best)
    index, reason = choose([simple, mid, top], 0.0025, 0)
    assert index == 1 and "within 0.0025 of the best (top" in reason
    assert mid.interval is not None and mid.interval[0] <= 0 <= mid.interval[1]
    assert simple.interval is not None and simple.interval[0] > 0  # clearly behind
    index, reason = choose([simple, mid, top], 0.001, 0)  # a tighter tolerance: the best
    assert index == 2 and reason.startswith("best validation cmc@1")
    failed = CandidateResult(FamilyCandidate("mlp", AutoConfig(), "mlp"), error="too few pairs")
    with pytest.raises(TrainingDataError, match=r"no candidate could be fit .*mlp: too few pairs"):
        choose([failed], 0.0025, 0)


def test_with_map_the_simplest_tied_candidate_near_the_top_map_is_chosen():
    rng = np.random.default_rng(1)
    best = rng.random(2000) < 0.6
    near = best.copy()  # 0.002 behind on CMC@1, inside the interval: tied
    near[np.flatnonzero(best)[:20]] = False
    near[np.flatnonzero(~best)[:16]] = True
    simple, mid, top = _result("simple", near), _result("mid", near), _result("top", best)
    for res, m in ((simple, 0.300), (mid, 0.330), (top, 0.310)):
        res.figures["map"] = m
    index, reason = choose([simple, mid, top], 0.0025, 0)  # mid earns its place by mAP
    assert index == 1 and reason.endswith("and mAP 0.3300 within 0.0025 of the tied best")
    mid.figures["map"] = 0.300  # now the best's mAP is the top one: it stays
    index, reason = choose([simple, mid, top], 0.0025, 0)
    assert index == 2 and reason.endswith("of 3 tied, mAP 0.3100 within 0.0025 of the tied best")
    simple.figures["map"] = 0.309  # 0.001 under the top mAP: a noise-sized gap, the simpler
    assert choose([simple, mid, top], 0.0025, 0)[0] == 0


def test_the_folds_cut_the_pairs_once_each_and_one_fold_is_the_old_split():
    data = planted_pairs(100, 8, 8, kind="rotation", noise=0.1, n_classes=4, seed=0).pairs
    folds = fold_rows(len(data), AutoConfig(folds=3), 7)
    held = np.concatenate([val for _, val in folds])
    assert sorted(held.tolist()) == list(range(100))  # each pair validated exactly once
    for fit, val in folds:
        assert len(np.intersect1d(fit, val)) == 0 and len(fit) + len(val) == 100
    ((fit, val),) = fold_rows(len(data), AutoConfig(folds=1, validation=0.25), 7)
    part_fit, part_val = data.split(0.25, 7)  # folds=1: the single validation part of before
    assert data.subset(val).ids == part_val.ids and data.subset(fit).ids == part_fit.ids
    with pytest.raises(TrainingDataError, match="fewer than 2 pairs a fold"):
        fold_rows(10, AutoConfig(folds=6), 0)


def test_the_figures_are_the_held_folds_pooled():
    data = planted_pairs(300, 8, 8, kind="affine", noise=0.3, n_classes=5, seed=2).pairs
    _, sel = select_adapter(data, FAST, {"families": "affine", "folds": 3})
    (res,) = sel.results
    folds = fold_rows(len(data), AutoConfig(folds=3), FAST.seed + 1)
    trainer, expected = AdapterTrainer(FAST), []
    for fit_rows, val_rows in folds:  # the same fits by hand, each scored on its held fold
        fit, val = data.subset(fit_rows), data.subset(val_rows)
        adapter = trainer.fit("affine", fit.source, fit.target, fit.labels).adapter
        codes = val.label_codes()
        assert codes is not None
        expected.append(cmc_hits(adapter.transform(val.source), val.target, codes, codes, 1))
    assert res.hits is not None and np.array_equal(res.hits, np.concatenate(expected))
    assert res.figure == pytest.approx(res.hits.mean()) and 0 < res.figures["map"] < 1
    assert 0 < res.figure < 1  # a noisy affine map: neither trivial nor perfect


def test_auto_finds_the_planted_family_and_refits_it():
    data = planted_pairs(800, 16, 16, kind="rotation", noise=0.05, n_classes=4, seed=1).pairs
    final, sel = select_adapter(data, FAST, {"families": "procrustes,affine"})
    # a planted rotation: Procrustes (the simplest) is as good as anything on validation
    assert sel.winner.candidate.family == "procrustes" and final.adapter.family == "procrustes"
    assert sel.basis == "cmc@1" and sel.folds == 5
    assert sel.n_validation == 800 and sel.n_fit == 640  # every pair validated once; 4 folds fit
    assert final.n_train == 800  # refit on every training pair
    warped = planted_pairs(800, 16, 16, kind="affine", noise=0.2, n_classes=4, seed=1).pairs
    final, sel = select_adapter(
        replace(warped, labels=None), FAST, {"families": "procrustes,affine"}
    )
    # a planted affine map with singular values 0.5 to 2 and a bias: the affine map wins
    assert sel.basis == "recall@1" and final.adapter.family == "affine"
    figures = {r.candidate.label: r.figure for r in sel.results}
    assert figures["affine"] > figures["procrustes"]
    with pytest.raises(ValidationError, match="validation must be a fraction"):
        AutoConfig(validation=1.5)
    with pytest.raises(ValidationError, match="folds must be a whole number"):
        AutoConfig(folds=0)
    with pytest.raises(PluginError, match="'nope'"):
        select_adapter(data, FAST, {"families": "nope"})


def test_the_stages_name_each_candidate_once_per_fit_and_closed_forms_once():
    data = planted_pairs(400, 16, 16, kind="affine", noise=0.1, n_classes=4, seed=2).pairs
    stages: list[str] = []
    begun: list[str] = []

    class Begin(TrainerCallback):
        def on_train_begin(self, start: TrainStart) -> None:
            begun.append(start.fitting)

    cfg = {"families": "procrustes,affine,lambda-orth", "folds": 3}
    select_adapter(data, FAST, cfg, callbacks=[Begin()], on_stage=stages.append)
    closed = [s for s in stages if s.startswith("closed forms")]
    assert len(closed) == 1 and "procrustes, procrustes center=true, affine" in closed[0]
    assert "each of the 3 fold(s)" in closed[0]
    fits = [s for s in stages if s.startswith("fold ")]
    assert fits and all("lambda-orth" in s for s in fits)
    # the callbacks see the gradient fits (and the refit), not the closed forms' fold fits
    assert "closed-form" not in begun[:-1] and len(begun) == len(fits) + 1


def test_the_record_keeps_every_candidate_and_a_rerun_finds_it(reg):
    pairs = planted_pairs(600, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    opts = {"families": "identity,procrustes,affine,lowrank"}
    (run,) = train_adapter(reg, "v2", "v1", pairs, options=opts, config=FAST)
    rec = run.record
    assert rec.id == "v2-to-v1.auto" and rec.family in ("procrustes", "affine", "lowrank")
    sel = rec.provenance.selection
    assert sel is not None and rec.provenance.requested_family == "auto"
    labels = [c.label for c in sel.candidates]  # no identity: 24 → 16
    assert labels == ["procrustes", "procrustes center=true", "affine", "lowrank"]
    assert all(0 <= c.validation.cmc_at_1 <= 1 for c in sel.candidates)
    assert sel.chosen in labels and sel.folds == 5
    assert sel.fit_pairs == 384 and sel.validation_pairs == 480
    again = train_adapter(reg, "v2", "v1", pairs, options=opts, config=FAST)
    assert again[0].training is None and again[0].record == rec
    with pytest.raises(ValidationError, match="unknown option 'rank' for adapter family 'auto'"):
        train_adapter(reg, "v2", "v1", pairs, options={"rank": 4})


def test_the_adapter_card_carries_the_candidates(reg):
    from embedreg.adapters import load_registered_adapter
    from embedreg.hub.adapter_card import AdapterFacts, adapter_card

    pairs = planted_pairs(400, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    (run,) = train_adapter(reg, "v2", "v1", pairs, options={"families": "procrustes,affine"})
    loaded = load_registered_adapter(reg, run.record.id)
    doc = reg.document()
    facts = AdapterFacts.build(
        run.record.id, loaded, doc.generations["v2"], doc.generations["v1"], "backward", {}
    )
    folder = reg.store.fetch_artifact(run.record.location)
    card = str(
        adapter_card(facts, loaded, (Path(folder) / "model.safetensors").read_bytes(), "a/b")
    )
    assert (
        "## How the family was chosen" in card and "selection" not in card.split("## Provenance")[1]
    )
    assert run.record.provenance.selection is not None
    for cand in run.record.provenance.selection.candidates:
        figure = f"{cand.validation.cmc_at_1:.4f}"
        assert f"| {cand.label} | {figure} |" in card
    assert card.count("| chosen |") == 1
    assert "fitted each candidate 5 times" in card and "(320 queries pooled; cmc@1" in card
