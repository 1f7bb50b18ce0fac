"""Gallery operations on a database gallery: build, add and register by URL.

:mod:`.operations` hands a URL location here; the items come from the same
files (:mod:`.sources`) and are checked against the same generation as a
folder's.  A build marks its manifest ``building`` until the last item is
written, so a rerun after a kill starts the half-built gallery over; an add
records its source under ``pending`` first, and a rerun rewrites the same
items (upserts by id) and finishes it.

Example:
    >>> g = build(reg, "v2", "docs.jsonl", "qdrant:///srv/vectors?collection=news")  # doctest: +SKIP
    >>> len(g)  # doctest: +SKIP
    2225
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DuplicateName, NotFound, ValidationError
from ..registry import GalleryRecord, Registry, validate_name
from .database import DatabaseGallery
from .sources import Progress, source_items, source_record

__all__ = ["SourceOptions", "add", "build", "register"]


@dataclass(frozen=True)
class SourceOptions:
    """How items are read from raw inputs and embedded."""

    text_field: str = "text"
    id_field: str | None = None
    device: str = "auto"
    batch_size: int = 32


def _items(
    gallery: DatabaseGallery,
    registry: Registry,
    generation: str,
    src: Path,
    options: SourceOptions,
    progress: Progress | None,
    *,
    replace_existing: bool,
) -> int:
    gen = registry.generation(generation)
    added = 0
    for vectors, ids, texts in source_items(
        gen,
        src,
        text_field=options.text_field,
        id_field=options.id_field,
        device=options.device,
        batch_size=options.batch_size,
        progress=progress,
    ):
        added += gallery.add(
            vectors, ids, generation=gen, texts=texts, replace_existing=replace_existing
        )
    return added


def build(
    registry: Registry,
    generation: str,
    source: str | os.PathLike[str],
    url: str,
    *,
    metric: str = "ip",
    name: str | None = None,
    options: SourceOptions = SourceOptions(),
    register: bool = True,
    progress: Progress | None = None,
) -> DatabaseGallery:
    """Build a gallery of ``generation`` at ``url`` from raw inputs or an embeddings file.

    Returns the gallery, closed (reopen it with :meth:`DatabaseGallery.open`).

    Raises:
        DuplicateName: ``url`` holds another finished gallery, or the registry knows the name.
        GenerationMismatch: the embeddings file comes from another generation.
    """
    gen = registry.generation(generation)
    src = Path(source)
    origin = source_record(src, options.text_field, options.id_field)
    existing: DatabaseGallery | None
    try:
        existing = DatabaseGallery.open(url, write=True)
    except NotFound:  # no gallery there: the usual case
        existing = None
    if existing is not None:
        with existing:
            if existing.state.get("building"):
                existing.drop()  # a build that was killed: start it over
            elif existing.generations == [gen.name] and existing.sources == [origin]:
                record = _record(registry, existing, url, name) if register else None
                if record is not None:
                    _register(registry, record)
                return existing  # this very build, done: a rerun finds it
            else:
                raise DuplicateName("gallery URL", url, "an existing gallery; choose another -o")
    gallery_name = validate_name(name, "gallery") if name else None
    g = DatabaseGallery.create(url, gen, metric=metric, name=gallery_name)
    with g:
        record = _record(registry, g, url, name) if register else None
        if record is not None:
            known = registry.document().galleries.get(record.name)
            if known is not None and known.location != url:
                g.drop()
                raise DuplicateName("gallery", record.name, f"the gallery at {known.location}")
        added = _items(g, registry, gen.name, src, options, progress, replace_existing=False)
        if added == 0:
            g.drop()
            raise ValidationError(f"{src} holds no items", "give an input with at least one item")
        g.sources.append(origin)
        g.state = {}
        g.alias = g.collection(gen.name)
        g.backend.set_alias(g.backend.gallery_name, g.alias)
        g.save()  # the commit point: the build is complete
        if record is not None:
            _register(registry, record)
    return g


def _record(
    registry: Registry, g: DatabaseGallery, url: str, name: str | None
) -> GalleryRecord | None:
    gallery_name = name or validate_name(g.name.replace("_", "-"), "gallery")
    return GalleryRecord(name=gallery_name, location=url, generation=g.generations[0])


def _register(registry: Registry, record: GalleryRecord) -> None:
    known = registry.document().galleries.get(record.name)
    if known is not None and known.location == record.location:
        return
    registry.add_gallery(record, replace=False)


def add(
    registry: Registry,
    url: str,
    source: str | os.PathLike[str],
    *,
    generation: str | None = None,
    options: SourceOptions = SourceOptions(),
    progress: Progress | None = None,
) -> int:
    """Add items from a file to the gallery at ``url``; 0 when it holds them already.

    ``generation`` picks the segment (default: the gallery's only one); a
    generation without a segment gets a new collection.
    """
    src = Path(source)
    with DatabaseGallery.open(url, write=True) as g:
        if generation is None:
            if len(g.generations) != 1:
                raise ValidationError(
                    f"gallery {url} has segments of {', '.join(g.generations)}",
                    "say which one the new items belong to with --gen",
                )
            generation = g.generations[0]
        gen = registry.generation(generation)
        origin = source_record(src, options.text_field, options.id_field)
        if origin in g.sources:
            return 0  # added already
        pending = g.state.get("pending")
        rerun = pending == origin
        if pending is not None and not rerun:
            raise ValidationError(
                f"gallery {url} has an unfinished add of {pending.get('path')}",
                "run that 'embedreg gallery add' again to finish it first",
            )
        if gen.name not in g.segment_table():
            g.add_segment(gen)
        g.segment_for(gen)
        g.state = {**g.state, "pending": origin}
        g.save()  # the journal: a rerun rewrites these items
        added = _items(g, registry, gen.name, src, options, progress, replace_existing=rerun)
        g.sources.append(origin)
        g.state = {k: v for k, v in g.state.items() if k != "pending"}
        g.save()
    return added


def register(registry: Registry, url: str, *, name: str | None = None) -> GalleryRecord:
    """Register the gallery at ``url`` (its one generation must be registered as it was bound).

    Raises:
        GenerationMismatch: the registry's generation differs from the gallery's.
        DuplicateName: the name is taken by another gallery.
        ValidationError: a gallery of several generations.
    """
    with DatabaseGallery.open(url) as g:
        if len(g.generations) != 1:
            raise ValidationError(
                f"gallery {url} holds items of several generations ({', '.join(g.generations)})",
                f"only one generation's gallery is registered: upgrade it to one first ('embedreg upgrade apply {url} --to GEN --strategy reembed')",
            )
        (generation,) = g.generations
        g.segment_for(registry.generation(generation))
        record = _record(registry, g, url, name)
    assert record is not None
    known = registry.document().galleries.get(record.name)
    if known is not None and known.location == record.location:
        return known
    return registry.add_gallery(record)
