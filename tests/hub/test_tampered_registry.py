"""Issue 26 #9: a Hub registry repo holding a file whose path leaves its folder (a raw commit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from embedreg import Registry
from embedreg.adapters import load_registered_adapter
from embedreg.hub import push_registry

from hub.helpers import ADAPTER, small_registry


def _raw_commit(hub: Any, repo_id: str, path: str) -> None:
    """Add a file by a commit no client would make (the server takes any path)."""
    repo = hub.repo(repo_id)
    head = hub.head(repo_id)
    commit = repo.commit({**head.files, path: b"evil"}, head.oid, "raw", "", "alice")
    repo.branches["main"] = commit.oid


@pytest.mark.parametrize("where", ["inside", "beside"])
def test_a_dotdot_path_in_a_hub_registry(hub: Any, tmp_path: Path, cli: Any, where: str) -> None:
    local = small_registry(tmp_path / "reg")
    url = f"hf://{hub.repo_name('dotdot')}"
    push_registry(local, url)
    key = local.adapter(ADAPTER).location
    path = f"artifacts/{key}/../../evil" if where == "inside" else "artifacts/../../evil"
    _raw_commit(hub, url.removeprefix("hf://"), path)
    # the adapter's own files still load (verified by their sha256); the stray path is never read
    loaded = load_registered_adapter(Registry.open(url), ADAPTER)
    assert loaded.sha256 == local.adapter(ADAPTER).sha256
    result = cli("--registry", str(tmp_path / "copy"), "pull", url)
    assert "internal error" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert [a.id for a in Registry.open(tmp_path / "copy").adapters()] == [ADAPTER]
    assert not (tmp_path / "evil").exists() and not (tmp_path / "copy" / "evil").exists()
