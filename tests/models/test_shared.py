"""embedreg.models.shared: one loaded encoder per (generation, pin, recipe, device), the last few kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from embedreg.models import Encoder, pin_model
from embedreg.models import shared as shared_module
from embedreg.models.shared import clear_shared, shared_encoder


@pytest.fixture(autouse=True)
def _empty() -> None:
    clear_shared()


def test_one_encoder_per_generation_and_the_same_vectors(v2_dir: Path) -> None:
    gen = pin_model("v2", v2_dir, fingerprint=False)
    first = shared_encoder(gen, "cpu")
    assert shared_encoder(gen, "cpu") is first
    got = first.encode(["A man is eating food."], role="query")
    want = Encoder(gen, device="cpu").encode(["A man is eating food."], role="query")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # another recipe is another encoder (its vectors differ)
    short = dataclasses.replace(gen, recipe=dataclasses.replace(gen.recipe, max_tokens=8))
    assert short.recipe.hash != gen.recipe.hash
    assert shared_encoder(short, "cpu") is not first


def test_only_the_last_few_stay(v2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_module, "KEEP", 2)
    gen = pin_model("v2", v2_dir, fingerprint=False)
    recipes = [dataclasses.replace(gen.recipe, max_tokens=n) for n in (8, 16, 32)]
    encoders = [shared_encoder(dataclasses.replace(gen, recipe=r), "cpu") for r in recipes]
    assert shared_encoder(dataclasses.replace(gen, recipe=recipes[2]), "cpu") is encoders[2]
    assert shared_encoder(dataclasses.replace(gen, recipe=recipes[1]), "cpu") is encoders[1]
    assert shared_encoder(dataclasses.replace(gen, recipe=recipes[0]), "cpu") is not encoders[0]


def test_threads_encode_through_one_shared_encoder(v2_dir: Path) -> None:
    """Eight threads at once get what one caller gets (the encoder's lock serialises them)."""
    from concurrent.futures import ThreadPoolExecutor

    from embedreg.models.shared import shared_encode

    gen = pin_model("v2", v2_dir, fingerprint=False)
    texts = [f"headline number {i} about rates and markets" for i in range(8)]
    want = shared_encode(gen, texts, role="query", device="cpu")
    with ThreadPoolExecutor(8) as pool:
        got = list(
            pool.map(
                lambda i: shared_encode(gen, texts[i:] + texts[:i], role="query", device="cpu"),
                range(8),
            )
        )
    for i, vectors in enumerate(got):
        np.testing.assert_allclose(np.roll(vectors, i, axis=0), want, rtol=1e-5, atol=1e-6)
