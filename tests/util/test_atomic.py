from __future__ import annotations

import os
from pathlib import Path

import pytest
from embedreg.util.atomic import atomic_copy_tree, atomic_write_bytes


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"one")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_copy_tree_rejects_escaping_names(tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"x")
    with pytest.raises(ValueError):
        atomic_copy_tree({"../x": src}, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".dest")] == []
