"""Whole registries pushed to and pulled from the Hub, and searched the same way afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from embedreg import Registry
from embedreg.adapters import load_registered_adapter
from embedreg.errors import AdapterIntegrityError, ConflictError, ReadOnlyRegistry
from embedreg.gallery.operations import search_gallery
from embedreg.hub import pull_registry, push_registry
from embedreg.routing import PathKind, RoutingPolicy
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard

from hub.helpers import ADAPTER, one_line_error, small_registry


def same_content(a: Registry, b: Registry) -> bool:
    return a.document().to_dict() == b.document().to_dict()


def test_push_then_pull_copies_the_registry_and_its_adapters(hub, tmp_path: Path) -> None:
    reg = small_registry(tmp_path / "reg")
    reg.set_alias("production", "v1")
    url = f"hf://{hub.repo_name('registry')}"
    repo = url.removeprefix("hf://")
    done = push_registry(reg, url)
    head = hub.head(repo)
    assert done.commit == head.oid and done.adapters == [ADAPTER]
    assert len(hub.history(repo)) == 2  # everything in one commit
    location = reg.adapter(ADAPTER).location  # adapters/<id>@<sha prefix>
    assert f"artifacts/{location}/model.safetensors" in head.files
    card = ModelCard.load(repo)
    assert card.data.library_name == "embedreg" and "- v2 → v1" in card.text
    assert f"| {ADAPTER} | v2 → v1 | affine | backward |" in card.text
    # the repo works as a registry in place
    assert same_content(Registry.open(url), reg)
    assert (
        load_registered_adapter(Registry.open(url), ADAPTER).sha256 == reg.adapter(ADAPTER).sha256
    )
    with pytest.raises(ConflictError, match="holds a registry already"):
        push_registry(reg, url)
    with pytest.raises(ReadOnlyRegistry):
        push_registry(reg, f"{url}@{done.commit}")

    copy = Registry.open(tmp_path / "copy")  # not even created yet
    pulled = pull_registry(copy, url)
    assert pulled.commit == head.oid and same_content(copy, reg)
    assert load_registered_adapter(copy, ADAPTER).sha256 == reg.adapter(ADAPTER).sha256
    with pytest.raises(ConflictError, match="is not empty"):
        pull_registry(copy, url)

    # a later state replaces it only when told; the old one stays readable at its commit
    reg.set_alias("production", "v2")
    assert push_registry(reg, url, replace=True).commit == hub.head(repo).oid
    old = Registry.open(tmp_path / "old")
    pull_registry(old, f"{url}@{done.commit}")
    assert old.aliases()["production"] == "v1"


def test_a_tampered_adapter_on_the_hub_is_not_pulled(hub, tmp_path: Path) -> None:
    reg = small_registry(tmp_path / "reg")
    url = f"hf://{hub.repo_name('tampered')}"
    push_registry(reg, url)
    forged = small_registry(tmp_path / "forged", family="procrustes")
    weights = forged.store.fetch_artifact(forged.adapter("v2-to-v1.procrustes").location)
    HfApi().create_commit(
        url.removeprefix("hf://"),
        [
            CommitOperationAdd(
                f"artifacts/{reg.adapter(ADAPTER).location}/model.safetensors",
                weights / "model.safetensors",
            )
        ],
        commit_message="swap",
    )
    with pytest.raises(AdapterIntegrityError, match=r"sha256 of model\.safetensors"):
        pull_registry(Registry.open(tmp_path / "copy"), url)
    assert not (tmp_path / "copy").exists()  # nothing was written


def test_a_pulled_registry_searches_like_the_original(
    hub, tmp_path: Path, short_pair: Any, cli
) -> None:
    """Push, pull into a fresh directory: the same hits, through the pulled adapter."""
    reg = Registry.open(short_pair.copy(tmp_path / "reg"))
    queries = list(short_pair.queries[:3])
    before = search_gallery(
        reg, short_pair.gallery, queries, generation="v2-short", k=5, device="cpu",
        policy=RoutingPolicy(kinds=frozenset({PathKind.MAP})),
    )  # fmt: skip

    url = f"hf://{hub.repo_name('searchable')}"
    assert cli("--registry", str(tmp_path / "reg"), "push", url).returncode == 0
    pulled = cli("--registry", str(tmp_path / "copy"), "pull", url)
    assert pulled.returncode == 0, pulled.stderr
    found = cli(
        "--registry",
        str(tmp_path / "copy"),
        "gallery",
        "search",
        str(short_pair.gallery),
        "--gen",
        "v2-short",
        *queries,
        "-k",
        "5",
        "--device",
        "cpu",
        "--json",
        "--paths",
        "map",
    )  # fmt: skip  (both by the map: compare like with like)
    assert found.returncode == 0, found.stderr
    after = json.loads(found.stdout)
    assert [[hit["id"] for hit in q] for q in after["results"]] == before.ids
    for q, scores in zip(after["results"], before.scores, strict=True):
        assert [hit["score"] for hit in q] == pytest.approx(scores, abs=1e-5)
    assert after["paths"]["v2"]["adapters"] == [short_pair.adapter]


def test_cli_refusals_are_one_line(hub, tmp_path: Path, cli) -> None:
    reg_dir = tmp_path / "reg"
    small_registry(reg_dir)
    url = f"hf://{hub.repo_name('cli')}"
    assert cli("--registry", str(reg_dir), "push", url).returncode == 0
    again = one_line_error(cli("--registry", str(reg_dir), "push", url))
    assert "holds a registry already" in again and "--replace" in again
    into_full = one_line_error(cli("--registry", str(reg_dir), "pull", url))
    assert "is not empty" in into_full
    bad = cli("--registry", str(reg_dir), "pull", "hf://no-slash")
    assert "is not a Hub registry URL" in one_line_error(bad)
