"""Adapters between two-tower generations: fit on text pairs alone, refine or measure with images.

Cross-modal backward compatibility (XBT): the new generation's towers share
one space, and so do the old one's, so a backward map new → old fitted on
**text pairs alone** (any corpus embedded by both text towers: cheap and
plentiful) also carries the new generation's image vectors and text queries
into the old image gallery.  :func:`train_crossmodal` fits it that way
(:func:`~embedreg.training.train_adapter` on the text pairs) and, given
labelled image pairs (the same images embedded by both image towers,
:func:`image_pairs`), either only measures it on them or, with
``refine=True``, first adds a training share of them to the fit and measures
on the rest.  The record's figures then hold the held-out text→image and
image→image figures of :mod:`embedreg.evaluation.crossmodal` next to the
text ones, and say which modalities trained and measured it
(``modalities.trained`` / ``modalities.measured``).  :func:`measure_images`
adds image figures to an adapter trained earlier on text alone.

Example:
    >>> texts = training_pairs(reg, "clip-new", "clip-old", texts="captions.jsonl")  # doctest: +SKIP
    >>> images = image_pairs(reg, "clip-new", "clip-old", "heldout.jsonl")  # doctest: +SKIP
    >>> run = train_crossmodal(reg, "clip-new", "clip-old", texts, images=images)[0]  # doctest: +SKIP
    >>> run.figures.text_image.cmc_at_1, run.figures.text_image.target.cmc_at_1  # doctest: +SKIP
    (0.95, 0.95)
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from ..adapters import load_registered_adapter
from ..data.pairs import PairedEmbeddings
from ..errors import TrainingDataError, ValidationError
from ..evaluation.crossmodal import IMAGE, TEXT, measure_crossmodal, with_modalities
from ..models.embed import CachedFn, PairProgress, embed_pairs
from ..registry import Figures, Registry, Tower
from .config import TrainConfig
from .data import DEFAULT_HELDOUT, split_pairs
from .runs import AdapterRun, train_adapter

__all__ = ["IMAGE_ID_PREFIX", "image_pairs", "join_pairs", "measure_images", "train_crossmodal"]

#: Prefix of image pairs' ids when they join text pairs in one fit.
IMAGE_ID_PREFIX = "image:"


def _two_tower(registry: Registry, *names: str) -> None:
    doc = registry.document()
    for name in names:
        gen = doc.generation(name)
        if Tower.IMAGE not in gen.towers or Tower.TEXT not in gen.towers:
            raise ValidationError(
                f"generation {gen.name!r} is a {gen.modality} generation, not a two-tower one",
                "cross-modal adapters join two text+image generations (gen add of CLIP-like models)",
            )


def image_pairs(
    registry: Registry,
    new: str,
    old: str,
    images: str | os.PathLike[str],
    *,
    image_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    device: str = "auto",
    batch_size: int = 32,
    use_cache: bool = True,
    progress: PairProgress | None = None,
    on_cached: CachedFn | None = None,
) -> PairedEmbeddings:
    """The images of ``images`` (a folder or list) embedded by both generations' image towers.

    Cached like text pairs (the key covers every image's path, size and time).
    """
    _two_tower(registry, new, old)
    return embed_pairs(
        registry,
        new,
        old,
        images,
        role="document",
        device=device,
        batch_size=batch_size,
        text_field=image_field or "image",
        id_field=id_field,
        label_field=label_field,
        use_cache=use_cache,
        progress=progress,
        on_cached=on_cached,
        tower=Tower.IMAGE,
    )


def join_pairs(texts: PairedEmbeddings, images: PairedEmbeddings) -> PairedEmbeddings:
    """Text pairs and image pairs as one training set (image ids prefixed)."""
    labels = None
    if texts.labels is not None and images.labels is not None:
        labels = [*texts.labels, *images.labels]
    return PairedEmbeddings(
        ids=[*texts.ids, *(IMAGE_ID_PREFIX + i for i in images.ids)],
        source=np.vstack([texts.source, images.source]),
        target=np.vstack([texts.target, images.target]),
        labels=labels,
        source_generation=texts.source_generation,
        target_generation=texts.target_generation,
        source_space=texts.source_space,
        target_space=texts.target_space,
    )


def _queries(fitted: PairedEmbeddings, heldout: float, seed: int, dim: int) -> PairedEmbeddings:
    """The labelled text pairs of the fit's held-out share (the same split the fit made)."""
    _train, test = split_pairs(fitted, heldout, seed, [dim])
    rows = [i for i, ident in enumerate(test.ids) if not ident.startswith(IMAGE_ID_PREFIX)]
    if test.labels is None or not rows:
        raise TrainingDataError(
            "text→image figures need labelled text queries, and the held-out texts have no labels",
            "give labelled texts (a 'label' per row) or --queries with labelled text queries",
        )
    return test.subset(rows)


def train_crossmodal(
    registry: Registry,
    new: str,
    old: str,
    texts: PairedEmbeddings,
    *,
    images: PairedEmbeddings | None = None,
    queries: PairedEmbeddings | None = None,
    refine: bool = False,
    config: TrainConfig | None = None,
    heldout: float = DEFAULT_HELDOUT,
    **options: Any,
) -> list[AdapterRun]:
    """Fit a backward adapter ``new → old`` on text pairs (XBT), measure it on images.

    Args:
        registry: where both two-tower generations are registered.
        new, old: the generations (``text+image`` both).
        texts: text pairs (new text tower → old text tower); they fit the map.
        images: labelled image pairs (new image tower, old image tower).  Without
            ``refine`` they only measure; with it, a ``1 - heldout`` share joins
            the fit and the rest measures.
        queries: labelled text queries (both text towers) for text→image; by
            default the labelled texts of the fit's held-out share.
        refine: fit on image pairs too (image-text training).
        config, heldout: as for :func:`~embedreg.training.train_adapter`.
        **options: passed to :func:`~embedreg.training.train_adapter`
            (``family``, ``options``, ``name``, ``replace_existing``, callbacks …).

    Returns:
        The run of the backward adapter, its record's figures holding the
        cross-modal figures and the modalities.
    """
    _two_tower(registry, new, old)
    if refine and images is None:
        raise ValidationError("refining needs image pairs", "pass --images with --refine")
    if options.pop("direction", "backward") != "backward":
        raise ValidationError(
            "cross-modal adapters are backward maps (new queries, old image gallery)",
            "drop --direction",
        )
    config = config or TrainConfig()
    measure_on = images
    fit = texts
    if images is not None and refine:
        image_train, measure_on = images.split(heldout, config.seed)
        fit = join_pairs(texts, image_train)
    runs = train_adapter(
        registry, new, old, fit, config=config, heldout=heldout, direction="backward", **options
    )
    run = runs[0]
    trained = [TEXT, IMAGE] if refine else [TEXT]
    figures = with_modalities(run.figures, trained, [TEXT])
    if measure_on is not None:
        asked = (
            queries if queries is not None else _queries(fit, heldout, config.seed, fit.source_dim)
        )
        crossmodal = measure_crossmodal(run.adapter, asked, measure_on, device=config.device)
        figures = with_modalities(figures, trained, [TEXT, IMAGE], crossmodal)
    record = replace(run.record, figures=figures)
    registry.put_adapter(record, replace=True)
    return [replace(run, record=record, figures=figures)]


def measure_images(
    registry: Registry,
    adapter: str,
    queries: PairedEmbeddings,
    images: PairedEmbeddings,
    *,
    device: str = "auto",
) -> Figures:
    """Measure a registered backward adapter between two-tower generations on images, and record it.

    The figures of :func:`~embedreg.evaluation.crossmodal.measure_crossmodal`
    join the record's (so a path through it is no longer flagged for image
    queries); ``modalities.measured`` gains ``image``.
    """
    record = registry.adapter(adapter)
    _two_tower(registry, record.source, record.target)
    loaded = load_registered_adapter(registry, adapter)
    figures = measure_crossmodal(loaded.adapter, queries, images, device=device)
    trained = record.figures.modalities_trained or [TEXT]
    measured = [*(record.figures.modalities_measured or [TEXT]), IMAGE]
    merged = with_modalities(record.figures, trained, measured, figures)
    registry.put_adapter(replace(record, figures=merged), replace=True)
    return merged
