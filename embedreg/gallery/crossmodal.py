"""Galleries of images, and searches across towers (text queries on images, image queries).

- :func:`build_image_gallery`: a gallery of a two-tower generation's image
  vectors, from a folder or a list of images (embedded by the image tower,
  then built like any gallery from an embeddings file, which records the tower);
- :func:`search_images`: search with image files as queries, embedded by the
  query generation's image tower and routed per segment like text queries;
- :func:`gallery_towers` says which towers made a gallery's vectors, and
  :func:`tower_warnings` flags each path whose adapters were measured on text
  only (or failed the criterion) when it serves image queries or image items.

Example:
    >>> g = build_image_gallery(reg, "clip-old", "photos/", "galleries/photos")  # doctest: +SKIP
    >>> hits = search_images(reg, g, ["query.jpg"], generation="clip-new", k=5)  # doctest: +SKIP
    >>> tower_warnings(hits, query=Tower.IMAGE, gallery=gallery_towers(g))  # doctest: +SKIP
    []
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..constants import DEFAULT_MAX_IMAGE_PIXELS
from ..data.images import ImageItem, check_images, open_image
from ..errors import ValidationError
from ..models import Encoder, embed_images
from ..registry import Registry, Tower
from ..routing import Resolver
from ..routing.towers import tower_warning
from .database import DatabaseGallery
from .gallery import Gallery
from .hits import Hits
from .operations import build_gallery

__all__ = ["build_image_gallery", "gallery_towers", "search_images", "tower_warnings"]


def gallery_towers(gallery: Gallery | DatabaseGallery) -> set[Tower]:
    """The towers that made the gallery's vectors, as its sources record them (text by default)."""
    towers = set()
    for source in gallery.sources:
        meta = source.get("meta") if isinstance(source, dict) else None
        tower = meta.get("tower") if isinstance(meta, dict) else None
        towers.add(Tower(tower) if tower in (Tower.TEXT.value, Tower.IMAGE.value) else Tower.TEXT)
    return towers or {Tower.TEXT}


def tower_warnings(hits: Hits, *, query: Tower, gallery: Iterable[Tower]) -> list[str]:
    """One line per segment path flagged for ``query`` queries on the gallery's towers."""
    lines = []
    for path in hits.paths.values():
        for tower in sorted(set(gallery), key=lambda t: t.value):
            line = tower_warning(path, query=query, gallery=tower)
            if line is not None and line not in lines:
                lines.append(line)
    return lines


def build_image_gallery(
    registry: Registry,
    generation: str,
    images: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    image_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    device: str = "auto",
    batch_size: int = 32,
    skip_bad: bool = False,
    progress: Any = None,
    **options: Any,
) -> Gallery:
    """Build a gallery at ``out`` of ``images`` embedded by ``generation``'s image tower.

    ``options`` go to :func:`~embedreg.gallery.build_gallery` (``index``,
    ``metric``, ``name`` …); the image vectors pass through a temporary
    embeddings file beside ``out``, removed afterwards.
    """
    gen = registry.generation(generation)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.images.") as tmp:
        embedded = embed_images(
            gen,
            images,
            Path(tmp) / "images.safetensors",
            image_field=image_field,
            id_field=id_field,
            label_field=label_field,
            device=device,
            batch_size=batch_size,
            skip_bad=skip_bad,
            progress=progress,
        )
        return build_gallery(registry, gen.name, embedded.path, target, **options)


def search_images(
    registry: Registry,
    gallery: str | os.PathLike[str] | Gallery | DatabaseGallery,
    images: Sequence[str | os.PathLike[str]],
    *,
    generation: str,
    k: int = 10,
    resolver: Resolver | None = None,
    device: str = "auto",
    merge: str = "auto",
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Hits:
    """Search a gallery with image files as queries, embedded by ``generation``'s image tower.

    The images' headers and every segment's path are checked before any
    model loads; each path is the one text queries of ``generation`` take
    (flag its use with :func:`tower_warnings`).
    """
    gen = registry.generation(generation)
    if Tower.IMAGE not in gen.towers:
        raise ValidationError(
            f"generation {gen.name!r} ({gen.modality}) has no image tower to embed image queries",
            "search with a text+image generation's --gen",
        )
    if not images:
        raise ValidationError("no image queries given", "pass at least one --image FILE")
    g = gallery if isinstance(gallery, (Gallery, DatabaseGallery)) else Gallery.load(gallery)
    items = [ImageItem(Path(p), os.fspath(p), None) for p in images]
    check_images(items, max_pixels=max_pixels)
    g.routes(gen, registry=registry, resolver=resolver)  # no path: refused before loading
    vectors = Encoder(gen, device=device).encode_images(
        [open_image(i, max_pixels=max_pixels) for i in items]
    )
    return g.search_vectors(
        vectors, k, generation=gen, registry=registry, resolver=resolver, merge=merge
    )
