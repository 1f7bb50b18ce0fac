from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedreg import AdapterRecord, GalleryRecord, Generation, HubSource, Recipe, Registry
from embedreg.constants import SCHEMA_VERSION
from embedreg.errors import (
    CorruptedRegistry,
    DuplicateName,
    InUse,
    RegistryNotFound,
    SchemaVersionError,
    UnknownAdapter,
    UnknownAlias,
    UnknownGeneration,
    ValidationError,
)
from embedreg.registry import Figures

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def gen(name: str, parent: str | None = None, dim: int = 8) -> Generation:
    return Generation(
        name=name, source=HubSource("o/m", COMMIT), recipe=Recipe(), dimension=dim, parent=parent
    )


def adapter(src: str, tgt: str, key: str | None = None) -> AdapterRecord:
    return AdapterRecord(
        id=key or f"{src}-to-{tgt}",
        source=src,
        target=tgt,
        direction="backward",
        family="procrustes",
        location=f"adapters/{key or src + '-to-' + tgt}",
        sha256="a" * 64,
        figures=Figures(retention=0.9),
    )


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    registry = Registry.open(tmp_path / "reg")
    assert registry.init() is True
    return registry


def test_init_is_idempotent(reg: Registry) -> None:
    before = Path(reg.location).read_bytes()
    assert reg.init() is False
    assert Path(reg.location).read_bytes() == before
    assert json.loads(before)["schema_version"] == SCHEMA_VERSION


def test_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryNotFound, match="embedreg init"):
        Registry.open(tmp_path / "nowhere").generations()


def test_add_get_list_and_latest(reg: Registry) -> None:
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2", parent="v1"))
    assert [g.name for g in reg.generations()] == ["v1", "v2"]
    assert reg.generation("latest").name == "v2"
    assert reg.aliases() == {"latest": "v2"}
    with pytest.raises(DuplicateName):
        reg.add_generation(gen("v1"))
    with pytest.raises(UnknownGeneration, match="v9"):
        reg.generation("v9")


def test_parent_must_exist_and_alias_parent_resolves(reg: Registry) -> None:
    with pytest.raises(UnknownGeneration):
        reg.add_generation(gen("v2", parent="v1"))
    reg.add_generation(gen("v1"))
    reg.set_alias("production", "v1")
    added = reg.add_generation(gen("v2", parent="production"))
    assert added.parent == "v1"
    assert reg.generation("v2").parent == "v1"


def test_lineage(reg: Registry) -> None:
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2", parent="v1"))
    reg.add_generation(gen("v3", parent="v2"))
    assert [g.name for g in reg.lineage("v3")] == ["v3", "v2", "v1"]
    assert [g.name for g in reg.lineage("latest")] == ["v3", "v2", "v1"]


def test_aliases(reg: Registry) -> None:
    reg.add_generation(gen("v1"))
    assert reg.set_alias("production", "latest") == "v1"
    assert reg.aliases() == {"latest": "v1", "production": "v1"}
    with pytest.raises(DuplicateName):
        reg.set_alias("v1", "v1")  # an alias may not shadow a generation
    with pytest.raises(DuplicateName):
        reg.add_generation(gen("production"))  # nor a generation an alias
    assert reg.remove_alias("production") == "v1"
    with pytest.raises(UnknownAlias):
        reg.remove_alias("production")


def test_file_is_sorted_and_stable(reg: Registry) -> None:
    reg.add_generation(gen("v2"))
    reg.add_generation(gen("v1"))
    raw = Path(reg.location).read_text()
    data = json.loads(raw)
    assert raw == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # A change that changes nothing does not rewrite the file.
    stat = Path(reg.location).stat()
    reg.set_alias("latest", "v1")
    assert Path(reg.location).read_text() == raw
    assert Path(reg.location).stat().st_mtime_ns == stat.st_mtime_ns
    assert Path(reg.location).stat().st_ino == stat.st_ino


def test_newer_schema_refused_untouched(reg: Registry) -> None:
    path = Path(reg.location)
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "generations": {}}))
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError, match="upgrade embedreg"):
        reg.generations()
    with pytest.raises(SchemaVersionError):
        reg.add_generation(gen("v1"))
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        b'{"schema_version": 1, "generations": {',  # truncated
        b"\xff\xfe garbage",
        b"[]",
        b'{"schema_version": 1, "generations": {"v1": {"name": "v1"}}}',
        b'{"schema_version": 1, "aliases": {"latest": "ghost"}}',
        b'{"schema_version": 1, "mystery": 1}',
    ],
)
def test_corrupted_refused_untouched(reg: Registry, content: bytes) -> None:
    path = Path(reg.location)
    path.write_bytes(content)
    with pytest.raises(CorruptedRegistry) as info:
        reg.add_generation(gen("v1"))
    assert str(path) in str(info.value)
    with pytest.raises(CorruptedRegistry):
        reg.init()
    assert path.read_bytes() == content


def test_adapter_records(reg: Registry) -> None:
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2"))
    with pytest.raises(UnknownGeneration):
        reg.add_adapter(adapter("v3", "v1"))
    reg.add_adapter(adapter("v2", "v1"))
    assert reg.adapter("v2-to-v1").figures == Figures(retention=0.9)
    assert [a.id for a in reg.adapters(source="latest")] == ["v2-to-v1"]
    assert reg.adapters(target="v2") == []
    with pytest.raises(DuplicateName):
        reg.add_adapter(adapter("v2", "v1"))
    reg.remove_adapter("v2-to-v1")
    with pytest.raises(UnknownAdapter):
        reg.adapter("v2-to-v1")


def test_remove_generation_refused_while_used(reg: Registry) -> None:
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2", parent="v1"))
    reg.add_generation(gen("v3", parent="v2"))
    reg.add_adapter(adapter("v2", "v1"))
    reg.add_gallery(GalleryRecord(name="news", location="/g/news", generation="v2"))
    before = Path(reg.location).read_bytes()
    with pytest.raises(InUse, match=r"v2-to-v1.*news"):
        reg.remove_generation("v2")
    assert Path(reg.location).read_bytes() == before
    removal = reg.remove_generation("v2", force=True)
    assert removal.adapters == ["v2-to-v1"]
    assert removal.galleries == ["news"]
    assert removal.reparented == ["v3"]
    assert reg.generation("v3").parent == "v1"
    assert reg.adapters() == [] and reg.galleries() == []


def test_remove_drops_aliases_and_artifacts(reg: Registry, tmp_path: Path) -> None:
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2"))
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    location = reg.store.put_artifact("adapters/v2-to-v1", {"model.safetensors": weights})
    reg.add_adapter(adapter("v2", "v1"))
    assert reg.store.fetch_artifact("adapters/v2-to-v1").is_dir()
    kept = reg.remove_generation("v2", force=True)  # issue 14 #5: trained files are kept
    assert kept.aliases == ["latest"] and kept.kept_files == [location]
    assert "latest" not in reg.aliases()
    assert reg.store.fetch_artifact(location).is_dir()
    reg.add_generation(gen("v2"))
    reg.add_adapter(adapter("v2", "v1"))
    removal = reg.remove_generation("v2", force=True, delete_adapter_files=True)
    assert removal.kept_files == []
    assert not (Path(reg.location).parent / "artifacts" / "adapters" / "v2-to-v1").exists()


def test_remove_through_alias_refused(reg: Registry) -> None:
    reg.add_generation(gen("v1"))
    with pytest.raises(ValidationError, match="alias"):
        reg.remove_generation("latest")
    assert reg.generation("v1")
