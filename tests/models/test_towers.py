"""Two-tower models of the test bed: pinned from their folders, encoded by both towers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from embedreg.data.images import open_image, read_images
from embedreg.errors import ModelLoadError, ModelSourceError
from embedreg.models import Encoder, pin_model
from embedreg.registry import TEXT_IMAGE, ImageRecipe

import testbed
import testbed_images

TEXTS = ["a handwritten digit seven", "the stock market fell sharply today"]


@pytest.fixture(scope="module")
def old_encoder(vlm_old_dir: Path) -> Encoder:
    gen = pin_model("old", vlm_old_dir, **testbed_images.VLM_RECIPE, fingerprint=False)
    return Encoder(gen, device="cpu")


def test_a_two_tower_folder_is_pinned_with_both_recipes(vlm_old_dir: Path) -> None:
    gen = pin_model("clip", vlm_old_dir, fingerprint=False)  # nothing loads: config says 384
    assert gen.modality == TEXT_IMAGE and gen.dimension == 384
    assert gen.recipe.pooling == "model"  # the model's own text features unless told
    assert gen.image_recipe is not None
    assert gen.image_recipe.processor["size"] == {"height": 16, "width": 16}
    assert gen.image_recipe.processor["image_mean"] == [0.5, 0.5, 0.5]
    with pytest.raises(ModelSourceError, match="two-tower"):
        pin_model("clip", vlm_old_dir, modality="text", fingerprint=False)


def test_the_text_tower_gives_its_text_generation_s_vectors(
    old_encoder: Encoder, v1_dir: Path
) -> None:
    v1 = Encoder(pin_model("v1", v1_dir, **testbed.V1_RECIPE, fingerprint=False), device="cpu")
    np.testing.assert_allclose(old_encoder.encode(TEXTS), v1.encode(TEXTS), atol=1e-5)


def test_model_pooling_is_the_model_s_own_text_features(
    old_encoder: Encoder, vlm_old_dir: Path
) -> None:
    import torch

    gen = pin_model("own", vlm_old_dir, fingerprint=False)
    enc = Encoder(gen, device="cpu", folder=old_encoder.folder)
    model = old_encoder._model
    batch = old_encoder._tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        want = torch.nn.functional.normalize(model.get_text_features(**batch).pooler_output, dim=1)
    np.testing.assert_allclose(enc.encode(TEXTS), want.numpy(), atol=1e-5)


def test_images_are_encoded_by_the_image_tower_in_the_text_space(
    old_encoder: Encoder, digits_dir: Path
) -> None:
    items = list(read_images(digits_dir / "heldout.jsonl"))[:60]
    vectors = old_encoder.encode_images([open_image(i) for i in items])
    assert vectors.shape == (60, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    words = list(testbed_images.WORDS)
    captions = old_encoder.encode(
        [testbed_images.caption(testbed_images.QUERY_TEMPLATES[0], d) for d in range(10)],
        role="query",
    )
    predicted = (vectors @ captions.T).argmax(axis=1)
    accuracy = np.mean([words[p] == i.label for p, i in zip(predicted, items, strict=True)])
    assert accuracy > 0.6  # zero-shot through held-out caption wording; chance is 0.1


def test_a_changed_image_processor_is_refused(old_encoder: Encoder, digits_dir: Path) -> None:
    gen = old_encoder.generation
    assert gen.image_recipe is not None
    changed = ImageRecipe({**gen.image_recipe.processor, "size": {"height": 32, "width": 32}})
    enc = Encoder(replace(gen, image_recipe=changed), device="cpu", folder=old_encoder.folder)
    item = next(iter(read_images(digits_dir / "heldout.jsonl")))
    with pytest.raises(ModelLoadError, match="image processor"):
        enc.encode_images([open_image(item)])
