"""The encoder against an independent plain-transformers computation, on the real models."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Generation, Recipe
from embedreg.devices import select_device as resolve_device
from embedreg.errors import (
    DimensionMismatch,
    ModelChanged,
    ModelLoadError,
    ValidationError,
)
from embedreg.models import Encoder, model_folder, pin_model

import testbed

SHORT = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "ok",
]

#: (anchor, paraphrase); every other pair's sentences are unrelated to the anchor.
PARAPHRASES = [
    ("How do I reset my password?", "What are the steps to change my password?"),
    ("The stock market crashed today.", "Share prices plunged sharply on the exchange today."),
    ("A dog is running in the park.", "A puppy runs across the grass in a park."),
    ("The film was boring and far too long.", "The movie dragged on and was dull."),
    ("Heavy rain is expected tomorrow.", "Tomorrow's forecast calls for a lot of rain."),
    ("She plays the piano beautifully.", "Her piano playing is lovely."),
]


# --- an independent reference: plain transformers, written out here ------------------------


def reference_embed(
    folder: Path,
    texts: list[str],
    *,
    max_length: int,
    pooling: str = "mean",
    normalize: bool = True,
) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    for text in texts:  # one at a time: no padding at all
        enc = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            states = model(**enc).last_hidden_state[0]
        if pooling == "mean":
            vec = states.mean(0)
        elif pooling == "cls":
            vec = states[0]
        else:
            vec = states[-1]
        if normalize:
            vec = vec / vec.norm()
        out.append(vec.numpy())
    return np.stack(out)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def v1_gen(v1_dir: Path) -> Generation:
    return pin_model("v1", v1_dir, **testbed.V1_RECIPE, fingerprint=False)


@pytest.fixture(scope="module")
def v2_gen(v2_dir: Path) -> Generation:
    return pin_model("v2", v2_dir, fingerprint=False)


@pytest.fixture(scope="module")
def v1_encoder(v1_gen: Generation) -> Encoder:
    return Encoder(v1_gen, device="cpu", batch_size=8)


@pytest.fixture(scope="module")
def v2_encoder(v2_gen: Generation) -> Encoder:
    return Encoder(v2_gen, device="cpu", batch_size=8)


def test_recipes_read_from_the_folders(v1_gen: Generation, v2_gen: Generation) -> None:
    assert (v1_gen.dimension, v1_gen.recipe.max_tokens, v1_gen.recipe.pooling) == (384, 128, "mean")
    assert (v2_gen.dimension, v2_gen.recipe.max_tokens, v2_gen.recipe.normalize) == (384, 256, True)


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_matches_plain_transformers(
    which: str, request: pytest.FixtureRequest, bbc_news: Any
) -> None:
    encoder: Encoder = request.getfixturevalue(f"{which}_encoder")
    folder: Path = request.getfixturevalue(f"{which}_dir")
    texts = SHORT + bbc_news.texts[:6]  # long documents get truncated
    ours = encoder.encode(texts)
    ref = reference_embed(folder, texts, max_length=encoder.recipe.max_tokens)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert cosines(ours, ref).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def _paraphrase_hits(vectors: np.ndarray) -> int:
    anchors, candidates = vectors[0::2], vectors[1::2]
    sims = anchors @ candidates.T
    return int((sims.argmax(1) == np.arange(len(anchors))).sum())


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_paraphrases_rank_above_unrelated(which: str, request: pytest.FixtureRequest) -> None:
    encoder: Encoder = request.getfixturevalue(f"{which}_encoder")
    vectors = encoder.encode([t for pair in PARAPHRASES for t in pair])
    assert _paraphrase_hits(vectors) == len(PARAPHRASES)


@pytest.mark.slow
def test_v3_matches_plain_transformers_and_ranks_paraphrases(v3_dir: Path) -> None:
    gen = pin_model("v3", v3_dir, fingerprint=False)
    assert (gen.dimension, gen.recipe.max_tokens) == (768, 384)
    encoder = Encoder(gen, device="cpu", batch_size=16)
    texts = SHORT[:5]
    assert (
        cosines(encoder.encode(texts), reference_embed(v3_dir, texts, max_length=384)).min()
        > 0.9999
    )
    vectors = encoder.encode([t for pair in PARAPHRASES for t in pair])
    assert vectors.shape == (12, 768)
    assert _paraphrase_hits(vectors) == len(PARAPHRASES)


def test_length_sorting_returns_input_order(
    v2_gen: Generation, v2_encoder: Encoder, bbc_news: Any
) -> None:
    texts = [t[: 40 + 90 * i] for i, t in enumerate(bbc_news.texts[:8])] + SHORT
    sorted_out = v2_encoder.encode(texts)
    plain = Encoder(v2_gen, device="cpu", batch_size=5, sort_by_length=False).encode(texts)
    np.testing.assert_allclose(sorted_out, plain, atol=2e-5)
    # streaming in chunks gives the same vectors
    streamed = np.concatenate(list(v2_encoder.encode_iter(iter(texts), chunk_size=7)))
    np.testing.assert_allclose(streamed, sorted_out, atol=2e-5)


def test_progress_reports_items(v2_encoder: Encoder) -> None:
    seen: list[tuple[int, int | None]] = []
    v2_encoder.encode(SHORT * 2, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (20, 20) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_prefixes_follow_the_role(v2_dir: Path, v2_gen: Generation, v2_encoder: Encoder) -> None:
    prefixed = dataclasses.replace(
        v2_gen,
        recipe=dataclasses.replace(
            v2_gen.recipe, query_prefix="query: ", document_prefix="passage: "
        ),
    )
    enc = Encoder(prefixed, device="cpu")
    texts = SHORT[:4]
    np.testing.assert_allclose(
        enc.encode(texts, role="query"),
        v2_encoder.encode([f"query: {t}" for t in texts]),
        atol=2e-5,
    )
    np.testing.assert_allclose(
        enc.encode(texts, role="document"),
        v2_encoder.encode([f"passage: {t}" for t in texts]),
        atol=2e-5,
    )
    with pytest.raises(ValidationError, match="role"):
        enc.encode(texts, role="gallery")


def test_truncation_and_other_poolings(v2_dir: Path, v2_gen: Generation, bbc_news: Any) -> None:
    texts = [bbc_news.texts[0], SHORT[0], SHORT[6]]
    for pooling, normalize in (("mean", True), ("cls", False), ("last-token", True)):
        recipe = Recipe(pooling=pooling, normalize=normalize, max_tokens=12)
        gen = dataclasses.replace(v2_gen, recipe=recipe)
        ours = Encoder(gen, device="cpu", batch_size=3).encode(texts)
        ref = reference_embed(v2_dir, texts, max_length=12, pooling=pooling, normalize=normalize)
        assert cosines(ours, ref).min() > 0.9999, pooling
        np.testing.assert_allclose(
            np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1), rtol=1e-4
        )


def test_changed_folder_is_refused(tmp_path: Path, v1_dir: Path) -> None:
    folder = tmp_path / "v1copy"
    shutil.copytree(v1_dir, folder)
    gen = pin_model("v1copy", folder, **testbed.V1_RECIPE, fingerprint=False)
    assert model_folder(gen) == folder.resolve()
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelChanged) as info:
        Encoder(gen, device="cpu")
    assert "'v1copy'" in str(info.value) and "embedreg gen verify v1copy" in str(info.value)
    # skipping the check loads it (as 'gen verify' does, to report on it)
    assert Encoder(gen, device="cpu", verify_pin=False).encode(["x"]).shape == (1, 384)
    shutil.rmtree(folder)
    with pytest.raises(ModelLoadError, match="does not exist"):
        Encoder(gen, device="cpu")


def test_missing_weights_are_refused_not_randomised(tmp_path: Path, v1_dir: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(v1_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 6  # the checkpoint holds 3 layers
    (folder / "config.json").write_text(json.dumps(config))
    gen = pin_model("broken", folder, **testbed.V1_RECIPE, fingerprint=False)
    with pytest.raises(ModelLoadError, match=r"lack \d+ tensor\(s\).*encoder\.layer\.[345]"):
        Encoder(gen, device="cpu")


def test_declared_dimension_is_checked(v2_gen: Generation) -> None:
    wrong = dataclasses.replace(v2_gen, dimension=768)
    with pytest.raises(DimensionMismatch, match="expected dimension 768, got 384"):
        Encoder(wrong, device="cpu").encode(["hello"])


def test_only_generations_with_a_usable_tower_are_encoded(v2_gen: Generation) -> None:
    with pytest.raises(ValidationError, match=r"embeds image, and has no image recipe"):
        Encoder(dataclasses.replace(v2_gen, modality="image"), device="cpu")
    with pytest.raises(ValidationError, match=r"embeds multimodal, and .* text and images"):
        Encoder(dataclasses.replace(v2_gen, modality="multimodal"), device="cpu")


def test_devices() -> None:
    assert resolve_device("auto") in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValidationError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.gpu
def test_gpu_half_precision_matches_cpu(
    v2_gen: Generation, v2_encoder: Encoder, bbc_news: Any
) -> None:
    texts = SHORT + bbc_news.texts[:20]
    gpu = Encoder(v2_gen, device="auto")
    assert gpu.device.startswith("cuda") and gpu.precision == "fp16"
    assert cosines(gpu.encode(texts), v2_encoder.encode(texts)).min() > 0.999


def test_import_stays_light() -> None:
    """``import embedreg`` and the CLI's modules load neither torch nor transformers nor numpy."""
    code = (
        "import sys, embedreg, embedreg_cli.main, embedreg_cli.embed, embedreg_cli.gen\n"
        "heavy = ('torch', 'transformers', 'faiss', 'numpy', 'safetensors', 'huggingface_hub')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
