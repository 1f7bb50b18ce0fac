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


def test_a_hub_registry_whose_generation_contradicts_its_adapter(
    hub: Any, tmp_path: Path, cli: Any
) -> None:
    """#5 for whole registries: an adapter whose files map 24 → 16 under a generation said 17-d."""
    import json

    local = small_registry(tmp_path / "reg")
    url = f"hf://{hub.repo_name('dims')}"
    push_registry(local, url)
    repo_id = url.removeprefix("hf://")
    head = hub.head(repo_id)
    data = json.loads(head.files["registry.json"])
    data["generations"]["v1"]["dimension"] = 17
    repo = hub.repo(repo_id)
    files = {**head.files, "registry.json": json.dumps(data).encode()}
    repo.branches["main"] = repo.commit(files, head.oid, "raw", "", "alice").oid
    from embedreg.errors import AdapterIntegrityError

    with pytest.raises(AdapterIntegrityError, match="map 24 → 16 dimensions"):
        load_registered_adapter(Registry.open(url), ADAPTER)
    result = cli("--registry", str(tmp_path / "copy"), "pull", url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "24 → 16" in lines[0], result.stderr
    assert not (tmp_path / "copy" / "registry.json").exists()
