"""Issue 26 #1: a delete touches only files its own record created and no other record points to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedreg import AdapterRecord, Generation, HubSource, Recipe, Registry
from embedreg.registry.records import adapter_artifact_key

COMMIT = "0123456789abcdef0123456789abcdef01234567"
IDS = ("a1", "a2", "a3")


def _stored(reg: Registry, tmp_path: Path) -> dict[str, AdapterRecord]:
    reg.init()
    for name in ("v1", "v2"):
        reg.add_generation(Generation(name, HubSource("o/m", COMMIT), Recipe(), 8))
    records = {}
    for n, ident in enumerate(IDS):
        sha = f"{n + 1:x}" * 64
        src = tmp_path / f"{ident}.bin"
        src.write_bytes(ident.encode() * 10)
        location = reg.store.put_artifact(
            adapter_artifact_key(ident, sha), {"model.safetensors": src, "config.json": src}
        )
        rec = AdapterRecord(ident, "v2", "v1", "backward", "affine", location, sha)
        records[ident] = reg.add_adapter(rec)
    return records


def _edit_location(reg: Registry, ident: str, location: str) -> None:
    """Edit one record's location by hand (a raw rewrite of the document, as a user would)."""

    def edit(raw: bytes) -> bytes:
        data = json.loads(raw)
        data["adapters"][ident]["location"] = location
        return json.dumps(data, indent=2).encode()

    reg.store.update(edit)


def _files(reg: Registry, records: dict[str, AdapterRecord]) -> dict[str, bytes]:
    out = {}
    for ident, rec in records.items():
        folder = reg.store.fetch_artifact(rec.location)
        for f in sorted(folder.iterdir()):
            out[f"{ident}/{f.name}"] = f.read_bytes()
    return out


BAD = [
    ".",
    "./",
    "adapters",
    "adapters/",
    "adapters/a2@2222222222222222",
    "adapters/a1/..",
    "adapters/a1@xyz",
    "/tmp",
    "../../outside",
]


@pytest.mark.parametrize("location", BAD)
def test_rm_of_a_record_pointing_elsewhere_deletes_nothing_else(
    tmp_path: Path, location: str
) -> None:
    reg = Registry.open(tmp_path / "reg")
    records = _stored(reg, tmp_path)
    others = {k: v for k, v in records.items() if k != "a1"}
    before = _files(reg, others)
    _edit_location(reg, "a1", location)
    rec, kept = reg.remove_adapter_record("a1")
    assert rec.id == "a1" and kept is not None
    assert _files(reg, others) == before
    assert sorted(a.id for a in reg.adapters()) == ["a2", "a3"]
    # a1's own folder was not deleted either (its record pointed elsewhere)
    assert (tmp_path / "reg" / "artifacts" / records["a1"].location).is_dir()


def test_two_records_sharing_a_location_keep_it_until_the_last(tmp_path: Path) -> None:
    reg = Registry.open(tmp_path / "reg")
    records = _stored(reg, tmp_path)
    _edit_location(reg, "a1", records["a2"].location)
    before = _files(reg, {"a2": records["a2"]})
    assert reg.remove_adapter_record("a2")[1] is not None  # a1 still points there
    assert _files(reg, {"a2": records["a2"]}) == before
    # a record whose location is its own shape and unshared goes with its files
    assert reg.remove_adapter_record("a3")[1] is None
    assert not (tmp_path / "reg" / "artifacts" / records["a3"].location).exists()


def test_gen_rm_delete_adapter_files_keeps_foreign_locations(tmp_path: Path) -> None:
    reg = Registry.open(tmp_path / "reg")
    records = _stored(reg, tmp_path)
    reg.add_generation(Generation("v3", HubSource("o/m", COMMIT), Recipe(), 8))
    src = tmp_path / "x.bin"
    src.write_bytes(b"x")
    sha = "e" * 64
    reg.store.put_artifact(adapter_artifact_key("b", sha), {"config.json": src})
    reg.add_adapter(
        AdapterRecord("b", "v3", "v1", "backward", "affine", adapter_artifact_key("b", sha), sha)
    )
    _edit_location(reg, "b", "adapters")
    before = _files(reg, records)
    removal = reg.remove_generation("v3", force=True, delete_adapter_files=True)
    assert removal.adapters == ["b"] and removal.kept_files == ["adapters"]
    assert _files(reg, records) == before


def test_adapter_rm_on_a_hub_registry_deletes_only_its_own(hub, tmp_path: Path) -> None:
    url = f"hf://{hub.repo_name('rm-shared')}"
    reg = Registry.open(url)
    records = _stored(reg, tmp_path)
    repo_id = url.removeprefix("hf://")
    _edit_location(reg, "a1", "adapters")
    files_before = {p for p in hub.head(repo_id).files if p.startswith("artifacts/")}
    _, kept = reg.remove_adapter_record("a1")
    assert kept is not None
    after = {p for p in hub.head(repo_id).files if p.startswith("artifacts/")}
    assert after == files_before
    assert _files(Registry.open(url), {k: records[k] for k in ("a2", "a3")})


def test_cli_adapter_rm_says_the_files_were_kept(tmp_path: Path, cli) -> None:
    reg = Registry.open(tmp_path / "reg")
    records = _stored(reg, tmp_path)
    before = _files(reg, records)
    _edit_location(reg, "a1", "adapters/")
    result = cli("adapter", "rm", "a1", "--registry", str(tmp_path / "reg"))
    assert result.returncode == 0, result.stderr
    assert "nothing there was deleted" in result.stderr
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1
    assert _files(reg, {k: records[k] for k in ("a2", "a3")}) == {
        k: v for k, v in before.items() if not k.startswith("a1/")
    }
