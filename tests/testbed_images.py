"""Real images and two small real two-tower (image + text) models, prepared offline.

No registry reachable here ships pretrained vision-language weights, so the
test bed builds two, once, into the test-bed cache (``testbed.cache_dir()``),
each folder staged and renamed into place like the other models:

- **digits**: scikit-learn's bundled ``load_digits`` (1,797 real handwritten
  digits, 8x8, 10 classes; no download) written as PNG files, with
  ``train.jsonl`` (the images the image towers learn from), ``heldout.jsonl``
  (never seen in training), the caption corpus ``captions.jsonl`` (the
  training templates, text only) and the held-out caption queries
  ``queries.jsonl`` (other templates);
- **vlm-old** / **vlm-new**: ``VisionTextDualEncoderModel`` folders (saved and
  loaded through transformers, with a ``VisionTextDualEncoderProcessor``),
  each the frozen real text encoder of a test-bed generation (v1
  paraphrase-MiniLM-L3 for the old, v2 all-MiniLM-L6 for the new) with an
  identity text projection, plus a tiny CLIP vision tower trained LiT style:
  contrastive against the frozen text tower's caption embeddings of the ten
  classes, on the training images only.  Read with :data:`VLM_RECIPE` (mean
  pooling of the text tower, as the text generation it extends), the text
  tower gives exactly the text generation's vectors.

Sklearn's digits were chosen over Debian's ``dataset-fashion-mnist``: they
are a pip dependency (no apt step in CI, no skip), and small enough that
both towers build in seconds of CPU.

Example:
    >>> import testbed_images  # doctest: +SKIP
    >>> testbed_images.vlm_old_dir()  # doctest: +SKIP
    PosixPath('.../vlm-old-digits')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import testbed

#: How the test-bed two-tower generations are registered (``gen add`` flags / ``pin_model`` args).
VLM_RECIPE: dict[str, Any] = {"pooling": "mean", "normalize": True, "max_tokens": 128}

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Captions the image towers are trained against (also the text-only adapter corpus).
TRAIN_TEMPLATES = (
    "a handwritten digit {w}",
    "the number {w}",
    "a scan of a handwritten {w}",
    "the digit {d}",
    "{w}, written by hand",
    "a small image of the number {w}",
)
#: Held-out caption queries: templates no tower and no adapter is trained on.
QUERY_TEMPLATES = (
    "a photo of the number {w}",
    "handwriting that shows a {w}",
    "a picture of the digit {w}",
    "someone wrote the number {d}",
)
HELDOUT = 597  # of the 1,797 digits; the other 1,200 train the image towers
SEED = 0
HEADLINES_EVERY = 4  # of BBC News's 2,225 headlines: about 550 join the captions in texts.jsonl
IMAGE_SIZE = 16
EPOCHS = 15


def caption(template: str, label: int) -> str:
    """One caption of ``label`` (0-9) from ``template``."""
    return template.format(w=WORDS[label], d=label)


# --- the images --------------------------------------------------------------------------


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _build_digits(staging: Path) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(SEED).permutation(len(digits.target))
    (staging / "images").mkdir()
    rows: list[dict[str, Any]] = []
    for i in order:
        name = f"images/d{i:04d}.png"
        pixels = (digits.images[i] * (255.0 / 16.0)).round().astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(staging / name)
        rows.append({"id": f"d{i:04d}", "image": name, "label": WORDS[int(digits.target[i])]})
    _write_rows(staging / "heldout.jsonl", rows[:HELDOUT])
    _write_rows(staging / "train.jsonl", rows[HELDOUT:])
    captions = [
        {"id": f"c{t}-{d}", "text": caption(tpl, d), "label": WORDS[d]}
        for t, tpl in enumerate(TRAIN_TEMPLATES)
        for d in range(10)
    ]
    _write_rows(staging / "captions.jsonl", captions)
    news = testbed.bbc_headlines(every=HEADLINES_EVERY)
    headlines = [
        {"id": f"bbc/{i}", "text": t, "label": label}
        for i, t, label in zip(news.ids, news.texts, news.labels, strict=True)
    ]
    _write_rows(staging / "texts.jsonl", captions + headlines)
    queries = [
        {"id": f"q{t}-{d}", "text": caption(tpl, d), "label": WORDS[d]}
        for t, tpl in enumerate(QUERY_TEMPLATES)
        for d in range(10)
    ]
    _write_rows(staging / "queries.jsonl", queries)


def digits_dir() -> Path:
    """The digits as PNG files with their jsonl lists (built once, then cached)."""
    return testbed._prepared("digits-png", _build_digits)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one of the digits' jsonl files."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- the two-tower models -----------------------------------------------------------------


def _caption_table(model: Any, tokenizer: Any) -> Any:
    """(10, templates, d) unit caption vectors by the frozen text tower (mean pooling)."""
    import torch

    model.eval()
    texts = [caption(tpl, d) for d in range(10) for tpl in TRAIN_TEMPLATES]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        states = model.text_model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1)
        vectors = torch.nn.functional.normalize(model.text_projection(pooled), dim=-1)
    return vectors.reshape(10, len(TRAIN_TEMPLATES), -1).clone()


def _train_images(model: Any, pixels: Any, labels: Any, table: Any) -> None:
    """LiT: only the image tower learns, to pick its class among the ten caption vectors."""
    import torch

    generator = torch.Generator().manual_seed(SEED)
    params = [*model.vision_model.parameters(), *model.visual_projection.parameters()]
    optimizer = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
    model.vision_model.train()
    for _epoch in range(EPOCHS):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), 100):
            index = order[start : start + 100]
            pick = torch.randint(len(TRAIN_TEMPLATES), (10,), generator=generator)
            prototypes = table[torch.arange(10), pick]
            out = model.get_image_features(pixel_values=pixels[index])
            feats = out.pooler_output if hasattr(out, "pooler_output") else out
            logits = 20.0 * torch.nn.functional.normalize(feats, dim=-1) @ prototypes.T
            loss = torch.nn.functional.cross_entropy(logits, labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()


def _build_vlm(staging: Path, text_dir: Path) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    threads, verbosity = torch.get_num_threads(), hf_logging.get_verbosity()
    torch.set_num_threads(1)  # the same sums in the same order on every machine
    hf_logging.set_verbosity_error()  # v1 has no pooler: transformers reports it
    try:
        _build_vlm_in(staging, text_dir)
    finally:
        torch.set_num_threads(threads)
        hf_logging.set_verbosity(verbosity)


def _build_vlm_in(staging: Path, text_dir: Path) -> None:
    import torch
    from PIL import Image
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertModel,
        CLIPVisionConfig,
        VisionTextDualEncoderConfig,
        VisionTextDualEncoderModel,
        VisionTextDualEncoderProcessor,
    )
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(SEED)
    vision = CLIPVisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=IMAGE_SIZE,
        patch_size=4,
        num_channels=3,
    )
    text_config = BertConfig.from_pretrained(str(text_dir))
    config = VisionTextDualEncoderConfig.from_vision_text_configs(
        vision, text_config, projection_dim=text_config.hidden_size
    )
    model = VisionTextDualEncoderModel(config=config)
    text = BertModel.from_pretrained(
        str(text_dir)
    )  # v1 has no pooler: random, unused by VLM_RECIPE
    missing, unexpected = model.text_model.load_state_dict(text.state_dict(), strict=False)
    if unexpected or any(not k.startswith("pooler.") for k in missing):
        raise ValueError(f"text tower: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        model.text_projection.weight.copy_(torch.eye(text_config.hidden_size))
    tokenizer = AutoTokenizer.from_pretrained(str(text_dir))
    images = ViTImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    root = digits_dir()
    rows = read_rows(root / "train.jsonl")
    pixels = images(
        [Image.open(root / r["image"]).convert("RGB") for r in rows], return_tensors="pt"
    )["pixel_values"]
    labels = torch.tensor([WORDS.index(r["label"]) for r in rows])
    _train_images(model, pixels, labels, _caption_table(model, tokenizer))
    model.save_pretrained(str(staging))
    VisionTextDualEncoderProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(
        str(staging)
    )


def vlm_old_dir() -> Path:
    """The old two-tower model: v1's text tower (paraphrase-MiniLM-L3) + its image tower."""
    text_dir = testbed.v1_dir()
    return testbed._prepared("vlm-old-digits", lambda staging: _build_vlm(staging, text_dir))


def vlm_new_dir() -> Path:
    """The new two-tower model: v2's text tower (all-MiniLM-L6) + its image tower."""
    text_dir = testbed.v2_dir()
    return testbed._prepared("vlm-new-digits", lambda staging: _build_vlm(staging, text_dir))
