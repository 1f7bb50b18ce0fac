"""AdapterRecord with typed figures and provenance: registry.json read and written byte for byte."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from embedreg.errors import ValidationError
from embedreg.registry import AdapterRecord, Figures, Provenance, RegistryDocument


def test_registry_files_load_and_write_back_unchanged(stored_registry):
    raw = (
        json.dumps(stored_registry, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode()
    doc = RegistryDocument.parse(raw, "registry.json")
    assert doc.serialize() == raw  # the format is unchanged: same keys, same values
    for ident, stored in stored_registry["adapters"].items():
        rec = AdapterRecord.from_dict(stored)
        assert isinstance(rec.figures, Figures) and isinstance(rec.provenance, Provenance)
        assert rec.to_dict() == stored
        assert AdapterRecord.from_dict(rec.to_dict()) == rec == doc.adapters[ident]


def test_a_record_written_by_another_version_round_trips(stored_registry):
    stored = json.loads(json.dumps(stored_registry["adapters"]["v2-to-v1.auto"]))
    stored["figures"]["plugin.score"] = {"any": [1, None]}  # a plugin family's own figure
    stored["figures"]["retention"] = "0.9"  # a value of the wrong type: kept as it was
    stored["provenance"]["newer_field"] = [1, 2]
    stored["provenance"]["selection"]["candidates"][0]["cost_seconds"] = 1.5
    rec = AdapterRecord.from_dict(stored)
    assert rec.to_dict() == stored
    assert rec.figures.retention is None and rec.figures.extra["retention"] == "0.9"
    assert rec.provenance.extra["newer_field"] == [1, 2]


def test_figures_and_provenance_must_be_objects(stored_registry):
    stored = dict(stored_registry["adapters"]["few.forward"])
    with pytest.raises(ValidationError, match="figures must be an object"):
        AdapterRecord.from_dict({**stored, "figures": [1]})
    with pytest.raises(ValidationError, match="provenance must be an object"):
        AdapterRecord.from_dict({**stored, "provenance": "x"})
    rec = AdapterRecord.from_dict(stored)
    with pytest.raises(ValidationError, match="figures must be Figures"):
        replace(rec, figures={"retention": 1.0})  # type: ignore[arg-type]
