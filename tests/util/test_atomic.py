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


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path) -> None:
    """Issue 14 #10: the next write cleans what killed writers left; a live writer's stays."""
    import os
    import subprocess
    import sys

    from embedreg.registry import LocalStore
    from embedreg.util.atomic import remove_stale_temps

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)  # that process has exited
    store = LocalStore(tmp_path / "reg")
    assert store.create(b"{}")
    stale = tmp_path / "reg" / f".registry.json.{dead_pid}.abc123.tmp"
    stale.write_bytes(b"half")
    live = tmp_path / "reg" / f".registry.json.{os.getpid()}.xyz789.tmp"
    live.write_bytes(b"being written")
    other = tmp_path / "reg" / "notes.tmp"
    other.write_bytes(b"not ours")
    store.update(lambda raw: raw + b" ")
    assert not stale.exists() and live.exists() and other.exists()
    staging = tmp_path / "reg" / "artifacts" / "adapters" / f".a@1.{dead_pid}.k_9.tmp"
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"partial")
    src = tmp_path / "w"
    src.write_bytes(b"w")
    store.put_artifact("adapters/b@2", {"model.safetensors": src})
    assert not staging.exists()
    aside = tmp_path / f".x.old-{dead_pid}"
    aside.mkdir()
    assert [p.name for p in remove_stale_temps(tmp_path)] == [aside.name]
