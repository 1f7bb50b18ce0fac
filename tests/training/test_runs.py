"""train_adapter and friends: registry records, stored files, ids, directions, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg import __version__
from embedreg.adapters import load_registered_adapter
from embedreg.adapters.persistence import WEIGHTS_FILENAME
from embedreg.data.embeddings import save_embeddings
from embedreg.data.pairs import load_pairs
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import (
    AdapterIntegrityError,
    DimensionMismatch,
    DuplicateName,
    GenerationMismatch,
    InvalidName,
    TrainingDataError,
    UnknownAdapter,
    ValidationError,
)
from embedreg.training import TrainConfig, compare_families, evaluate_adapter, train_adapter

FAST = TrainConfig(device="cpu", epochs=3)


@pytest.fixture(scope="module")
def pairs():
    # new generation v2 (24-d) → old generation v1 (16-d), labelled
    return planted_pairs(600, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs


def test_backward_adapter_is_stored_measured_and_registered(reg, pairs):
    (run,) = train_adapter(reg, "v2", "v1", pairs, family="lambda-orth", config=FAST)
    rec = reg.adapter("v2-to-v1.lambda-orth")
    assert rec == run.record
    assert (rec.source, rec.target, rec.direction, rec.family) == (
        "v2",
        "v1",
        "backward",
        "lambda-orth",
    )
    assert rec.location == f"adapters/v2-to-v1.lambda-orth@{rec.sha256[:16]}"
    assert rec.figures.heldout == 120 and rec.figures.retention > 0
    assert rec.figures.criterion in (True, False)
    prov = rec.provenance
    assert prov.source.pin == "org/two@" + "2" * 40
    assert prov.target.pin == "org/one@" + "1" * 40
    assert prov.training_data.sha256 == pairs.content_hash()
    assert prov.training_data.train == 480 and prov.embedreg_version == __version__
    hyper = prov.hyperparameters
    assert hyper["alpha"] == 30.0 and hyper["epochs"] == FAST.epochs and "ridge" not in hyper
    assert hyper["lam_per_dim"] == 0.375 and "lam_absolute" not in hyper
    # the family's headline setting, through its card_facts hook: λ = 0.375 · √min(24, 16)
    assert prov.settings == {"lambda": 0.375 * 4.0} and rec.figures.setting("lambda") == 0.375 * 4.0
    assert hyper["w_contrastive"] == 0.1  # decided for labelled pairs, recorded as used
    loaded = load_registered_adapter(reg, rec.id)
    assert loaded.sha256 == rec.sha256 and loaded.figures == rec.figures
    assert loaded.provenance == prov
    x = pairs.source[:5]
    assert np.array_equal(loaded.adapter.transform(x), run.adapter.transform(x))


def test_both_directions_register_two_adapters(reg, pairs):
    runs = train_adapter(reg, "v2", "v1", pairs, family="affine", direction="both")
    ids = [r.record.id for r in runs]
    assert ids == ["v2-to-v1.affine", "v1-to-v2.affine"]
    fwd = reg.adapter("v1-to-v2.affine")
    assert (fwd.source, fwd.target, fwd.direction) == ("v1", "v2", "forward")
    assert runs[1].adapter.input_dim == 16 and runs[1].adapter.output_dim == 24
    # same split: the two directions were measured on the same held-out items
    assert runs[0].record.provenance.training_data == runs[1].record.provenance.training_data


def test_names_duplicates_and_replace(reg, pairs):
    (first,) = train_adapter(reg, "v2", "v1", pairs, family="procrustes")
    (same,) = train_adapter(reg, "v2", "v1", pairs, family="procrustes")  # e.g. a rerun
    assert same.training is None and same.record == first.record
    with pytest.raises(DuplicateName, match=r"v2-to-v1\.procrustes"):
        train_adapter(reg, "v2", "v1", pairs, family="procrustes", heldout=0.3)
    again = train_adapter(reg, "v2", "v1", pairs, family="procrustes", replace_existing=True)
    assert reg.adapter("v2-to-v1.procrustes").sha256 == again[0].record.sha256
    runs = train_adapter(reg, "v2", "v1", pairs, family="procrustes", direction="both", name="p")
    assert [r.record.id for r in runs] == ["p.backward", "p.forward"]
    with pytest.raises(InvalidName):
        train_adapter(reg, "v2", "v1", pairs, family="procrustes", name="Bad Name")


def test_family_options_are_checked_and_recorded(reg, pairs):
    (run,) = train_adapter(
        reg, "v2", "v1", pairs, family="lowrank", options={"rank": "4"}, config=FAST
    )
    assert run.adapter.config_dict()["rank"] == 4
    assert run.record.provenance.hyperparameters["rank"] == 4
    with pytest.raises(ValidationError, match=r"unknown option 'lam' for adapter family 'affine'"):
        train_adapter(reg, "v2", "v1", pairs, family="affine", options={"lam": "1"})
    assert [a.id for a in reg.adapters()] == ["v2-to-v1.lowrank"]


def test_refusals_before_training(reg, pairs):
    with pytest.raises(ValidationError, match="ancestor"):
        train_adapter(reg, "v1", "v2", pairs.swapped())
    with pytest.raises(DimensionMismatch, match="v2"):
        train_adapter(reg, "v2", "v1", pairs.swapped())
    with pytest.raises(TrainingDataError, match="too few"):
        train_adapter(reg, "v2", "v1", pairs.subset(range(30)))
    with pytest.raises(ValidationError, match="direction"):
        train_adapter(reg, "v2", "v1", pairs, direction="sideways")
    assert reg.adapters() == []


def test_tampered_store_files_are_refused_and_rm_deletes_them(reg, pairs):
    (run,) = train_adapter(reg, "v2", "v1", pairs, family="affine")
    folder = reg.store.fetch_artifact(run.record.location)
    path = folder / WEIGHTS_FILENAME
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(AdapterIntegrityError, match="sha256"):
        load_registered_adapter(reg, run.record.id)
    reg.remove_adapter(run.record.id)
    assert not folder.exists()
    with pytest.raises(UnknownAdapter):
        load_registered_adapter(reg, run.record.id)


def test_evaluate_registered_adapter_on_other_pairs(reg, pairs):
    train_adapter(reg, "v2", "v1", pairs, family="procrustes")
    other = planted_pairs(200, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    figs = evaluate_adapter(reg, "v2-to-v1.procrustes", other, device="cpu")
    assert figs.heldout == 200 and figs.cmc_at_1 is not None
    with pytest.raises(DimensionMismatch):
        evaluate_adapter(reg, "v2-to-v1.procrustes", other.swapped(), device="cpu")


def test_compare_fits_every_family_on_one_split(pairs):
    rows = compare_families(pairs, config=FAST)
    assert [r.family for r in rows] == [
        "identity",
        "procrustes",
        "affine",
        "lambda-orth",
        "lowrank",
        "mlp",
    ]
    assert rows[0].error is not None and "dimension" in rows[0].error
    for row in rows[1:]:
        assert row.error is None and row.figures.heldout == 120
    assert rows[3].epochs >= 1 and rows[1].epochs == 0


def test_load_pairs_from_embeddings_files(reg, pairs, tmp_path):
    v1, v2 = reg.generation("v1"), reg.generation("v2")
    new_file, old_file = tmp_path / "new.safetensors", tmp_path / "old.safetensors"
    order = np.random.default_rng(0).permutation(len(pairs))
    save_embeddings(
        new_file, pairs.source, generation=v2, role="query", ids=pairs.ids, labels=pairs.labels
    )
    save_embeddings(
        old_file,
        pairs.target[order],
        generation=v1,
        role="document",
        ids=[pairs.ids[i] for i in order],
    )
    loaded = load_pairs(reg, "v2", "v1", new_file, old_file)
    assert loaded.ids == pairs.ids and loaded.labels == pairs.labels
    assert np.array_equal(loaded.target, pairs.target)
    assert (loaded.source_generation, loaded.target_generation) == ("v2", "v1")
    with pytest.raises(GenerationMismatch):
        load_pairs(reg, "v2", "v1", old_file, new_file)
    save_embeddings(old_file, pairs.target[:-1], generation=v1, role="document", ids=pairs.ids[:-1])
    with pytest.raises(TrainingDataError, match="not in"):
        load_pairs(reg, "v2", "v1", new_file, old_file)
