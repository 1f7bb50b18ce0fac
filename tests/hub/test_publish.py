"""Publishing adapters to the Hub and pulling them back: cards, pins, hashes, refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.adapters import load_registered_adapter
from embedreg.errors import (
    AdapterIntegrityError,
    GenerationNotMatched,
    HubConflict,
    HubFileNotFound,
    HubPermissionError,
)
from embedreg.hub import HubAdapter, publish_adapter, pull_adapter
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard
from huggingface_hub import errors as hf

from hub.helpers import ADAPTER, one_line_error, small_registry


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return small_registry(tmp_path / "reg")


def other_registry(
    root: Path, *, v2_tokens: int = 128, names: tuple[str, str] = ("a1", "a2")
) -> Registry:
    """Both generations with the publisher's pins (and here other names)."""
    other = Registry.open(root)
    other.init()
    other.add_generation(Generation(names[0], HubSource("org/one", "1" * 40), Recipe(), 16))
    other.add_generation(
        Generation(names[1], HubSource("org/two", "2" * 40), Recipe(max_tokens=v2_tokens), 24)
    )
    return other


def test_publish_writes_one_commit_with_a_card_that_parses(hub, reg: Registry) -> None:
    repo = hub.repo_name("v2-to-v1")
    pub = publish_adapter(reg, ADAPTER, repo, tag="v1")
    record = reg.adapter(ADAPTER)
    assert record.published == pub and pub.tag == "v1"
    head = hub.head(repo)
    assert pub.commit == head.oid and hub.repo(repo).tags == {"v1": head.oid}
    assert set(head.files) == {".gitattributes", "README.md", "config.json", "model.safetensors"}
    assert len(hub.history(repo)) == 2  # the repo's first commit, then the three files at once
    assert hashlib.sha256(head.files["model.safetensors"]).hexdigest() == record.sha256

    card = ModelCard.load(repo)
    data = card.data
    assert data.library_name == "embedreg"
    assert data.base_model == "org/two" and data.base_model_relation == "adapter"
    assert {"embedreg", "embedding-adapter", "affine"} <= set(data.tags)
    facts = data.embedreg
    assert facts["source"]["pin"] == "org/two@" + "2" * 40
    assert facts["target"]["pin"] == "org/one@" + "1" * 40
    assert facts["source"]["recipe"]["max_tokens"] == 128
    assert facts["training_data"]["sha256"] == record.provenance.training_data.sha256
    assert facts["files"]["model.safetensors"] == record.sha256
    for pin in (facts["source"]["pin"], facts["target"]["pin"]):
        assert pin in card.text
    metrics = {r.metric_type: r.metric_value for r in data.eval_results}
    assert metrics["retention"] == pytest.approx(record.figures.retention)
    assert metrics["cmc@1"] == pytest.approx(record.figures.cmc_at_1)
    assert f"| retention | {record.figures.retention:.4f} |" in card.text
    assert "read_safetensors" in card.text  # the numpy-only snippet


def test_pull_verifies_matches_generations_and_registers(
    hub, reg: Registry, tmp_path: Path
) -> None:
    repo = hub.repo_name("v2-to-v1")
    pub = publish_adapter(reg, ADAPTER, repo)
    other = other_registry(tmp_path / "other")
    result = pull_adapter(other, repo)
    rec = result.record
    assert (rec.id, rec.source, rec.target) == (ADAPTER, "a2", "a1")  # matched by pin and recipe
    assert rec.sha256 == reg.adapter(ADAPTER).sha256 and result.commit == pub.commit
    assert rec.published is not None and rec.published.commit == pub.commit
    x = np.random.default_rng(0).standard_normal((4, 24)).astype(np.float32)
    mine = load_registered_adapter(reg, ADAPTER).adapter.transform(x)
    np.testing.assert_array_equal(
        load_registered_adapter(other, ADAPTER).adapter.transform(x), mine
    )
    assert pull_adapter(other, f"{repo}@{pub.commit}").already
    assert [a.id for a in other.adapters()] == [ADAPTER]


def test_pull_names_what_differs(hub, reg: Registry, tmp_path: Path) -> None:
    repo = hub.repo_name("v2-to-v1")
    publish_adapter(reg, ADAPTER, repo)
    differs = other_registry(tmp_path / "differs", v2_tokens=512, names=("v1", "v2"))
    with pytest.raises(GenerationNotMatched, match="max_tokens 512 here, 128 in the adapter"):
        pull_adapter(differs, repo)
    missing = Registry.open(tmp_path / "missing")
    missing.init()
    with pytest.raises(GenerationNotMatched) as exc:
        pull_adapter(missing, repo)
    assert "embedreg gen add v2 org/two --revision " + "2" * 40 in str(exc.value)
    assert "--max-tokens 128" in str(exc.value)
    assert differs.adapters() == [] and missing.adapters() == []


def test_replaced_weights_on_the_hub_are_refused_in_one_line(
    hub, reg: Registry, tmp_path: Path, cli
) -> None:
    repo = hub.repo_name("v2-to-v1")
    publish_adapter(reg, ADAPTER, repo)
    # someone replaces model.safetensors (with a valid adapter file: another one's weights)
    forged = small_registry(tmp_path / "forger", family="procrustes")
    other_weights = forged.store.fetch_artifact(forged.adapter("v2-to-v1.procrustes").location)
    HfApi().create_commit(
        repo,
        [CommitOperationAdd("model.safetensors", other_weights / "model.safetensors")],
        commit_message="replace the weights",
    )
    other = other_registry(tmp_path / "other")
    result = cli("--registry", str(tmp_path / "other"), "adapter", "pull", repo)
    line = one_line_error(result)
    assert "sha256 of model.safetensors is" in line and "the card records" in line and repo in line
    assert other.adapters() == [] and not (tmp_path / "other" / "artifacts").exists()
    with pytest.raises(AdapterIntegrityError):
        HubAdapter.from_pretrained(repo)


def test_hub_adapter_is_a_model_hub_mixin(hub, reg: Registry, tmp_path: Path) -> None:
    from huggingface_hub import ModelHubMixin

    repo = hub.repo_name("mixin")
    local = HubAdapter.from_registry(reg, ADAPTER)
    assert isinstance(local, ModelHubMixin)
    commit = local.push_to_hub(repo)
    assert commit == hub.head(repo).oid
    pulled = HubAdapter.from_pretrained(repo, revision=commit)
    assert pulled.commit == commit and pulled.repo_id == repo and pulled.sha256 == local.sha256
    x = np.ones((2, 24), dtype=np.float32)
    np.testing.assert_array_equal(pulled.transform(x), local.transform(x))
    folder = local.save_to(tmp_path / "folder", repo)
    assert HubAdapter.from_pretrained(str(folder)).sha256 == local.sha256
    assert HubAdapter.from_pretrained(repo).commit == commit  # main's head, resolved


def test_refusals_name_the_repo(hub, reg: Registry) -> None:
    repo = hub.repo_name("refusals")
    publish_adapter(reg, ADAPTER, repo, tag="v1")
    with pytest.raises(HubConflict, match="has a tag 'v1' already"):
        publish_adapter(reg, ADAPTER, repo, tag="v1")
    with pytest.raises(HubPermissionError, match=r"may not publish to Hub repo bob/"):
        publish_adapter(reg, ADAPTER, hub.repo_name("stolen", owner="bob"))
    secret = hub.repo_name("secret")
    publish_adapter(reg, ADAPTER, secret, private=True)
    assert hub.repo(secret).private
    with pytest.raises(hf.RepositoryNotFoundError):
        HfApi(token=False).model_info(secret)  # anonymous readers do not see it
    plain = hub.repo_name("plain")
    HfApi().create_repo(plain)
    with pytest.raises(HubFileNotFound, match=f"{plain} has no file 'README.md'"):
        HubAdapter.from_pretrained(plain)
    # a repo with files of the same names that embedreg did not write: only when told
    HfApi().upload_file(
        path_or_fileobj=b"# Someone's model\n", path_in_repo="README.md", repo_id=plain
    )
    with pytest.raises(HubConflict, match="holds files embedreg did not write"):
        publish_adapter(reg, ADAPTER, plain)
    assert hub.head(plain).files["README.md"] == b"# Someone's model\n"
    publish_adapter(reg, ADAPTER, plain, replace=True)
    publish_adapter(reg, ADAPTER, plain)  # its own card now: a new version is fine
    assert ModelCard.load(plain).data.embedreg["adapter"] == ADAPTER
