"""Issue 26 #7, #11, #14: registry documents are validated as graphs before use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.errors import CorruptedRegistry, ValidationError


def _registry(tmp_path: Path) -> Registry:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    reg.add_generation(Generation("v2", HubSource("o/m", "0" * 40), Recipe(), 8))
    reg.add_generation(Generation("v2-short", HubSource("o/m", "1" * 40), Recipe(), 8, parent="v2"))
    return reg


def _edit(reg: Registry, change: Any) -> bytes:
    path = Path(reg.location)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path.read_bytes()


def test_a_parent_cycle_is_refused_by_every_command(tmp_path: Path, cli: Any) -> None:
    reg = _registry(tmp_path)
    raw = _edit(reg, lambda d: d["generations"]["v2"].update(parent="v2-short"))
    with pytest.raises(CorruptedRegistry, match="parent cycle: v2 → v2-short → v2"):
        reg.lineage("v2")
    for args in (("gen", "show", "v2"), ("gen", "list"), ("alias", "set", "prod", "v2")):
        result = cli(*args, "--registry", str(tmp_path / "reg"))  # bounded by the run's timeout
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert "parent cycle" in lines[0] and "internal error" not in lines[0]
    assert Path(reg.location).read_bytes() == raw  # never written back


def test_a_self_parent_is_a_cycle(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    _edit(reg, lambda d: d["generations"]["v2"].update(parent="v2"))
    with pytest.raises(CorruptedRegistry, match="its own parent"):
        reg.document()


def test_deep_nesting_and_duplicate_keys_are_corruption(tmp_path: Path, cli: Any) -> None:
    reg = _registry(tmp_path)
    path = Path(reg.location)
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(CorruptedRegistry, match="nested too deeply"):
        reg.document()
    result = cli("gen", "list", "--registry", str(tmp_path / "reg"))
    assert result.returncode == 1 and "nested too deeply" in result.stderr
    assert "internal error" not in result.stderr
    good = _registry(tmp_path / "dup")
    raw = Path(good.location).read_text()
    doubled = raw.replace('"aliases": {', '"aliases": {"prod": "v2", "prod": "v2-short", ', 1)
    Path(good.location).write_text(doubled)
    with pytest.raises(CorruptedRegistry, match="'prod' appears twice"):
        good.document()


def test_dimensions_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="between 1 and"):
        Generation("v9", HubSource("o/m", "0" * 40), Recipe(), 10**12)
    reg = _registry(tmp_path)
    _edit(reg, lambda d: d["generations"]["v2"].update(dimension=10**12))
    with pytest.raises(CorruptedRegistry, match="between 1 and"):
        reg.document()


def test_a_registry_file_that_is_a_pipe_is_refused(tmp_path: Path) -> None:
    import os

    reg = _registry(tmp_path)
    Path(reg.location).unlink()
    os.mkfifo(reg.location)
    with pytest.raises(CorruptedRegistry, match="not a regular file"):
        reg.document()  # reading would wait for a writer forever


def test_a_deeply_nested_gallery_manifest_is_corruption(tmp_path: Path) -> None:
    from embedreg.errors import GalleryError
    from embedreg.gallery import storage

    (tmp_path / "gallery.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(GalleryError, match="nested too deeply"):
        storage.read_manifest(tmp_path)
