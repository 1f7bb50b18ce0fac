"""Gallery operations on files and texts: build, add, search, register.

:class:`~embedreg.gallery.Gallery` is the data structure (vectors in, ids
out); this module connects it to the rest of embedreg: raw inputs are embedded
with the gallery's generation (:class:`~embedreg.models.Encoder`), embeddings
files are checked against it, texts used as queries are embedded with the
query generation, built galleries are registered in the registry, and
:func:`resolve` finds the path for a generation, a gallery name or a folder.
The CLI's ``gallery`` commands are thin views over these functions.

Example:
    >>> reg = Registry.open(".embedreg")  # doctest: +SKIP
    >>> g = build_gallery(reg, "v2", "docs.jsonl", "galleries/news")  # doctest: +SKIP
    >>> hits = search_gallery(reg, "galleries/news", ["rate rise"], generation="v3", k=5)  # doctest: +SKIP
    >>> hits.ids[0]  # doctest: +SKIP
    ['biz-101', 'biz-007', ...]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import EMBEDDINGS_INDEX_FILENAME, GALLERY_MANIFEST
from ..data.embeddings import iter_embeddings, read_meta
from ..data.inputs import count_lines, read_inputs
from ..errors import DuplicateName, InvalidName, UnknownGallery, UnknownGeneration, ValidationError
from ..models import Encoder
from ..registry import GalleryRecord, Generation, Registry, validate_name
from ..routing import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY, QueryPath, Resolver
from ..util.hashing import file_sha256
from .gallery import Gallery
from .index import IndexSpec
from .search import Hits

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: ``progress(done, total)``; ``total`` is ``None`` when unknown.
Progress = Callable[[int, "int | None"], None]

#: Items embedded and added per step when building from raw inputs.
CHUNK = 4096


def is_embeddings_source(path: str | os.PathLike[str]) -> bool:
    """True for an embeddings file (``.safetensors``) or a sharded embeddings folder."""
    p = Path(path)
    return p.suffix == ".safetensors" or (p.is_dir() and (p / EMBEDDINGS_INDEX_FILENAME).exists())


def default_gallery_name(folder: str | os.PathLike[str]) -> str:
    """A registry name from a folder's name (``News Galleries/BBC`` → ``bbc``)."""
    base = Path(os.path.abspath(folder)).name.lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", base).strip("-._")
    try:
        return validate_name(name, "gallery")
    except InvalidName:
        raise InvalidName(
            "gallery", base, "derive no valid name from the folder; pass --name"
        ) from None


def _source_items(
    generation: Generation,
    source: Path,
    *,
    text_field: str,
    id_field: str | None,
    device: str,
    batch_size: int,
    progress: Progress | None,
) -> Iterator[tuple[np.ndarray, list[str], list[str | None]]]:
    """Vectors, ids and texts, a chunk at a time, from an embeddings file or raw inputs."""
    if is_embeddings_source(source):
        total = read_meta(source).count
        if progress:
            progress(0, total)
        for batch in iter_embeddings(source, batch_rows=CHUNK * 4, generation=generation):
            ids = batch.ids or [str(batch.start + n) for n in range(len(batch))]
            yield batch.vectors, ids, [None] * len(batch)
            if progress:
                progress(batch.start + len(batch), total)
        return
    items = read_inputs(source, text_field=text_field, id_field=id_field)
    total = count_lines(source) - (1 if source.suffix.lower() == ".csv" else 0)
    encoder = Encoder(generation, device=device, batch_size=batch_size)
    if progress:
        progress(0, total)  # the work's size is known from its start
    done = 0
    while True:
        chunk = [item for _, item in zip(range(CHUNK), items, strict=False)]
        if not chunk:
            return
        texts = [item.text for item in chunk]

        def report(n: int, _total: int | None, base: int = done) -> None:
            if progress:
                progress(base + n, max(total, base + n))

        vectors = encoder.encode(texts, role="document", progress=report)
        done += len(chunk)
        yield vectors, [item.id for item in chunk], list(texts)


def _source_record(source: Path, text_field: str, id_field: str | None) -> dict[str, Any]:
    path = os.path.abspath(source)
    if is_embeddings_source(source):
        return {"kind": "embeddings", "path": path}
    record: dict[str, Any] = {"kind": "inputs", "path": path, "sha256": file_sha256(source)}
    if source.suffix.lower() in (".jsonl", ".csv"):
        record["text_field"] = text_field
        if id_field:
            record["id_field"] = id_field
    return record


def build_gallery(
    registry: Registry,
    generation: str,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    index: IndexSpec | str = "flat",
    metric: str = "ip",
    name: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    device: str = "auto",
    batch_size: int = 32,
    register: bool = True,
    progress: Progress | None = None,
) -> Gallery:
    """Build a gallery at ``out`` from raw inputs or an embeddings file, and register it.

    Raw inputs (``.txt``/``.jsonl``/``.csv``) are embedded with the
    generation's recipe (documents role) and their texts kept, so the gallery
    can be re-embedded later; an embeddings file must have been made by the
    same generation (checked by pin and recipe) and is recorded as a pointer.

    Raises:
        DuplicateName: ``out`` holds a gallery, or the registry knows the name.
        GenerationMismatch: the embeddings file comes from another generation.
    """
    gen = registry.generation(generation)
    folder = Path(out)
    src = Path(source)
    gallery_name = validate_name(name, "gallery") if name else default_gallery_name(folder)
    if register:
        existing = registry.document().galleries.get(gallery_name)
        if existing is not None:
            raise DuplicateName("gallery", gallery_name, f"the gallery at {existing.location}")
    if (folder / GALLERY_MANIFEST).exists():
        raise DuplicateName("gallery folder", str(folder), "an existing gallery; choose another -o")
    spec = IndexSpec(index) if isinstance(index, str) else index
    gallery = Gallery.create(gen, metric=metric, index=spec, name=gallery_name)
    pending: list[tuple[Any, list[str], list[str | None]]] = []
    for vectors, ids, texts in _source_items(
        gen,
        src,
        text_field=text_field,
        id_field=id_field,
        device=device,
        batch_size=batch_size,
        progress=progress,
    ):
        if spec.training_size and gallery.segments[gen.name].count == 0:
            pending.append((vectors, ids, texts))  # IVF trains on its first batch: make it big
            if sum(len(p[1]) for p in pending) < spec.training_size:
                continue
            vectors, ids, texts = _concat(pending)
            pending = []
        gallery.add(vectors, ids, generation=gen, texts=texts)
    if pending:
        vectors, ids, texts = _concat(pending)
        gallery.add(vectors, ids, generation=gen, texts=texts)
    if len(gallery) == 0:
        raise ValidationError(f"{src} holds no items", "give an input with at least one item")
    gallery.sources.append(_source_record(src, text_field, id_field))
    gallery.save(folder)
    if register:
        registry.add_gallery(
            GalleryRecord(
                name=gallery_name, location=str(Path(os.path.abspath(folder))), generation=gen.name
            )
        )
    return gallery


def _concat(
    parts: list[tuple[Any, list[str], list[str | None]]],
) -> tuple[Any, list[str], list[str | None]]:
    import numpy as np

    return (
        np.concatenate([p[0] for p in parts]),
        [i for p in parts for i in p[1]],
        [t for p in parts for t in p[2]],
    )


def add_to_gallery(
    registry: Registry,
    gallery: str | os.PathLike[str],
    source: str | os.PathLike[str],
    *,
    generation: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    device: str = "auto",
    batch_size: int = 32,
    progress: Progress | None = None,
) -> int:
    """Add items from raw inputs or an embeddings file to a saved gallery (under its lock).

    ``generation`` picks the segment; it defaults to the gallery's only
    generation.  Returns the number of items added.
    """
    src = Path(source)
    with Gallery.edit(gallery) as g:
        if generation is None:
            if len(g.generations) != 1:
                raise ValidationError(
                    f"gallery {gallery} has segments of {', '.join(g.generations)}",
                    "say which one the new items belong to with --gen",
                )
            generation = g.generations[0]
        gen = registry.generation(generation)
        g.segment_for(gen)
        added = 0
        for vectors, ids, texts in _source_items(
            gen,
            src,
            text_field=text_field,
            id_field=id_field,
            device=device,
            batch_size=batch_size,
            progress=progress,
        ):
            added += g.add(vectors, ids, generation=gen, texts=texts)
        g.sources.append(_source_record(src, text_field, id_field))
    return added


def remove_from_gallery(gallery: str | os.PathLike[str], ids: Sequence[str]) -> int:
    """Remove items by id from a saved gallery (under its lock); returns how many."""
    with Gallery.edit(gallery) as g:
        return g.remove(list(ids))


def search_gallery(
    registry: Registry,
    gallery: str | os.PathLike[str] | Gallery,
    queries: Sequence[str] | npt.NDArray[np.float32],
    *,
    generation: str,
    k: int = 10,
    resolver: Resolver | None = None,
    device: str = "auto",
) -> Hits:
    """Search a gallery with texts or vectors of ``generation``, routed per segment.

    Texts are embedded with the generation's recipe (query role); vectors
    must already be that generation's.
    """
    g = gallery if isinstance(gallery, Gallery) else Gallery.load(gallery)
    return g.search(
        queries, k, generation=generation, registry=registry, resolver=resolver, device=device
    )


def resolve(
    query: str,
    gallery: Any,
    *,
    registry: Registry | None = None,
    max_hops: int = DEFAULT_MAX_HOPS,
    min_quality: float = DEFAULT_MIN_QUALITY,
    require_compatible: bool = False,
) -> QueryPath:
    """The best path for queries of generation ``query`` to reach ``gallery``.

    ``gallery`` is a generation name or alias, a gallery registered in the
    registry (by name), a gallery folder, or a loaded :class:`Gallery`.  A
    gallery whose items come from several generations (after a partial
    upgrade) has one path per segment: use :meth:`Gallery.routes` for it.
    ``require_compatible`` refuses paths through adapters that failed (or were
    not judged by) the compatibility criterion.

    Example:
        >>> import embedreg
        >>> path = embedreg.resolve("v3", "news", registry=embedreg.Registry.open())  # doctest: +SKIP
        >>> path.adapter_ids, round(path.quality, 3)  # doctest: +SKIP
        (['v3-to-v2.lambda-orth'], 0.981)

    Raises:
        UnknownGeneration / UnknownGallery: a name the registry does not know.
        NoCompatiblePath: no measured path, or none good enough.
    """
    reg = registry if registry is not None else Registry.open()
    resolver = Resolver(
        reg, max_hops=max_hops, min_quality=min_quality, require_compatible=require_compatible
    )
    if isinstance(gallery, Gallery):
        generations = gallery.generations
    else:
        target = os.fspath(gallery)
        doc = reg.document()
        if target in doc.generations or target in doc.aliases:
            return resolver.resolve(query, target)
        if target in doc.galleries:
            target = doc.galleries[target].location
        if not (Path(target) / GALLERY_MANIFEST).exists():
            known = list(doc.galleries)
            if os.sep in target or Path(target).exists():
                raise UnknownGallery(target, known)
            raise UnknownGeneration(target, [*doc.generations, *doc.aliases, *known])
        generations = Gallery.load(target, verify=False).generations
    if len(generations) != 1:
        raise ValidationError(
            f"the gallery holds items of several generations ({', '.join(generations)})",
            "use Gallery.routes(generation, registry=...) for one path per segment",
        )
    return resolver.resolve(query, generations[0])
