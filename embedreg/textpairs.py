"""Paired embeddings from raw inputs: one input file embedded by two generations, cached.

``embedreg adapter train NEW OLD --texts INPUT`` needs the same items embedded
by both generations.  :func:`embed_pairs` reads ``INPUT`` (``.txt``,
``.jsonl`` or ``.csv``, see :mod:`embedreg.inputs`), embeds it with each
generation through :func:`embedreg.embed.embed_inputs` and pairs the two
by id; labels in the input are kept (they enable CMC, mAP and the
compatibility criterion).

**Cache.**  Each generation's vectors are kept as an ordinary embeddings file
named by a key over everything that decides them: the generation's pin and
recipe hash, the role, the sha256 of the input file's bytes and the fields
read from it.  Any change to one of those is another key, so a stale file is
never used; a cached file is still read with its generation checked (name,
pin, recipe).  The cache lives in the registry directory
(``<registry>/cache/embeddings/``) for a local registry, else in
``$EMBEDREG_CACHE`` or ``~/.cache/embedreg/embeddings``.  Deleting it is
always safe.

Example:
    >>> pairs = embed_pairs(reg, "v3", "v2", "bbc.jsonl")  # doctest: +SKIP
    >>> pairs.source.shape, pairs.target.shape  # doctest: +SKIP
    ((2225, 768), (2225, 384))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .constants import ROLES
from .errors import ValidationError
from .hashing import canonical_json_sha256, file_sha256

if TYPE_CHECKING:
    from .generation import Generation
    from .pairs import PairedEmbeddings
    from .registry import Registry

#: Environment variable for the embeddings cache of non-local registries.
ENV_CACHE = "EMBEDREG_CACHE"
#: Version of the cache key layout (bump to invalidate every cached file).
CACHE_KEY_VERSION = 1

#: ``progress(generation, done, total)`` while a generation embeds the input.
PairProgress = Callable[[str, int, "int | None"], None]
#: ``on_cached(generation, path)`` when a generation's vectors come from the cache.
CachedFn = Callable[[str, Path], None]


def embeddings_cache_dir(registry: Registry) -> Path:
    """Where :func:`embed_pairs` keeps embedded inputs for ``registry``."""
    from .stores.local import LocalStore

    if isinstance(registry.store, LocalStore):
        return registry.store.root / "cache" / "embeddings"
    root = os.environ.get(ENV_CACHE) or str(Path("~/.cache/embedreg").expanduser())
    return Path(root) / "embeddings"


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
        text_field, id_field, label_field: see :func:`embedreg.inputs.read_inputs`.
        use_cache: read and write the embeddings cache.
        progress: ``(generation, done, total)`` while embedding.
        on_cached: ``(generation, path)`` when the cache serves a generation.

    Raises:
        InputError, ModelChanged, ModelLoadError, TrainingDataError.
    """
    from .embed import embed_inputs
    from .embeddings import load_embeddings
    from .pairs import pair_embeddings

    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    doc = registry.document()
    gens = [doc.generation(new), doc.generation(old)]
    source = Path(input_path)
    digest = file_sha256(source) if source.is_file() else ""
    cache = embeddings_cache_dir(registry)
    loaded = []
    for gen in gens:
        key = cache_key(gen, digest, role, (text_field, id_field, label_field))
        path = cache / f"{gen.name}-{key[:32]}.safetensors"
        if not (use_cache and path.exists()):
            cache.mkdir(parents=True, exist_ok=True)

            def report(done: int, total: int | None, name: str = gen.name) -> None:
                if progress is not None:
                    progress(name, done, total)

            target = (
                path if use_cache else cache / f".uncached-{gen.name}-{os.getpid()}.safetensors"
            )
            embed_inputs(
                gen,
                source,
                target,
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


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
