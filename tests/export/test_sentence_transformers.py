"""The quick start's v2-short → v2 adapter as a sentence-transformers model, end to end.

Exported with the command line, published to the tests' Hub-protocol server, and loaded
back with sentence-transformers alone in a fresh process (offline, no embedreg imported):
its vectors are embedreg's path output, and they find in the v2 gallery what v2-short's
routed search finds.  One export, one publish, one fresh process: the model loads are
the cost of these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.errors import ExportMismatch
from embedreg.export import export_plan, export_sentence_transformers
from embedreg.export.verify import expected_vectors
from embedreg.gallery.operations import search_gallery
from embedreg.routing import PathKind, RoutingPolicy
from huggingface_hub import ModelCard

from conftest import run_cli  # type: ignore[import-not-found]
from hub.helpers import one_line_error

#: What a progress bar (tqdm's or anyone's) leaves in a captured stream.
BAR_MARKS = ("\r", "%|", "it/s]", "█")

#: Loads models with sentence-transformers alone and encodes the texts; run in a fresh
#: interpreter, it reports which embedreg modules it imported (none, we check).
LOADER = """
import json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
texts, loads, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
vectors = {}
for key, (name, kwargs) in loads.items():
    vectors[key] = SentenceTransformer(name, device="cpu", **kwargs).encode(texts)
np.savez(out, **vectors)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("embedreg", "embedreg_cli"))))
"""


def no_bars(stream: str) -> bool:
    return not any(mark in stream for mark in BAR_MARKS)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def world(short_pair: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("st-export")
    return {"root": root, "registry": short_pair.copy(root / "registry"), "pair": short_pair}


@pytest.fixture(scope="module")
def exported(world: dict[str, Any]) -> dict[str, Any]:
    """``embedreg export sentence-transformers ADAPTER -o DIR --json`` (bars asked for: none come)."""
    out = world["root"] / "st-v2-short"
    result = run_cli(
        "--registry", str(world["registry"]), "export", "sentence-transformers",
        world["pair"].adapter, "-o", str(out), "--json",
        env={"HF_HUB_DISABLE_PROGRESS_BARS": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {"folder": out, "json": json.loads(result.stdout), "stderr": result.stderr}


@pytest.fixture(scope="module")
def published(world: dict[str, Any], hub_server: Any) -> dict[str, Any]:
    """``embedreg adapter publish ID --repo R --as sentence-transformers --json``."""
    from hub.hubserver import unique_repo

    repo = unique_repo("alice", "v2-short-st")
    result = run_cli(
        "--registry", str(world["registry"]), "adapter", "publish", world["pair"].adapter,
        "--repo", repo, "--as", "sentence-transformers", "--revision-tag", "v1", "--json",
        env={"HF_HUB_DISABLE_PROGRESS_BARS": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {"repo": repo, "json": json.loads(result.stdout), "stderr": result.stderr}


@pytest.fixture(scope="module")
def loaded(
    world: dict[str, Any], exported: dict[str, Any], published: dict[str, Any]
) -> dict[str, Any]:
    """The folder and the Hub repo loaded by sentence-transformers alone, in fresh processes.

    Online first (the repo at its commit, which caches it), then offline: the folder,
    and the repo at its commit from the cache.
    """
    texts = list(world["pair"].queries)
    repo, commit = published["repo"], published["json"]["commit"]
    out: dict[str, Any] = {}
    for mode, loads in (
        ("online", {"hub": [repo, {"revision": commit}]}),
        (
            "offline",
            {"folder": [str(exported["folder"]), {}], "cached": [repo, {"revision": commit}]},
        ),
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBEDREG")}
        if mode == "offline":
            env["HF_HUB_OFFLINE"] = "1"
        path = world["root"] / f"{mode}.npz"
        done = subprocess.run(
            [sys.executable, "-c", LOADER, json.dumps(texts), json.dumps(loads), str(path)],
            capture_output=True, text=True, env=env, cwd=world["root"], timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        out[f"{mode}-imported"] = json.loads(done.stdout.strip().splitlines()[-1])
        out.update(dict(np.load(path)))
    return out


def test_the_export_is_pure_json_and_verified(
    world: dict[str, Any], exported: dict[str, Any]
) -> None:
    report = exported["json"]
    assert (report["source"], report["target"], report["role"]) == ("v2-short", "v2", "query")
    assert report["adapters"] == [world["pair"].adapter]
    assert report["verification"]["passed"] is True
    assert report["verification"]["min_cosine"] >= 0.9999
    assert no_bars(exported["stderr"]), exported["stderr"]
    folder = exported["folder"]
    for name in ("modules.json", "config_sentence_transformers.json", "README.md"):
        assert (folder / name).is_file()
    modules = json.loads((folder / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[1] for m in modules]
    assert kinds == ["Transformer", "Pooling", "Normalize", "Dense", "Normalize"]
    dense = next(m["path"] for m in modules if m["type"].endswith("Dense"))
    assert (folder / dense / "model.safetensors").is_file()  # weights in safetensors
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    st_config = json.loads((folder / "sentence_bert_config.json").read_text())
    assert st_config  # the transformer module's own config
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 32
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # no staging left behind


def test_the_card_names_both_generations_pins_and_figures(
    world: dict[str, Any], exported: dict[str, Any]
) -> None:
    card = ModelCard.load(exported["folder"] / "README.md")
    assert card.data.library_name == "sentence-transformers"
    assert {"sentence-transformers", "embedreg", "affine"} <= set(card.data.tags)
    section = card.data.embedreg
    reg = Registry.open(world["registry"])
    assert section["source"]["generation"] == "v2-short" and section["target"]["generation"] == "v2"
    assert section["source"]["pin"] == reg.generation("v2-short").pin
    assert section["source"]["recipe"]["max_tokens"] == 32
    record = reg.adapter(world["pair"].adapter)
    (hop,) = section["path"]["hops"]
    assert hop["adapter"] == record.id and hop["sha256"] == record.sha256
    assert hop["retention"] == pytest.approx(record.figures.retention)
    assert card.data.eval_results  # the held-out figures as model-index results
    text = str(card)
    assert f"{record.figures.cmc_at_1:.4f}" in text and "Verified before it was written" in text
    assert section["files"]["3_Dense/model.safetensors"]


def test_sentence_transformers_alone_gives_embedreg_path_vectors(
    world: dict[str, Any], loaded: dict[str, Any]
) -> None:
    """A fresh process, offline, without embedreg: the same vectors as embedreg's path."""
    assert loaded["offline-imported"] == [] and loaded["online-imported"] == []
    reg = Registry.open(world["registry"])
    plan = export_plan(reg, world["pair"].adapter)
    want = expected_vectors(plan, world["pair"].queries)
    for key in ("folder", "hub", "cached"):
        assert loaded[key].shape == want.shape
        assert cosines(loaded[key], want).min() >= 0.9999, key


def test_its_vectors_find_what_the_routed_search_finds(
    world: dict[str, Any], loaded: dict[str, Any]
) -> None:
    reg = Registry.open(world["registry"])
    gallery, queries = world["pair"].gallery, list(world["pair"].queries)
    maps = RoutingPolicy(kinds=frozenset({PathKind.MAP}))  # what the exported model reproduces
    routed = search_gallery(
        reg, gallery, queries, generation="v2-short", k=5, device="cpu", policy=maps
    )
    direct = search_gallery(reg, gallery, loaded["folder"], generation="v2", k=5, device="cpu")
    assert direct.ids == routed.ids
    np.testing.assert_allclose(direct.scores, routed.scores, atol=1e-4)


def test_published_model_card_and_json(world: dict[str, Any], published: dict[str, Any]) -> None:
    from huggingface_hub import HfApi

    report, repo = published["json"], published["repo"]
    assert report["repo_id"] == repo and report["tag"] == "v1" and len(report["commit"]) == 40
    assert report["verification"]["passed"] is True
    assert no_bars(published["stderr"]), published["stderr"]
    api = HfApi()
    commits = api.list_repo_commits(repo)
    ours = [c for c in commits if c.title.startswith("embedreg: export")]
    assert [c.commit_id for c in ours] == [report["commit"]]  # everything in one commit
    files = set(api.list_repo_files(repo, revision=report["commit"]))
    assert {"README.md", "modules.json", "3_Dense/model.safetensors", "model.safetensors"} <= files
    card = ModelCard.load(repo)
    assert card.data.library_name == "sentence-transformers"
    assert card.data.embedreg["source"]["generation"] == "v2-short"
    assert card.data.embedreg["target"]["generation"] == "v2"
    assert card.data.embedreg["path"]["hops"][0]["retention"] > 0
    assert f'SentenceTransformer("{repo}"' in str(card)
    other = run_cli(
        "--registry", str(world["registry"]), "export", "sentence-transformers", "v2:v2",
        "--repo", repo,
    )  # fmt: skip
    assert f"Hub repo {repo} holds an export of v2-short → v2" in one_line_error(other)


def test_a_failed_verification_writes_nothing(world: dict[str, Any]) -> None:
    reg = Registry.open(world["registry"])
    out = world["root"] / "refused"
    with pytest.raises(ExportMismatch, match="nothing was written"):
        export_sentence_transformers(reg, world["pair"].adapter, out, threshold=1.5)
    assert not out.exists() and not list(out.parent.glob(".refused.*"))


def test_force_replaces_an_earlier_export_only(
    world: dict[str, Any], exported: dict[str, Any], cli
) -> None:
    earlier = world["root"] / "earlier"
    shutil.copytree(exported["folder"], earlier)
    refused = cli(
        "--registry", str(world["registry"]), "export", "sentence-transformers",
        world["pair"].adapter, "-o", str(earlier),
    )  # fmt: skip
    assert "holds an earlier export" in one_line_error(refused)
    reg = Registry.open(world["registry"])
    result = export_sentence_transformers(reg, "v2-short:v2", earlier, force=True)
    assert result.plan.adapter_id is None and result.plan.path.adapter_ids
    assert ModelCard.load(earlier / "README.md").data.embedreg["adapter"] is None
    assert not list(earlier.parent.glob(".earlier.*"))
    assert oct((earlier / "model.safetensors").stat().st_mode & 0o777) != oct(0o600)
