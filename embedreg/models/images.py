"""Embed images with a generation's image tower into an embeddings file.

:func:`embed_images` is what ``embedreg embed GEN FOLDER`` (or a ``.jsonl``
/ ``.csv`` list naming image files) runs: every image's header is checked
before the model loads (missing, unreadable and huge files are refused then),
and the images are decoded, put through the model's own image processor and
embedded one batch at a time, so memory holds one batch of images whatever
the input's size.  The vectors stream to an
:class:`~embedreg.data.embeddings.EmbeddingsWriter` that records the image
tower made them; the file appears only when every image was embedded, so a
bad image stops the run with nothing written, unless ``skip_bad``: the others
are embedded and the skipped ones come back in the result.

Example:
    >>> result = embed_images(reg.generation("clip"), "photos/", "photos.safetensors")  # doctest: +SKIP
    >>> result.count, result.tower, result.skipped  # doctest: +SKIP
    (1200, 'image', ())
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from ..constants import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_SHARD_ROWS
from ..data.embeddings import EmbeddingsWriter
from ..data.images import check_images, open_image, read_images
from ..errors import BadImage, InputError, ValidationError
from ..registry import Generation, Tower
from .encoder import Encoder, ProgressCallback
from .results import EmbedResult, check_output

__all__ = ["embed_images"]


def embed_images(
    generation: Generation,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    role: str = "document",
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "auto",
    image_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    encoder: Encoder | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    skip_bad: bool = False,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> EmbedResult:
    """Embed every image of ``input_path`` with ``generation``'s image tower.

    Args:
        generation: a generation with an image tower (``text+image`` or ``image``).
        input_path: a folder of images, or a ``.jsonl``/``.csv`` list naming
            image files (see :mod:`embedreg.data.images`).
        output_path: the embeddings file to write (atomically).
        role: ``query`` or ``document``, recorded in the file.
        batch_size, device, precision: for the :class:`~embedreg.models.Encoder`;
            ``batch_size`` images are decoded at a time.
        image_field, id_field, label_field: the list's columns.
        shard_rows: rows per shard file.
        encoder: an already loaded encoder of ``generation`` to reuse.
        progress: called with ``(images done, total)`` after each batch.
        overwrite: replace an existing ``output_path``.
        skip_bad: embed the usable images and list the others in
            :attr:`EmbedResult.skipped` instead of stopping at the first.
        max_pixels: images with more pixels are refused undecoded.

    Raises:
        BadImage: an image that cannot be read, is truncated or is too large
            (without ``skip_bad``); nothing is written.
        InputError: a bad list, or no usable image.
        ValidationError: a generation without an image tower.
    """
    source = Path(input_path)
    check_output(output_path, source, overwrite=overwrite)
    if Tower.IMAGE not in generation.towers:
        raise ValidationError(
            f"generation {generation.name!r} ({generation.modality}) has no image tower",
            "embed images with a text+image generation (gen add of a CLIP-like model)",
        )

    total, bad = check_images(
        read_images(source, image_field=image_field, id_field=id_field, label_field=label_field),
        skip_bad=skip_bad,
        max_pixels=max_pixels,
    )
    if total == 0:
        raise InputError(str(source), None, "holds no usable image", "check the images")
    if encoder is None:
        encoder = Encoder(generation, device=device, batch_size=batch_size, precision=precision)
    skip = {error.image for error in bad}
    started = time.perf_counter()
    with EmbeddingsWriter(
        output_path, generation, role, shard_rows=shard_rows, tower=Tower.IMAGE
    ) as writer:
        todo = (
            item
            for item in read_images(
                source, image_field=image_field, id_field=id_field, label_field=label_field
            )
            if str(item.path) not in skip
        )
        while batch := list(itertools.islice(todo, batch_size)):
            kept, images = [], []
            for item in batch:
                try:
                    images.append(open_image(item, max_pixels=max_pixels))
                except BadImage as exc:
                    if not skip_bad:
                        raise
                    bad.append(exc)
                    continue
                kept.append(item)
            if kept:
                labels = [item.label for item in kept]
                writer.write(
                    encoder.encode_images(images),
                    ids=[item.id for item in kept],
                    labels=None if labels[0] is None else [str(x) for x in labels],
                )
            if progress is not None:
                progress(writer.count + len(bad), total + len(skip))
        if writer.count == 0:
            raise InputError(str(source), None, "holds no usable image", "check the images")
    return EmbedResult.written(
        writer,
        generation,
        encoder,
        role=role,
        started=started,
        tower=Tower.IMAGE.value,
        skipped=tuple(bad),
    )
