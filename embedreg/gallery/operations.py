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

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import GALLERY_BUILD_JOURNAL, GALLERY_MANIFEST
from ..errors import (
    DuplicateName,
    EmbedRegError,
    InvalidName,
    UnknownGallery,
    UnknownGeneration,
    ValidationError,
)
from ..registry import GalleryRecord, Generation, Registry, validate_name
from ..routing import Resolver, RoutingPolicy
from . import dbops
from .claims import check_empty, claim, discard_interrupted_build
from .database import DatabaseGallery
from .gallery import Gallery
from .hits import Hits
from .index import IndexSpec
from .kinded import GalleryPath, resolve_path
from .locate import folder_of, is_url, open_gallery
from .sources import Progress, check_source, is_embeddings_source, source_items, source_record

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Progress",
    "add_to_gallery",
    "build_gallery",
    "check_source",
    "default_gallery_name",
    "is_embeddings_source",
    "register_gallery",
    "remove_from_gallery",
    "resolve",
    "search_gallery",
]


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

    A journal file in ``out`` marks the build until it is registered: a build
    that was killed is redone from the start by running it again, and running
    a finished build again finds it (same name, generation and source) and
    returns it.

    Raises:
        DuplicateName: ``out`` holds another gallery, or the registry knows the name.
        GenerationMismatch: the embeddings file comes from another generation.
        ConflictError: another build of the same folder is running.
    """
    if is_url(out):
        return dbops.build(  # type: ignore[return-value]
            registry,
            generation,
            source,
            os.fspath(out),
            metric=metric,
            name=name,
            options=dbops.SourceOptions(text_field, id_field, device, batch_size),
            register=register,
            progress=progress,
        )
    gen = registry.generation(generation)
    folder = Path(os.path.abspath(folder_of(out)))
    src = Path(source)
    gallery_name = validate_name(name, "gallery") if name else default_gallery_name(folder)
    record = GalleryRecord(name=gallery_name, location=str(folder), generation=gen.name)
    existing = registry.document().galleries.get(gallery_name) if register else None
    journal = folder / GALLERY_BUILD_JOURNAL
    if folder.exists() and not folder.is_dir():
        raise ValidationError(f"{folder} is a file, not a folder", "choose another -o")
    if journal.exists():
        discard_interrupted_build(folder, journal)  # its files are an unfinished build's
    elif (folder / GALLERY_MANIFEST).exists():
        done = _built_already(folder, gen, src, text_field, id_field, record, existing, register)
        if done is not None:
            return done
        raise DuplicateName(
            "gallery folder", str(folder), "an existing gallery", hint="choose another -o folder"
        )
    else:
        check_empty(folder)  # a build writes only into a new or empty folder, or its own
    if existing is not None and existing.location != record.location:
        raise DuplicateName("gallery", gallery_name, f"the gallery at {existing.location}")
    check_source(src, text_field=text_field, id_field=id_field)  # before any model loads
    spec = IndexSpec(index) if isinstance(index, str) else index
    gallery = Gallery.create(gen, metric=metric, index=spec, name=gallery_name)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"pid": os.getpid(), "name": gallery_name, "generation": gen.name})
    claim(folder, journal, text)  # before any gallery file (a rerun may redo them)
    pending: list[tuple[Any, list[str], list[str | None]]] = []
    for vectors, ids, texts in source_items(
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
        journal.unlink()
        raise ValidationError(f"{src} holds no items", "give an input with at least one item")
    gallery.sources.append(source_record(src, text_field, id_field))
    gallery.save(folder)
    if register:
        registry.add_gallery(record, replace=existing is not None)
    journal.unlink()  # the build is complete
    return gallery


def _built_already(
    folder: Path,
    gen: Generation,
    src: Path,
    text_field: str,
    id_field: str | None,
    record: GalleryRecord,
    existing: GalleryRecord | None,
    register: bool,
) -> Gallery | None:
    """The gallery in ``folder`` if it is exactly this build, done (a rerun finds it), else None."""
    try:
        gallery = Gallery.load(folder)
    except EmbedRegError:
        return None
    same = (
        gallery.name == record.name
        and gallery.generations == [gen.name]
        and gallery.segments[gen.name].matches(gen)
        and gallery.sources == [source_record(src, text_field, id_field)]
    )
    registered = not register or (existing is not None and existing.location == record.location)
    return gallery if same and registered else None


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
    generation.  A generation the gallery has no segment of gets a new one
    (the gallery then holds items of several generations, each searched
    through its own path).  Returns the number of items added: 0 when the
    gallery already holds the items of that very file (same content), e.g. on
    a rerun after a kill.
    """
    if is_url(gallery):
        return dbops.add(
            registry,
            os.fspath(gallery),
            source,
            generation=generation,
            options=dbops.SourceOptions(text_field, id_field, device, batch_size),
            progress=progress,
        )
    src = Path(source)
    ids = check_source(src, text_field=text_field, id_field=id_field)  # before the lock
    with Gallery.edit(folder_of(gallery)) as g:
        if generation is None:
            if len(g.generations) != 1:
                raise ValidationError(
                    f"gallery {gallery} has segments of {', '.join(g.generations)}",
                    "say which one the new items belong to with --gen",
                )
            generation = g.generations[0]
        gen = registry.generation(generation)
        if gen.name not in g.segments:
            g.add_segment(gen)
        g.segment_for(gen)
        origin = source_record(src, text_field, id_field)
        # Items are told apart by id: those of a file added before that the gallery
        # still holds are skipped (a rerun, or adding it again after 'gallery rm');
        # another file's item with a taken id is a clash, found before any model loads.
        again = origin in g.sources
        present = frozenset(i for i in (ids or []) if i in g)
        if present and not again:
            first = next(i for i in (ids or []) if i in g)
            raise DuplicateName(
                "item",
                first,
                f"an item already in the gallery ({len(present)} of {src}'s ids are)",
            )
        if ids is not None and len(present) == len(ids):
            return 0  # every item is there already
        skip = present if ids is not None else frozenset(g.ids()) if again else frozenset()
        added = 0
        for vectors, batch_ids, texts in source_items(
            gen,
            src,
            text_field=text_field,
            id_field=id_field,
            device=device,
            batch_size=batch_size,
            progress=progress,
            skip=skip,
        ):
            added += g.add(vectors, batch_ids, generation=gen, texts=texts)
        if not again:
            g.sources.append(origin)
    return added


def remove_from_gallery(gallery: str | os.PathLike[str], ids: Sequence[str]) -> int:
    """Remove items by id from a saved gallery (under its lock); returns how many."""
    if is_url(gallery):
        with DatabaseGallery.edit(os.fspath(gallery)) as d:
            return d.remove(list(ids))
    with Gallery.edit(folder_of(gallery)) as g:
        return g.remove(list(ids))


def search_gallery(
    registry: Registry,
    gallery: str | os.PathLike[str] | Gallery | DatabaseGallery,
    queries: Sequence[str] | npt.NDArray[np.float32],
    *,
    generation: str,
    k: int = 10,
    resolver: Resolver | None = None,
    device: str = "auto",
    merge: str = "auto",
    policy: RoutingPolicy | None = None,
    write_back: int = 0,
) -> Hits:
    """Search a gallery with texts or vectors of ``generation``, routed per segment.

    Texts are embedded with the generation's recipe (query role); vectors
    must already be that generation's.  ``merge`` is how the segments'
    results combine (``auto``, ``score``, ``calibrated``, ``rrf``).

    ``policy`` is which paths are accepted, as ``embedreg gallery search``'s
    routing options and ``--paths``: by default the resolver's policy, else
    :class:`~embedreg.routing.RoutingPolicy`'s defaults, which allow every
    kind (``--paths any``).  So query texts may take a fused path or a
    cascade where one is measured better (``hits.kinds`` names each
    segment's path); ``kinds=frozenset({PathKind.MAP})`` keeps the compiled
    maps alone.  ``write_back=N`` moves up to N of each query's cascade
    candidates into the query's segment (a gallery folder; ``--write-back``).

    Example:
        >>> hits = search_gallery(reg, "galleries/news", ["rate rise"], generation="v3")  # doctest: +SKIP
        >>> {s: r.kind.value for s, r in hits.kinds.items()}  # doctest: +SKIP
        {'v2': 'cascade'}
        >>> maps = RoutingPolicy(kinds=frozenset({PathKind.MAP}))  # doctest: +SKIP
        >>> search_gallery(reg, "galleries/news", ["rate rise"], generation="v3", policy=maps).kinds  # doctest: +SKIP
        {}
    """
    options: dict[str, Any] = {
        "generation": generation,
        "registry": registry,
        "resolver": resolver,
        "device": device,
        "merge": merge,
        "policy": policy,
        "write_back": write_back,
    }
    if isinstance(gallery, (Gallery, DatabaseGallery)):
        return gallery.search(queries, k, **options)
    g = open_gallery(gallery)
    try:
        return g.search(queries, k, **options)
    finally:
        if isinstance(g, DatabaseGallery):
            g.close()


def resolve(
    query: str,
    gallery: Any,
    *,
    registry: Registry | None = None,
    policy: RoutingPolicy | None = None,
) -> GalleryPath:
    """The best path for queries of generation ``query`` to reach ``gallery``.

    ``gallery`` is a generation name or alias, a gallery registered in the
    registry (by name), a gallery folder or database URL, or a loaded
    :class:`Gallery`.  ``policy`` is which paths are accepted
    (:class:`~embedreg.routing.RoutingPolicy`, as ``embedreg resolve``'s
    options; with ``require_compatible`` paths through adapters that failed,
    or were not judged by, the compatibility criterion are refused).  Its
    default allows every kind, as ``embedreg resolve`` (``--paths any``)
    does: the chosen path is a compiled map, a fused path or a cascade
    (``.kind``), whichever is best on held-out quality, then cost
    (:mod:`embedreg.routing.kinds`); ``.map_path`` is the
    :class:`~embedreg.routing.QueryPath` it applies (a fused path's or a
    cascade's first stage), ``.explain()`` says why, ``.search(gallery,
    texts, k, registry=reg)`` searches with it.
    ``policy=RoutingPolicy(kinds=frozenset({PathKind.MAP}))`` gives a map.

    A gallery whose items come from several generations (after a partial
    upgrade) has one path per segment: use
    :func:`~embedreg.gallery.kinded.route_kinds` (every kind) or
    :meth:`Gallery.routes` (maps) for it.

    Example:
        >>> import embedreg
        >>> reg = embedreg.Registry.open()  # doctest: +SKIP
        >>> path = embedreg.resolve("v3", "news", registry=reg)  # doctest: +SKIP
        >>> path.kind.value, path.map_path.adapter_ids, round(path.quality, 3)  # doctest: +SKIP
        ('cascade', ['v3-to-v2.lambda-orth'], 0.995)
        >>> maps = embedreg.RoutingPolicy(kinds=frozenset({embedreg.PathKind.MAP}))  # doctest: +SKIP
        >>> embedreg.resolve("v3", "news", registry=reg, policy=maps).kind.value  # doctest: +SKIP
        'map'

    Raises:
        UnknownGeneration / UnknownGallery: a name the registry does not know.
        NoCompatiblePath: no measured path, or none the policy allows.
    """
    reg = registry if registry is not None else Registry.open()
    policy = policy if policy is not None else RoutingPolicy()
    texts: bool | None = None
    if isinstance(gallery, (Gallery, DatabaseGallery)):
        generations = gallery.generations
        texts = _keeps_texts(gallery, generations)
    else:
        target = os.fspath(gallery)
        doc = reg.document()
        if target in doc.generations or target in doc.aliases:
            return resolve_path(reg, query, target, policy)
        if target in doc.galleries:
            target = doc.galleries[target].location
        if is_url(target):
            with DatabaseGallery.open(target) as d:
                generations = d.generations
                texts = _keeps_texts(d, generations)
        elif not (Path(target) / GALLERY_MANIFEST).exists():
            known = list(doc.galleries)
            if os.sep in target or Path(target).exists():
                raise UnknownGallery(target, known)
            raise UnknownGeneration(target, [*doc.generations, *doc.aliases, *known])
        else:
            loaded = Gallery.load(target, verify=False)
            generations = loaded.generations
            texts = _keeps_texts(loaded, generations)
    if len(generations) != 1:
        raise ValidationError(
            f"the gallery holds items of several generations ({', '.join(generations)})",
            "use embedreg.gallery.kinded.route_kinds(gallery, generation, registry, policy) "
            "for one path per segment",
        )
    return resolve_path(reg, query, generations[0], policy, texts=texts)


def _keeps_texts(gallery: Gallery | DatabaseGallery, generations: Sequence[str]) -> bool | None:
    """Whether a one-segment gallery keeps its items' texts (a cascade needs them)."""
    if len(generations) != 1:
        return None
    return gallery.keeps_texts(generations[0])


def register_gallery(
    registry: Registry, folder: str | os.PathLike[str], *, name: str | None = None
) -> GalleryRecord:
    """Register an existing gallery folder (one that lost its record, or was copied here).

    The gallery is loaded and verified; its generation must be registered
    with the same pin and recipe.  The name defaults to the one the gallery
    was built with, else the folder's.  Registering the same folder again
    under its name is harmless.

    Raises:
        NotFound / GalleryError: no valid gallery in ``folder``.
        GenerationMismatch: the registry's generation differs from the gallery's.
        DuplicateName: the name is taken by another gallery.
        ValidationError: a gallery of several generations (register its upgrade instead).

    Example:
        >>> register_gallery(reg, "galleries/news").name  # doctest: +SKIP
        'news'
    """
    if is_url(folder):
        return dbops.register(registry, os.fspath(folder), name=name)
    path = Path(os.path.abspath(folder_of(folder)))
    gallery = Gallery.load(path)
    if len(gallery.generations) != 1:
        raise ValidationError(
            f"gallery {path} holds items of several generations ({', '.join(gallery.generations)})",
            f"only one generation's gallery is registered: upgrade it to one first ('embedreg upgrade apply {path} --to GEN --strategy reembed')",
        )
    (generation,) = gallery.generations
    gallery.segments[generation].check(registry.generation(generation), f"gallery {path}")
    record = GalleryRecord(
        name=validate_name(name, "gallery") if name else gallery.name or default_gallery_name(path),
        location=str(path),
        generation=generation,
    )
    existing = registry.document().galleries.get(record.name)
    if existing is not None and existing.location == record.location:
        return existing
    return registry.add_gallery(record)
