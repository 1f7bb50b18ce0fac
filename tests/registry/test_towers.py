"""Two-tower records: the image recipe, modalities and towers of a generation."""

from __future__ import annotations

import pytest
from embedreg.errors import ValidationError
from embedreg.registry import TEXT_IMAGE, Generation, HubSource, ImageRecipe, Recipe, Tower

SOURCE = HubSource("org/clip", "0" * 40)
PROCESSOR = {"image_mean": [0.5, 0.5, 0.5], "size": {"height": 16, "width": 16}}


def test_a_two_tower_generation_round_trips_with_its_image_recipe() -> None:
    gen = Generation(
        "clip",
        SOURCE,
        Recipe(pooling="model"),
        512,
        modality=TEXT_IMAGE,
        image_recipe=ImageRecipe(PROCESSOR),
    )
    assert gen.towers == (Tower.TEXT, Tower.IMAGE)
    again = Generation.from_dict(gen.to_dict())
    assert again == gen and again.image_recipe is not None
    assert again.image_recipe.hash == ImageRecipe(dict(PROCESSOR)).hash
    assert (
        ImageRecipe({**PROCESSOR, "size": {"height": 32, "width": 32}}).hash
        != gen.image_recipe.hash
    )  # type: ignore[union-attr]


def test_a_text_generation_is_stored_as_before() -> None:
    gen = Generation("v1", SOURCE, Recipe(), 8)
    assert "image_recipe" not in gen.to_dict()
    assert gen.towers == (Tower.TEXT,)


def test_image_recipe_and_model_pooling_need_the_right_towers() -> None:
    with pytest.raises(ValidationError, match="no image tower"):
        Generation("v1", SOURCE, Recipe(), 8, image_recipe=ImageRecipe(PROCESSOR))
    with pytest.raises(ValidationError, match="pooling 'model'"):
        Generation("v1", SOURCE, Recipe(pooling="model"), 8)
    with pytest.raises(ValidationError, match="normalize"):
        ImageRecipe(PROCESSOR, normalize="yes")  # type: ignore[arg-type]
