"""Older registry files stay readable: schema 1 and 2 are migrated on read, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedreg import Registry
from embedreg.constants import SCHEMA_VERSION
from embedreg.errors import CorruptedRegistry, SchemaVersionError
from embedreg.registry import Publication

COMMIT = "0123456789abcdef0123456789abcdef01234567"

#: A registry as embedreg wrote it at schema 2 (before Hub revisions and publications).
SCHEMA_2 = {
    "schema_version": 2,
    "generations": {
        "v1": {
            "name": "v1",
            "source": {"kind": "hub", "repo_id": "org/m", "revision": COMMIT},
            "recipe": {"pooling": "mean", "normalize": True, "max_tokens": 128},
            "dimension": 8,
            "modality": "text",
            "parent": None,
            "created": "2025-01-01T00:00:00Z",
            "notes": "first",
            "fingerprint": None,
        },
        "v2": {
            "name": "v2",
            "source": {"kind": "local", "path": "/models/v2", "sha256": "b" * 64},
            "recipe": {"pooling": "cls", "normalize": False},
            "dimension": 8,
            "parent": "v1",
        },
    },
    "adapters": {
        "v2-to-v1": {
            "id": "v2-to-v1",
            "source": "v2",
            "target": "v1",
            "direction": "backward",
            "family": "procrustes",
            "location": "adapters/v2-to-v1",
            "sha256": "a" * 64,
            "figures": {"retention": 0.9},
        }
    },
    "galleries": {},
    "aliases": {"latest": "v2", "production": "v1"},
}


def write(path: Path, doc: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "registry.json").write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("version", [1, 2])
def test_older_schemas_are_read_and_rewritten_current(tmp_path: Path, version: int) -> None:
    doc = json.loads(json.dumps(SCHEMA_2))
    doc["schema_version"] = version
    if version == 1:  # schema 1 had no fingerprints at all
        del doc["generations"]["v1"]["fingerprint"]
    reg = Registry.open(write(tmp_path, doc))
    v1 = reg.generation("v1")
    assert v1.pin == f"org/m@{COMMIT}" and v1.source.resolved_from is None
    assert v1.notes == "first" and reg.generation("v2").recipe.pooling == "cls"
    assert reg.adapter("v2-to-v1").published is None
    before = (tmp_path / "registry.json").read_bytes()
    assert json.loads(before)["schema_version"] == version  # reading never rewrites
    reg.record_publication("v2-to-v1", Publication("alice/v2-to-v1", "c" * 40, "v1"))
    data = json.loads((tmp_path / "registry.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 3
    assert data["generations"]["v1"]["source"]["resolved_from"] is None
    assert data["adapters"]["v2-to-v1"]["published"] == {
        "repo_id": "alice/v2-to-v1",
        "commit": "c" * 40,
        "tag": "v1",
    }
    assert data["aliases"] == {"latest": "v2", "production": "v1"}
    assert data["adapters"]["v2-to-v1"]["figures"] == {"retention": 0.9}


def test_newer_and_damaged_files_are_still_refused(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(SCHEMA_2))
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaVersionError):
        Registry.open(write(tmp_path / "a", doc)).document()
    doc["schema_version"] = 3
    doc["generations"]["v1"]["source"]["resolved_from"] = 7
    with pytest.raises(CorruptedRegistry, match="resolved_from"):
        Registry.open(write(tmp_path / "b", doc)).document()
