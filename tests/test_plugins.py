from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from embedreg import plugins
from embedreg.constants import STORES_GROUP
from embedreg.errors import PluginError
from embedreg.registry.stores import LocalStore, open_store


def test_builtin_store_registered_by_entry_point() -> None:
    assert "file" in plugins.available(STORES_GROUP)
    assert plugins.load(STORES_GROUP, "file", kind="store") is LocalStore


def test_unknown_scheme() -> None:
    with pytest.raises(PluginError, match=r"no store plugin named .nope.*embedreg\.stores"):
        open_store("nope://bucket/prefix")


def test_third_party_store_found_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package installed beside embedreg adds a URL scheme without touching embedreg."""
    (tmp_path / "memstore.py").write_text(
        textwrap.dedent(
            """
            from embedreg.registry.stores.local import LocalStore

            class MemStore(LocalStore):
                scheme = "mem"

                @classmethod
                def from_url(cls, url):
                    return cls(url.split("://", 1)[1])
            """
        )
    )
    dist = tmp_path / "memstore-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memstore\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[embedreg.stores]\nmem = memstore:MemStore\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    try:
        store = open_store(f"mem://{tmp_path / 'reg'}")
        assert type(store).__name__ == "MemStore"
        assert store.create(b"{}")
    finally:
        monkeypatch.undo()
        sys.modules.pop("memstore", None)
        plugins.refresh()
    assert "mem" not in plugins.available(STORES_GROUP)
