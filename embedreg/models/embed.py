"""Embed input files with generations: into an embeddings file, or into paired embeddings.

:func:`embed_inputs` is what ``embedreg embed`` runs: items are read from a
``.txt`` / ``.jsonl`` / ``.csv`` file a chunk at a time, encoded (length
sorted within the chunk) and streamed to an
:class:`~embedreg.data.embeddings.EmbeddingsWriter`, so memory holds one
chunk of texts and vectors whatever the input's size. The ids (and labels,
when the input has them) are stored with the vectors.

:func:`embed_pairs` embeds one input with two generations and pairs the
vectors by id (what ``embedreg adapter train NEW OLD --texts INPUT`` trains
on); labels in the input are kept.  Each generation's vectors are cached as
an ordinary embeddings file named by a key over everything that decides them:
the generation's pin and recipe hash, the role, the sha256 of the input
file's bytes and the fields read from it.  Any change to one of those is
another key, so a stale file is never used; a cached file is still read with
its generation checked (name, pin, recipe).  A recipe whose query and document
prefixes are equal embeds both roles alike, so either role's file serves the
other (a forward adapter reuses a backward one's vectors).  The cache lives in the registry
directory (``<registry>/cache/embeddings/``) for a local registry, else in
``$EMBEDREG_CACHE/embeddings`` (default ``~/.cache/embedreg/embeddings``).  Deleting it is
always safe.

Example:
    >>> result = embed_inputs(reg.generation("v2"), "docs.txt", "e.safetensors")  # doctest: +SKIP
    >>> result.count, result.dimension  # doctest: +SKIP
    (500, 384)
    >>> pairs = embed_pairs(reg, "v3", "v2", "bbc.jsonl")  # doctest: +SKIP
    >>> pairs.source.shape, pairs.target.shape  # doctest: +SKIP
    ((2225, 768), (2225, 384))
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..constants import (
    CACHE_DIRNAME,
    DEFAULT_CACHE_DIR,
    DEFAULT_SHARD_ROWS,
    ENV_CACHE,
    ROLES,
)
from ..data.embeddings import EmbeddingsWriter, load_embeddings
from ..data.images import read_images
from ..data.inputs import count_lines, read_inputs
from ..data.pairs import PairedEmbeddings, pair_embeddings
from ..errors import InputError, ValidationError
from ..registry import Generation, LocalStore, Registry, Tower
from ..util.callbacks import NamedProgress
from ..util.hashing import canonical_json_sha256, file_sha256
from .encoder import Encoder, ProgressCallback
from .images import embed_images
from .results import EmbedResult, check_output
from .sharded import WorkSpec, launched, on_main, prepare, processes, read_chunks, run

__all__ = [
    "CACHE_KEY_VERSION",
    "EmbedResult",
    "cache_key",
    "check_output",
    "embed_inputs",
    "embed_pairs",
    "embeddings_cache_dir",
]

#: Version of the cache key layout (bump to invalidate every cached file).
CACHE_KEY_VERSION = 1

#: ``progress(generation, done, total)`` while a generation embeds the input.
PairProgress = NamedProgress
#: ``on_cached(generation, path)`` when a generation's vectors come from the cache.
CachedFn = Callable[[str, Path], None]


def embed_inputs(
    generation: Generation,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    role: str = "document",
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "auto",
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    chunk_size: int = 8192,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    encoder: Encoder | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    num_processes: int = 1,
) -> EmbedResult:
    """Embed every item of ``input_path`` with ``generation`` into ``output_path``.

    Args:
        generation: the generation to embed with.
        input_path: a ``.txt``, ``.jsonl`` or ``.csv`` file (see :mod:`embedreg.data.inputs`).
        output_path: the embeddings file to write (atomically; a folder of
            shards beyond ``shard_rows`` rows).
        role: ``query`` or ``document`` (chooses the recipe's prefix).
        batch_size, device, precision: passed to the :class:`~embedreg.models.Encoder`.
        text_field, id_field, label_field: passed to :func:`~embedreg.data.inputs.read_inputs`.
        chunk_size: items read, encoded and written at a time.
        shard_rows: rows per shard file.
        encoder: an already loaded encoder of ``generation`` to reuse.
        progress: called with ``(items done, estimated total)`` after each batch.
        overwrite: replace an existing ``output_path`` (never the input itself).
        num_processes: above 1, embed data-parallel in that many processes
            started with accelerate (:mod:`.sharded`): ``chunk_size`` items
            are checkpointed at a time in a work folder beside the output
            (``.OUT.work``), so a rerun after a crash embeds only what is
            missing.  Inside ``accelerate launch`` every process runs this
            function and takes a share; the main one writes the output.

    Raises:
        ConflictError: ``output_path`` exists (unless ``overwrite``) or is the input.
        InputError: a bad input file (named, with the line) or one with no items;
            both are checked before the model loads.
        ModelChanged, ModelLoadError: the model cannot be loaded as pinned.

    Example:
        >>> embed_inputs(gen, "queries.jsonl", "q.safetensors", role="query").count  # doctest: +SKIP
        120
    """
    source = Path(input_path)
    check_output(output_path, source, overwrite=overwrite)
    if num_processes > 1 or launched():
        return _embed_sharded(
            generation,
            source,
            Path(output_path),
            WorkSpec(
                generation,
                str(source.resolve()),
                input_sha256="",
                count=0,
                role=role,
                text_field=text_field,
                id_field=id_field,
                label_field=label_field,
                chunk_size=chunk_size,
                batch_size=batch_size,
                precision=precision,
            ),
            num_processes=num_processes,
            device=device,
            shard_rows=shard_rows,
            progress=progress,
        )
    items = read_inputs(source, text_field=text_field, id_field=id_field, label_field=label_field)
    if not source.is_file():
        raise InputError(str(source), None, "does not exist or is not a file", "check the path")
    first = next(items, None)  # a bad or empty input fails before the model loads
    if first is None:
        raise InputError(str(source), None, "holds no items", "give it at least one item")
    items = itertools.chain([first], items)
    total = count_lines(source) - (1 if source.suffix.lower() == ".csv" else 0)
    if encoder is None:
        encoder = Encoder(generation, device=device, batch_size=batch_size, precision=precision)
    elif encoder.generation != generation:
        raise ValidationError(
            f"the encoder given belongs to generation {encoder.generation.name!r}, "
            f"not {generation.name!r}",
            "pass an encoder of the generation that embeds, or none",
        )
    if progress is not None:
        progress(0, total)
    started = time.perf_counter()
    with EmbeddingsWriter(output_path, generation, role, shard_rows=shard_rows) as writer:
        while True:
            chunk = list(itertools.islice(items, chunk_size))
            if not chunk:
                break
            done = writer.count

            def report(n: int, _total: int | None, base: int = done) -> None:
                if progress is not None:
                    progress(base + n, max(total, base + n))

            vectors = encoder.encode([item.text for item in chunk], role=role, progress=report)
            labels = [item.label for item in chunk]
            writer.write(
                vectors,
                ids=[item.id for item in chunk],
                labels=None if labels[0] is None else [str(x) for x in labels],
            )
        if writer.count == 0:
            raise InputError(str(source), None, "holds no items", "give it at least one item")
    return EmbedResult.written(writer, generation, encoder, role=role, started=started)


def _embed_sharded(
    generation: Generation,
    source: Path,
    output: Path,
    draft: WorkSpec,
    *,
    num_processes: int,
    device: str,
    shard_rows: int,
    progress: ProgressCallback | None,
) -> EmbedResult:
    """:func:`embed_inputs` through a checkpointed work folder, on one or more processes."""
    work = output.parent / f".{output.name}.work"
    procs = processes(device)
    started = time.perf_counter()

    def setup() -> WorkSpec:
        if not source.is_file():
            raise InputError(str(source), None, "does not exist or is not a file", "check the path")
        count = sum(
            1
            for _ in read_inputs(
                source,
                text_field=draft.text_field,
                id_field=draft.id_field,
                label_field=draft.label_field,
            )
        )
        if count == 0:
            raise InputError(str(source), None, "holds no items", "give it at least one item")
        spec = replace(draft, input_sha256=file_sha256(source), count=count)
        prepare(work, spec)
        return spec

    spec = on_main(procs, setup)
    if run(work, num_processes=num_processes, device=device, progress=progress, procs=procs):
        with EmbeddingsWriter(output, generation, spec.role, shard_rows=shard_rows) as writer:
            for chunk in read_chunks(work):
                writer.write(chunk.vectors, ids=chunk.ids, labels=chunk.labels)
        shutil.rmtree(work, ignore_errors=True)
    return EmbedResult(
        path=output,
        generation=generation.name,
        pin=generation.pin,
        role=spec.role,
        count=spec.count,
        dimension=generation.dimension,
        seconds=time.perf_counter() - started,
        device=procs.device if procs.world > 1 or num_processes == 1 else device,
        precision=(
            spec.precision
            if spec.precision != "auto"
            else ("fp32" if procs.device == "cpu" else "fp16")
        ),
        processes=max(procs.world, num_processes),
        process=procs.rank,
    )


def embeddings_cache_dir(registry: Registry) -> Path:
    """Where :func:`embed_pairs` keeps embedded inputs for ``registry``."""
    if isinstance(registry.store, LocalStore):
        return registry.store.root / CACHE_DIRNAME
    return Path(os.environ.get(ENV_CACHE) or DEFAULT_CACHE_DIR).expanduser() / "embeddings"


def cache_key(
    generation: Generation,
    input_sha256: str,
    role: str,
    fields: tuple[str, str | None, str | None],
) -> str:
    """The cache key of ``generation``'s vectors of an input (hex sha256)."""
    return canonical_json_sha256(
        {
            "version": CACHE_KEY_VERSION,
            "pin": generation.pin,
            "recipe": generation.recipe.hash,
            "role": role,
            "input": input_sha256,
            "fields": list(fields),
        }
    )


def embed_pairs(
    registry: Registry,
    new: str,
    old: str,
    input_path: str | os.PathLike[str],
    *,
    role: str = "query",
    device: str = "auto",
    batch_size: int = 32,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    use_cache: bool = True,
    progress: PairProgress | None = None,
    on_cached: CachedFn | None = None,
    tower: Tower = Tower.TEXT,
) -> PairedEmbeddings:
    """Embed ``input_path`` with generations ``new`` and ``old`` and pair the vectors by id.

    Args:
        registry: where the generations are registered (and, when local,
            where the cache lives).
        new, old: the two generations (names or aliases).
        input_path: the items, ``.txt`` / ``.jsonl`` / ``.csv``.
        role: ``query`` or ``document``: which recipe prefix both sides use
            (``query`` suits backward adapters, whose inputs are queries).
        device, batch_size: for the encoders.
        text_field, id_field, label_field: see :func:`embedreg.data.inputs.read_inputs`.
        use_cache: read and write the embeddings cache.
        progress: ``(generation, done, total)`` while embedding.
        on_cached: ``(generation, path)`` when the cache serves a generation.
        tower: ``image`` embeds a folder or list of images with both
            generations' image towers (``text_field`` names the image column).

    Raises:
        InputError, ModelChanged, ModelLoadError, TrainingDataError.
    """
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    doc = registry.document()
    gens = [doc.generation(new), doc.generation(old)]
    source = Path(input_path)
    digest = file_sha256(source) if source.is_file() else ""
    cache = embeddings_cache_dir(registry)
    loaded = []
    for gen in gens:
        field = text_field if tower == Tower.TEXT else f"image:{text_field}"
        if tower == Tower.IMAGE:
            digest = _images_digest(source, text_field, id_field, label_field)
        fields = (field, id_field, label_field)
        path = cache / f"{gen.name}-{cache_key(gen, digest, role, fields)[:32]}.safetensors"
        if use_cache and not path.exists():
            path = _same_vectors_cached(cache, gen, digest, role, fields) or path
        if not (use_cache and path.exists()):
            cache.mkdir(parents=True, exist_ok=True)

            def report(done: int, total: int | None, name: str = gen.name) -> None:
                if progress is not None:
                    progress(name, done, total)

            target = (
                path if use_cache else cache / f".uncached-{gen.name}-{os.getpid()}.safetensors"
            )
            embed_one = embed_inputs if tower == Tower.TEXT else _embed_images
            embed_one(
                gen,
                source,
                target,
                overwrite=True,  # the cache's own file: a crashed run may have left it
                role=role,
                device=device,
                batch_size=batch_size,
                text_field=text_field,
                id_field=id_field,
                label_field=label_field,
                progress=report,
            )
            emb = load_embeddings(target, generation=gen)
            if not use_cache:
                _remove(target)
        else:
            if on_cached is not None:
                on_cached(gen.name, path)
            emb = load_embeddings(path, generation=gen)
        loaded.append(emb)
    return pair_embeddings(
        loaded[0],
        loaded[1],
        new_generation=gens[0].name,
        old_generation=gens[1].name,
        what=(f"{gens[0].name} vectors", f"{gens[1].name} vectors"),
    )


def _same_vectors_cached(
    cache: Path, gen: Generation, digest: str, role: str, fields: tuple[str, str | None, str | None]
) -> Path | None:
    """The other role's cached vectors when ``gen``'s two prefixes are equal (the same vectors).

    A forward adapter embeds as documents and a backward one as queries; a
    recipe with equal prefixes gives both the same vectors, so either serves.
    """
    if gen.recipe.query_prefix != gen.recipe.document_prefix:
        return None
    for other in ROLES:
        if other != role:
            path = cache / f"{gen.name}-{cache_key(gen, digest, other, fields)[:32]}.safetensors"
            if path.exists():
                return path
    return None


def _embed_images(
    gen: Generation, source: Path, target: Path, *, text_field: str, **options: Any
) -> EmbedResult:
    return embed_images(gen, source, target, image_field=text_field, **options)


def _images_digest(source: Path, field: str, id_field: str | None, label_field: str | None) -> str:
    """A key over images: the list's bytes, and each image's path, size and modification time."""
    listing = []
    for item in read_images(
        source,
        image_field=None if source.is_dir() else field,
        id_field=id_field,
        label_field=label_field,
    ):
        try:
            stat = item.path.stat()
        except OSError:
            raise item.error("unreadable", "does not exist") from None
        listing.append((str(item.path), stat.st_size, stat.st_mtime_ns))
    return canonical_json_sha256([file_sha256(source) if source.is_file() else "", listing])


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
