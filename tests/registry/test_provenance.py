"""Provenance, the selection record and the paths record as typed values, round-tripping losslessly."""

from __future__ import annotations

import pytest
from embedreg import __version__
from embedreg.registry.figures import Figures
from embedreg.registry.provenance import (
    CandidateRecord,
    GenerationPin,
    PathsRecord,
    Provenance,
    SelectionRecord,
    TrainingData,
)
from embedreg.registry.stored import StoredRecord


def _undeclared(rec: StoredRecord, where: str = "") -> list[str]:
    """Every key, at any depth, that no field declares (a declared key stored empty is declared)."""
    declared = type(rec)._fields()[0]
    found = [f"{where}{k}" for k in rec.extra if k not in declared]
    for name, value in vars(rec).items():
        if isinstance(value, StoredRecord):
            found += _undeclared(value, f"{where}{name}.")
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if isinstance(item, StoredRecord):
                    found += _undeclared(item, f"{where}{name}[{i}].")
    return found


def test_training_writes_no_provenance_key_without_an_attribute(stored_registry):
    for ident, stored in stored_registry["adapters"].items():
        prov = Provenance.from_dict(stored["provenance"])
        allowed = {"figures.lambda"} if ident == "v2-to-v1.lambda-orth" else set()
        assert set(_undeclared(prov)) <= allowed, ident
        assert prov.to_dict() == stored["provenance"]
        assert Provenance.from_dict(prov.to_dict()) == prov
        assert prov.embedreg_version == __version__ and prov.request is not None
        assert prov.source.pin == "org/two@" + "2" * 40 or prov.target.pin == "org/two@" + "2" * 40
        assert prov.training_data.sha256 is not None and prov.training.device == "cpu"


def test_selection_and_paths_read_by_attribute(stored_registry):
    prov = Provenance.from_dict(stored_registry["adapters"]["v2-to-v1.auto"]["provenance"])
    sel = prov.selection
    assert sel is not None and prov.requested_family == "auto"
    assert [c.label for c in sel.candidates] == ["procrustes", "procrustes center=true", "affine"]
    assert sel.winner is not None and sel.winner.label == sel.chosen and sel.basis == "cmc@1"
    assert all(0 <= (c.validation.cmc_at_1 or 0) <= 1 for c in sel.candidates)
    paths = prov.paths
    assert paths is not None and paths.fitted is True and paths.t is not None
    assert {v.kind for v in paths.variants} == {"map", "fused", "cascade"}
    fused = next(v for v in paths.variants if v.kind == "fused")
    assert fused.t == paths.t and fused.k is None and "k" in fused.nulls
    assert fused.cost.second_model is True and fused.figures.retention is not None
    assert paths.target.cmc_at_1 is not None and paths.t_grid and paths.t_grid[0].t is not None
    plain = Provenance.from_dict(stored_registry["adapters"]["v2-to-v1.lambda-orth"]["provenance"])
    assert plain.selection is None and plain.paths is None
    assert dict(plain.settings) == {"lambda": pytest.approx(1.5)}
    unlabelled = Provenance.from_dict(stored_registry["adapters"]["few.backward"]["provenance"])
    assert unlabelled.paths is not None and unlabelled.paths.fitted is False
    assert unlabelled.paths.reason and unlabelled.paths.variants == ()
    assert unlabelled.training_data.labels is False and unlabelled.training_data.item_ids


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"source": {}, "settings": {}, "selection": {}},  # empty stays empty
        {"source": {"pin": None, "extra": 1}, "training": {"epochs": "three"}},
        {"paths": {"fitted": True, "variants": [{"kind": "new-kind", "cost": {"gpu": 1}}]}},
        {"selection": {"candidates": [{"label": "x", "validation": {"recall@1": 1}, "cost": 2}]}},
        {"plugin": {"anything": [1, {"a": None}]}, "created": "2026-01-01T00:00:00Z"},
    ],
)
def test_older_newer_and_plugin_provenance_round_trips(stored):
    prov = Provenance.from_dict(stored)
    assert prov.to_dict() == stored
    assert Provenance.from_dict(prov.to_dict()) == prov


def test_keyword_construction():
    prov = Provenance(
        family="affine",
        source=GenerationPin(generation="v2", pin="org/two@abc"),
        training_data=TrainingData(sha256="f" * 64, pairs=10),
        selection=SelectionRecord(
            chosen="affine",
            candidates=(CandidateRecord(label="affine", validation=Figures(recall_at_1=0.5)),),
        ),
        paths=PathsRecord(fitted=False, reason="no labels"),
    )
    assert prov.to_dict() == {
        "family": "affine",
        "source": {"generation": "v2", "pin": "org/two@abc"},
        "training_data": {"sha256": "f" * 64, "pairs": 10},
        "selection": {
            "chosen": "affine",
            "candidates": [{"label": "affine", "validation": {"recall@1": 0.5}}],
        },
        "paths": {"fitted": False, "reason": "no labels"},
    }
    assert Provenance.from_dict(prov.to_dict()) == prov
    assert prov.target.pin is None and prov.selection is not None
    assert prov.selection.winner is not None and prov.selection.winner.validation.recall_at_1 == 0.5
