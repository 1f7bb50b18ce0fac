"""Cross-modal adapters on the two-tower test bed: fitted on text pairs, measured on images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.data.embeddings import load_embeddings
from embedreg.evaluation import image_figures_missing
from embedreg.gallery import search_gallery
from embedreg.gallery.crossmodal import (
    build_image_gallery,
    gallery_towers,
    search_images,
    tower_warnings,
)
from embedreg.models import Encoder, embed_images
from embedreg.registry import Tower
from embedreg.routing import PathKind, RoutingPolicy
from embedreg.training import (
    TrainConfig,
    image_pairs,
    measure_images,
    train_crossmodal,
    training_pairs,
)

from conftest import TwoTowerChain, run_cli

CPU = TrainConfig(device="cpu")


@pytest.fixture
def reg(two_tower_chain: TwoTowerChain, tmp_path: Path) -> Registry:
    return Registry.open(two_tower_chain.copy(tmp_path / "registry"))


def _data(reg: Registry, chain: TwoTowerChain) -> tuple[Any, Any, Any]:
    texts = training_pairs(reg, "new", "old", texts=chain.texts, device="cpu")
    queries = training_pairs(reg, "new", "old", texts=chain.queries, device="cpu")
    images = image_pairs(reg, "new", "old", chain.images, device="cpu")
    return texts, queries, images


def test_text_pairs_alone_carry_new_text_queries_to_the_old_image_gallery(
    reg: Registry, two_tower_chain: TwoTowerChain, tmp_path: Path
) -> None:
    texts, queries, images = _data(reg, two_tower_chain)
    assert images.labels is not None and len(images) == 200
    (run,) = train_crossmodal(
        reg, "new", "old", texts, images=images, queries=queries, family="procrustes", config=CPU
    )
    figs = reg.adapter(run.record.id).figures
    assert figs.modalities_trained == ("text",)
    assert figs.modalities_measured == ("image", "text")
    assert figs.text_image.queries == 40 and figs.text_image.images == 200
    for key in ("text-image", "image-image"):
        use = figs.crossmodal(key)
        for value in (use.cmc_at_1, use.target.cmc_at_1, use.source.cmc_at_1):
            assert 0.0 <= value <= 1.0
        assert use.criterion == (use.cmc_at_1 >= use.target.cmc_at_1)
    assert figs.text_image.cmc_at_1 > 0.6  # chance: 0.1
    # A map fitted on text alone carries image queries less well (on the digits test bed:
    # about 0.39 against old/old's 0.85; chance is 0.1): well above chance, and flagged.
    assert figs.image_image.cmc_at_1 > 0.25

    # the same, served: an image gallery of the old generation, new text queries mapped
    out = embed_images(
        reg.generation("old"), two_tower_chain.images, tmp_path / "g.safetensors", device="cpu"
    )
    gallery = load_embeddings(out.path)
    assert gallery.meta.tower == "image"
    new_text = Encoder(reg.generation("new"), device="cpu").encode(
        ["a photo of the number three", "handwriting that shows a seven"], role="query"
    )
    mapped = run.adapter.transform(new_text)
    top = (mapped @ gallery.vectors.T).argsort(axis=1)[:, ::-1][:, :5]
    labels = np.asarray(gallery.labels)
    assert (labels[top[0]] == "three").mean() >= 0.6 and (labels[top[1]] == "seven").mean() >= 0.6


def test_a_text_only_adapter_is_flagged_until_image_figures_are_recorded(
    reg: Registry, two_tower_chain: TwoTowerChain, digits_dir: Path, tmp_path: Path
) -> None:
    texts, queries, images = _data(reg, two_tower_chain)
    (run,) = train_crossmodal(reg, "new", "old", texts, family="procrustes", config=CPU)
    assert image_figures_missing(reg.adapter(run.record.id).figures)
    few = tmp_path / "few.jsonl"
    few.write_text("".join(two_tower_chain.images.read_text().splitlines(True)[:30]))
    gallery = build_image_gallery(reg, "old", few, tmp_path / "gallery", device="cpu")
    assert gallery_towers(gallery) == {Tower.IMAGE} and len(gallery) == 30
    probe = [digits_dir / "images" / "d0001.png"]

    def flags(query: Tower) -> list[str]:
        if query == Tower.IMAGE:
            hits = search_images(reg, gallery, probe, generation="new", k=3, device="cpu")
        else:
            hits = search_gallery(
                reg, gallery, ["the digit 3"], generation="new", k=3, device="cpu",
                policy=RoutingPolicy(kinds=frozenset({PathKind.MAP})),
            )  # fmt: skip
        assert hits.paths["old"].adapter_ids == [run.record.id]
        return tower_warnings(hits, query=query, gallery=gallery_towers(gallery))

    for query in (Tower.IMAGE, Tower.TEXT):
        (line,) = flags(query)
        assert "measured on text only" in line and "measure-images" in line
    figs = measure_images(reg, run.record.id, queries, images, device="cpu")
    assert not image_figures_missing(reg.adapter(run.record.id).figures)
    assert figs.modalities_measured == ("image", "text") and figs.text_image.cmc_at_1 is not None
    for query, key in ((Tower.IMAGE, "image-image"), (Tower.TEXT, "text-image")):
        assert all("text only" not in line for line in flags(query))
        assert bool(flags(query)) == (not figs.crossmodal(key).criterion)


def test_refining_with_image_pairs_trains_on_both_and_measures_on_the_rest(
    reg: Registry, two_tower_chain: TwoTowerChain
) -> None:
    texts, queries, images = _data(reg, two_tower_chain)
    (run,) = train_crossmodal(
        reg,
        "new",
        "old",
        texts,
        images=images,
        queries=queries,
        refine=True,
        family="procrustes",
        config=CPU,
    )
    figs = run.figures
    assert figs.modalities_trained == ("image", "text")
    assert figs.text_image.images == 40  # the held-out fifth of the 200 images
    assert run.record.provenance.training_data.pairs == len(texts) + 160


def test_adapter_train_with_images_shows_the_cross_modal_figures(
    two_tower_chain: TwoTowerChain, tmp_path: Path
) -> None:
    root = two_tower_chain.copy(tmp_path / "registry")
    env = {"EMBEDREG_REGISTRY": str(root)}
    args = ("--texts", str(two_tower_chain.texts), "--family", "procrustes", "--device", "cpu")
    images = ("--images", str(two_tower_chain.images), "--queries", str(two_tower_chain.queries))
    result = run_cli("adapter", "train", "new", "old", *args, *images, env=env)
    assert result.returncode == 0, result.stderr
    for text in ("text→image CMC@1 old/old", "text→image criterion", "image→image CMC@1 new/new"):
        assert text in result.stderr
    bad = run_cli("adapter", "train", "new", "old", *args, "--refine", "--name", "x", env=env)
    assert bad.returncode == 2 and "--images" in bad.stderr
