"""Generation records: names, recipes, sources, round trips (no model is loaded)."""

from __future__ import annotations

import pytest
from embedreg.errors import InvalidName, ModelSourceError, ValidationError
from embedreg.registry import Generation, HubSource, Recipe

COMMIT = "0123456789abcdef0123456789abcdef01234567"


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
