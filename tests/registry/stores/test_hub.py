"""The ``hf://`` store: a registry in a Hub repo, read pinned, updated with parent_commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.adapters import load_registered_adapter
from embedreg.errors import (
    HubAuthError,
    HubConflict,
    HubPermissionError,
    HubRepoNotFound,
    HubRevisionNotFound,
    HubUnreachable,
    ReadOnlyRegistry,
    RegistryNotFound,
    UnknownGeneration,
)
from embedreg.registry import HubStore, open_store
from huggingface_hub import CommitOperationAdd, HfApi

from hub.helpers import ADAPTER, small_registry


def gen(name: str, dim: int = 8, parent: str | None = None) -> Generation:
    return Generation(name, HubSource("org/m", "3" * 40), Recipe(), dim, parent=parent)


def test_registry_in_a_hub_repo(hub) -> None:
    url = f"hf://{hub.repo_name('reg')}"
    reg = Registry.open(url)
    assert isinstance(reg.store, HubStore) and reg.location == url
    with pytest.raises(HubRepoNotFound, match="was not found"):
        reg.document()  # not created yet
    assert reg.init() is True and reg.init() is False
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2", parent="v1"))
    reg.set_alias("production", "v1")
    fresh = Registry.open(url)
    assert [g.name for g in fresh.generations()] == ["v1", "v2"]
    assert fresh.aliases() == {"latest": "v2", "production": "v1"}
    # what the Hub holds is exactly a local registry's file, one commit per change
    repo_id = url.removeprefix("hf://")
    head = hub.head(repo_id)
    assert fresh.store.commit == head.oid
    assert json.loads(head.files["registry.json"])["aliases"]["production"] == "v1"
    titles = [c.title for c in hub.history(repo_id)]
    assert titles[:4] == ["embedreg: update the registry"] * 3 + ["embedreg: create the registry"]
    # a change that fails writes nothing
    with pytest.raises(UnknownGeneration):
        reg.set_alias("x", "v9")
    assert hub.head(repo_id).oid == head.oid


def test_an_old_revision_reads_and_refuses_writes(hub) -> None:
    url = f"hf://{hub.repo_name('old')}"
    reg = Registry.open(url)
    reg.init()
    reg.add_generation(gen("v1"))
    then = reg.store.commit
    assert then is not None
    reg.add_generation(gen("v2"))
    old = Registry.open(f"{url}@{then}")
    assert [g.name for g in old.generations()] == ["v1"] and old.store.commit == then
    with pytest.raises(ReadOnlyRegistry, match=r"drop the @revision"):
        old.set_alias("prod", "v1")
    HfApi().create_tag(url.removeprefix("hf://"), tag="before-v2", revision=then)
    assert [g.name for g in Registry.open(f"{url}@before-v2").generations()] == ["v1"]
    with pytest.raises(HubRevisionNotFound, match="no revision 'nope'"):
        Registry.open(f"{url}@nope").document()


def test_artifacts_are_fetched_at_the_commit_that_was_read(hub, tmp_path: Path) -> None:
    local = small_registry(tmp_path / "local")
    url = f"hf://{hub.repo_name('artifacts')}"
    reg = Registry.open(url)
    reg.init()
    for g in local.generations():
        reg.add_generation(g)
    from embedreg.data.synthetic import planted_pairs
    from embedreg.training import train_adapter

    pairs = planted_pairs(400, 24, 16, kind="affine", noise=0.05, seed=1).pairs
    (run,) = train_adapter(reg, "v2", "v1", pairs, family="affine")
    record = reg.adapter(ADAPTER)
    repo_id = url.removeprefix("hf://")
    head = hub.head(repo_id)
    assert f"artifacts/{record.location}/model.safetensors" in head.files
    loaded = load_registered_adapter(Registry.open(url), ADAPTER)
    assert loaded.sha256 == record.sha256 == run.record.sha256
    # removing the adapter removes its files; the old commit still has them
    pinned = Registry.open(f"{url}@{head.oid}")
    reg.remove_adapter(ADAPTER)
    assert not any(p.startswith("artifacts/") for p in hub.head(repo_id).files)
    assert load_registered_adapter(pinned, ADAPTER).sha256 == record.sha256


def test_a_conflicting_writer_is_retried_then_reported(hub) -> None:
    url = f"hf://{hub.repo_name('conflict')}"
    repo_id = url.removeprefix("hf://")
    Registry.open(url).init()
    api = HfApi()
    calls = []

    def interfering_change(raw: bytes) -> bytes:
        calls.append(1)
        if len(calls) <= 2:  # another writer commits while this one works
            api.create_commit(
                repo_id,
                [CommitOperationAdd(f"other-{len(calls)}.txt", b"x")],
                commit_message="other",
            )
        return raw + b"\n"  # a change (the document stays valid JSON)

    store = HubStore(repo_id, pause=0.01)
    store.update(interfering_change)
    assert len(calls) == 3  # refused twice (412), applied again on the fresh state each time
    assert {"other-1.txt", "other-2.txt", "registry.json"} <= set(hub.head(repo_id).files)

    def always_conflicts(raw: bytes) -> bytes:
        calls.append(1)
        noise = CommitOperationAdd("noise.txt", str(len(calls)).encode())
        api.create_commit(repo_id, [noise], commit_message="noise")
        return raw + b" "

    with pytest.raises(HubConflict, match=r"4 commits in a row were refused; other writers") as exc:
        HubStore(repo_id, attempts=4, pause=0.01).update(always_conflicts)
    assert len(str(exc.value).splitlines()) == 1


def test_offline_reads_come_from_the_last_read_and_say_so(
    hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"hf://{hub.repo_name('offline')}"
    reg = Registry.open(url)
    reg.init()
    reg.add_generation(gen("v1"))
    online = Registry.open(url)
    assert online.generation("v1") and online.store.notice is None
    commit = online.store.commit
    assert commit is not None
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = Registry.open(url)
    assert [g.name for g in offline.generations()] == ["v1"]
    assert offline.store.commit == commit
    assert f"cached state of {url}: commit {commit[:12]}" in (offline.store.notice or "")
    with pytest.raises(HubUnreachable, match="HF_HUB_OFFLINE is set: cannot write"):
        offline.set_alias("prod", "v1")
    with pytest.raises(HubUnreachable, match="no cached state"):
        Registry.open(f"hf://{hub.repo_name('never-read')}").document()


def test_hub_errors_are_typed_and_name_the_repo(hub, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = hub.repo_name("mine")
    Registry.open(f"hf://{mine}").init()
    with pytest.raises(HubPermissionError, match=r"may not create Hub repo bob/\S+ \(403\)"):
        Registry.open(f"hf://{hub.repo_name('theirs', owner='bob')}").init()
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_known_token")
    with pytest.raises(HubAuthError, match=f"credentials for Hub repo {mine} \\(401\\)"):
        Registry.open(f"hf://{mine}").document()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubUnreachable, match=r"cannot reach the Hub at http://127\.0\.0\.1:9"):
        Registry.open(f"hf://{mine}").document()


def test_an_empty_repo_is_no_registry(hub) -> None:
    repo = hub.repo_name("empty")
    HfApi().create_repo(repo)
    with pytest.raises(RegistryNotFound, match=f"no registry at hf://{repo}"):
        Registry.open(f"hf://{repo}").document()
    assert open_store(f"hf://{repo}@v1").read_only


def test_eight_writers_at_once_lose_nothing(hub, tmp_path: Path) -> None:
    """8 processes add a generation each to one hf:// registry: all 8 land, no commit lost."""
    url = f"hf://{hub.repo_name('writers')}"
    Registry.open(url).init()
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 8}')
    (model / "model.safetensors").write_bytes(b"not really weights")
    exe = Path(sys.executable).with_name("embedreg")
    procs = [
        subprocess.Popen(
            [str(exe), "--registry", url, "gen", "add", f"g{i}", str(model), "--no-fingerprint"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    conflicts = [path for status, path in hub.state.refused if status == 412 and url[5:] in path]
    print(f"{len(conflicts)} commit(s) refused with 412 and retried")
    assert [p.returncode for p in procs] == [0] * 8, outs
    reg = Registry.open(url)
    assert sorted(g.name for g in reg.generations()) == [f"g{i}" for i in range(8)]
    history = hub.history(url.removeprefix("hf://"))
    updates = [c for c in history if c.title == "embedreg: update the registry"]
    assert len(updates) == 8  # one commit per writer, each on top of the one before
    assert all(c.parent == history[i + 1].oid for i, c in enumerate(history[:-1]))


def test_the_card_follows_every_change(hub) -> None:
    """README.md is rendered from the document in every commit that changes it."""
    from huggingface_hub import ModelCard

    url = f"hf://{hub.repo_name('carded')}"
    repo_id = url.removeprefix("hf://")
    reg = Registry.open(url)
    reg.init()
    assert "README.md" in hub.head(repo_id).files
    reg.add_generation(gen("v1"))
    reg.add_generation(gen("v2", parent="v1"))
    reg.set_alias("production", "v1")
    card = ModelCard.load(repo_id)
    assert card.data.library_name == "embedreg"
    text = str(card)
    assert "- v2 → v1" in text and "`production` → v1" in text
    reg.remove_alias("production")
    assert "`production`" not in hub.head(repo_id).files["README.md"].decode()
    for commit in hub.history(repo_id):  # at every commit, the card shows that commit's registry
        if "registry.json" not in commit.files:
            continue
        doc = json.loads(commit.files["registry.json"])
        readme = commit.files["README.md"].decode()
        assert all(f"| {name} |" in readme for name in doc["generations"]), commit.title
        assert all(f"`{alias}` → " in readme for alias in doc["aliases"]), commit.title


def test_init_private_makes_a_private_repo(hub, tmp_path: Path) -> None:
    from embedreg.errors import ConflictError, ValidationError

    url = f"hf://{hub.repo_name('private')}"
    assert Registry.open(url).init(private=True) is True
    assert hub.repo(url.removeprefix("hf://")).private is True
    assert Registry.open(url).init(private=True) is False  # exists: harmless
    public = f"hf://{hub.repo_name('public')}"
    Registry.open(public).init()
    with pytest.raises(ConflictError, match="exists and is public"):
        Registry.open(public).init(private=True)
    with pytest.raises(ValidationError, match="cannot be made private"):
        Registry.open(tmp_path / "local").init(private=True)
    assert not (tmp_path / "local").exists()


def test_adapter_files_are_fetched_offline_from_the_cache(
    hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read once online, an adapter of an hf:// registry loads offline, still sha256-checked."""
    url = f"hf://{hub.repo_name('offline-artifacts')}"
    from embedreg.hub import push_registry

    local = small_registry(tmp_path / "local")
    push_registry(local, url)
    sha = local.adapter(ADAPTER).sha256
    assert load_registered_adapter(Registry.open(url), ADAPTER).sha256 == sha  # online: cached
    never = f"hf://{hub.repo_name('offline-never')}"
    push_registry(local, never)
    Registry.open(never).document()  # the document is cached, the adapter's files are not
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = Registry.open(url)
    assert load_registered_adapter(offline, ADAPTER).sha256 == sha
    assert "cached state" in (offline.store.notice or "")
    with pytest.raises(
        HubUnreachable, match=r"HF_HUB_OFFLINE is set and .* not in the local cache"
    ):
        load_registered_adapter(Registry.open(never), ADAPTER)
