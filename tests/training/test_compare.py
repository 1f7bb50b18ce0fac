"""compare_families: options routed per family, the forward direction swapped in the library."""

from __future__ import annotations

import pytest
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import ValidationError
from embedreg.training import TrainConfig, compare_families, options_by_family

FAST = TrainConfig(device="cpu", epochs=2)


def test_options_go_to_the_families_that_take_them() -> None:
    names = ["procrustes", "lambda-orth", "lowrank", "mlp"]
    routed = options_by_family({"temperature": "0.2", "lowrank.rank": "8", "lam": "12"}, names)
    assert routed == {
        "lambda-orth": {"temperature": "0.2", "lam": "12"},
        "lowrank": {"temperature": "0.2", "rank": "8"},
        "mlp": {"temperature": "0.2"},
    }
    with pytest.raises(ValidationError, match="no compared family takes option 'rank'"):
        options_by_family({"rank": "8"}, ["procrustes", "affine"])
    with pytest.raises(ValidationError, match="names family 'mlp', which is not compared"):
        options_by_family({"mlp.hidden": "8"}, ["affine"])


def test_compare_checks_each_familys_options_before_fitting() -> None:
    pairs = planted_pairs(300, 8, 6, seed=0).pairs
    with pytest.raises(
        ValidationError, match="unknown option 'hidden' for adapter family 'lowrank'"
    ):
        compare_families(
            pairs, families=["lowrank"], options={"lowrank": {"hidden": 8}}, config=FAST
        )
    with pytest.raises(ValidationError, match="not compared: mlp"):
        compare_families(pairs, families=["lowrank"], options={"mlp": {}}, config=FAST)


def test_forward_comparison_fits_old_to_new() -> None:
    pairs = planted_pairs(400, 10, 6, seed=1).pairs  # new 10-d → old 6-d
    (backward,) = compare_families(pairs, families=["affine"], config=FAST)
    (forward,) = compare_families(pairs, direction="forward", families=["affine"], config=FAST)
    assert backward.error is None and forward.error is None
    assert backward.figures.heldout == forward.figures.heldout == 80
    assert backward.figures != forward.figures
    with pytest.raises(ValidationError, match="backward or forward"):
        compare_families(pairs, direction="both", families=["affine"], config=FAST)


def test_each_rows_seconds_are_its_fit_as_the_trainer_timed_it() -> None:
    from embedreg.training import TrainerCallback, TrainResult

    pairs = planted_pairs(400, 10, 6, seed=2).pairs
    fits: dict[str, float] = {}

    class Timed(TrainerCallback):
        def on_train_end(self, result: TrainResult) -> None:
            fits[result.family] = result.seconds

    rows = compare_families(
        pairs, families=["procrustes", "lambda-orth"], config=FAST, callbacks=[Timed()]
    )
    # the fit's own time (measuring and first imports excluded), as adapter train reports it
    assert {r.family: r.seconds for r in rows} == fits and all(s > 0 for s in fits.values())
