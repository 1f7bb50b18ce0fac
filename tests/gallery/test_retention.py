"""Retained versions: a manifest kept under .retained/ keeps its files through later saves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from embedreg import Generation, HubSource, Recipe
from embedreg.gallery import Gallery, retention, storage


def test_retained_files_survive_saves_until_released(tmp_path: Path) -> None:
    v1 = Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 4)
    g = Gallery.create(v1)
    g.add(np.eye(4, dtype=np.float32), ["a", "b", "c", "d"], generation=v1)
    folder = g.save(tmp_path / "g")
    first = storage.read_manifest(folder)
    files = {first["items_file"], first["segments"]["v1"]["index_file"]}
    retention.retain(folder, "previous", first)
    assert retention.retained(folder, "previous") == first
    assert retention.retained_files(folder) == files
    with Gallery.edit(folder) as edit:
        edit.remove(["a"])
    assert files <= {p.name for p in folder.iterdir()}  # still there for a rollback
    storage.write_manifest(folder, first)  # what a rollback does
    assert Gallery.load(folder).ids() == ["a", "b", "c", "d"]
    with Gallery.edit(folder) as edit:
        edit.remove(["b"])
    retention.release(folder, "previous")
    storage.remove_stale(folder, set())
    assert not files & {p.name for p in folder.iterdir()}
    assert retention.retained(folder, "previous") is None
