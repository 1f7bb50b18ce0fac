"""Pinning: describe a generation from a model folder or Hub repo, and register it.

:func:`pin_model` turns "this model, read this way" into a
:class:`~embedreg.registry.Generation`: a local folder is pinned by the
sha256 of its weight files, a Hub repo by a 40-hex commit (a branch or tag,
``main`` by default, is resolved to the commit it points to, and the
generation records what it was resolved from); every recipe field
left as ``None`` is read from the model's own config files (transformers
``config.json``, sentence-transformers ``modules.json``,
``1_Pooling/config.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json``), and explicit arguments win over what
the files say.  A text model is loaded to embed the built-in probe set: the
generation then carries its :class:`~embedreg.registry.Fingerprint`, which
``embedreg gen verify`` checks against later.

:func:`register_model` is what ``embedreg gen add`` runs: it checks the
registry first (before any model loads), pins, and registers.

Example:
    >>> gen = pin_model("v2", "/path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> gen.dimension, gen.recipe.pooling, gen.fingerprint is not None  # doctest: +SKIP
    (384, 'mean', True)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..constants import HUB_DEFAULT_BRANCH
from ..errors import DuplicateName, ModelLoadError, ModelSourceError
from ..registry import (
    MODALITIES,
    TEXT_IMAGE,
    Generation,
    HubSource,
    ImageRecipe,
    LocalSource,
    ModelSource,
    Recipe,
    Registry,
    Tower,
    towers_of,
    validate_name,
)
from ..registry.sources import COMMIT_RE, REPO_ID_RE
from .fingerprint import compute_fingerprint
from .folders import (
    ModelDirInfo,
    hub_snapshot,
    inspect_model_dir,
    require_safetensors,
    resolve_hub_revision,
)
from .towers import inspect_towers, load_image_processor, processor_config

__all__ = ["pin_model", "register_model"]

T = TypeVar("T")


def pin_model(
    name: str,
    model: str | os.PathLike[str],
    *,
    revision: str | None = None,
    pooling: str | None = None,
    normalize: bool | None = None,
    query_prefix: str | None = None,
    document_prefix: str | None = None,
    max_tokens: int | None = None,
    dimension: int | None = None,
    modality: str | None = None,
    parent: str | None = None,
    notes: str = "",
    fingerprint: bool | None = None,
    device: str = "auto",
) -> Generation:
    """Describe generation ``name`` from a local model folder or a Hub repo id.

    Args:
        name: the generation's registry name.
        model: a local model folder, or a Hub repo id (``owner/name``).
        revision: for a Hub repo, a branch, tag or 40-hex commit (default:
            the ``main`` branch).  A branch or tag is resolved to the commit
            it points to now; the generation is pinned to that commit and
            records what it was resolved from (``gen check-updates`` compares).
        pooling, normalize, query_prefix, document_prefix, max_tokens: the
            recipe; ``None`` reads the model's config files, else the
            :class:`~embedreg.registry.Recipe` default.
        dimension: the vectors' length; ``None`` reads the config, else
            measures it on the model's output.  A given or configured
            dimension that the model contradicts is refused.
        modality: ``text``, ``image``, ``text+image`` or ``multimodal``;
            ``None`` (the default) says ``text+image`` for a folder that
            transformers loads as a two-tower model (CLIP, SigLIP,
            ``VisionTextDualEncoderModel``, …: its image recipe is then read
            from the model's own image processor, and its text pooling
            defaults to ``model``, the model's own text features), else ``text``.
        parent: the generation this one succeeds.
        notes: free text kept with the generation.
        fingerprint: load the model and store the probe set's fingerprint;
            ``None`` (the default) means yes for text models.  ``False`` with
            a known ``dimension`` registers without loading anything (a Hub
            repo is then not even fetched).
        device: where the model runs when it is loaded.

    Raises:
        ModelSourceError: a missing folder, a dimension the model
            contradicts, a recipe embedreg cannot apply.
        HubError: the Hub cannot resolve the revision (no such repo or
            revision, a refused token, no network).
        ModelLoadError: the model cannot be loaded (with a hint on
            registering it without loading).
    """
    validate_name(name, "generation")
    if modality is not None and modality not in MODALITIES:
        raise ModelSourceError(
            f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}",
            "choose one of those",
        )
    source = _source(model, revision)
    folder: Path | None = None
    if isinstance(source, LocalSource):
        require_safetensors(Path(source.path), f"model folder {source.path}")
        folder = Path(source.path)
    elif fingerprint is not False or dimension is None or modality in (TEXT_IMAGE, "image"):
        hub = source  # its config files are read like a local folder's
        folder = _loading(lambda: hub_snapshot(hub, generation=name))
    towers = inspect_towers(folder) if folder is not None else None
    if towers is not None and modality == "text":
        raise ModelSourceError(
            f"{os.fspath(model)} is a two-tower ({towers.model_type}) model: text and images",
            "drop --modality (it is read from the model), or pass --modality text+image",
        )
    modality = modality or (TEXT_IMAGE if towers is not None else "text")
    if fingerprint is None:
        fingerprint = Tower.TEXT in towers_of(modality)
    if fingerprint and Tower.TEXT not in towers_of(modality):
        raise ModelSourceError(
            f"fingerprints embed text probes, and {name!r} is a {modality} model",
            "register it without a fingerprint (--no-fingerprint, fingerprint=False)",
        )
    measurable = Tower.TEXT in towers_of(modality)  # measured on the text probes
    info = inspect_model_dir(folder) if folder is not None else ModelDirInfo()
    if towers is not None:
        info = replace(
            info,
            dimension=towers.dimension,
            max_tokens=min(towers.max_tokens, 512) if towers.max_tokens else info.max_tokens,
            pooling=info.pooling or "model",
        )
    defaults = Recipe()
    recipe = Recipe(
        pooling=_first(pooling, info.pooling, defaults.pooling),
        normalize=_first(normalize, info.normalize, defaults.normalize),
        query_prefix=_first(query_prefix, info.query_prefix, defaults.query_prefix),
        document_prefix=_first(document_prefix, info.document_prefix, defaults.document_prefix),
        max_tokens=_first(max_tokens, info.max_tokens, defaults.max_tokens),
    )
    dim = _first(dimension, info.dimension)
    loads = fingerprint or (dim is None and measurable)
    if dim is None and not loads:
        raise ModelSourceError(
            f"the dimension of {os.fspath(model)} is not known",
            "pass --dim N (dimension=N), or let embedreg load the model to measure it",
        )
    if info.dimension is not None and dim != info.dimension:
        raise ModelSourceError(
            f"dimension {dimension} contradicts the model's config, which says {info.dimension}",
            "drop --dim (dimension=) or fix the model's config",
        )
    image_recipe = _image_recipe(name, modality, folder, normalize)  # loads the processor
    gen = Generation(
        name=name,
        source=source,
        recipe=recipe,
        dimension=dim or 1,
        modality=modality,
        parent=parent,
        notes=notes,
        image_recipe=image_recipe,
    )
    if not loads:
        return gen
    # The weights were hashed just now: no need to hash them again.
    fp = _loading(
        lambda: compute_fingerprint(gen, device=device, verify_pin=False, check_dimension=False)
    )
    if dim is not None and fp.dimension != dim:
        said = "--dim (dimension=)" if dimension else "its config"
        raise ModelSourceError(
            f"the model of {os.fspath(model)} gives {fp.dimension}-d vectors, not the {dim} "
            f"that {said} says",
            "drop --dim (dimension=), or fix the model's config",
        )
    return replace(gen, dimension=fp.dimension, fingerprint=fp if fingerprint else None)


def _image_recipe(
    name: str, modality: str, folder: Path | None, normalize: bool | None
) -> ImageRecipe | None:
    """The image recipe of a generation with an image tower: its model's own image processor."""
    if Tower.IMAGE not in towers_of(modality):
        return None
    if folder is None:
        raise ModelSourceError(
            f"the image processor of {name!r} cannot be read without its files",
            "let embedreg fetch the model (drop --no-fingerprint)",
        )
    processor = _loading(lambda: load_image_processor(folder))
    return ImageRecipe(
        processor_config(processor), normalize=True if normalize is None else normalize
    )


def register_model(
    registry: Registry, name: str, model: str | os.PathLike[str], **options: Any
) -> Generation:
    """Pin ``model`` as generation ``name`` (see :func:`pin_model`) and register it.

    The registry is read first, so a missing or damaged registry, a taken
    name or an unknown parent is refused before any weight is hashed or any
    model loads.  The ``latest`` alias moves to the new generation.

    Example:
        >>> register_model(reg, "v2", "/path/to/all-MiniLM-L6-v2", max_tokens=128)  # doctest: +SKIP
        Generation(name='v2', ...)
    """
    doc = registry.document()
    if name in doc.generations or name in doc.aliases:
        what = "an existing generation" if name in doc.generations else "an alias"
        raise DuplicateName("generation", name, what)
    parent = options.get("parent")
    if parent is not None:
        doc.generation_name(parent)  # UnknownGeneration before the model loads
    return registry.add_generation(pin_model(name, model, **options))


def _source(model: str | os.PathLike[str], revision: str | None) -> ModelSource:
    text = os.fspath(model)
    if Path(text).expanduser().is_dir():
        if revision is not None:
            raise ModelSourceError(
                f"--revision applies to Hub repos, but {text} is a local folder",
                "drop --revision; a local folder is pinned by the hash of its weights",
            )
        return LocalSource.from_path(text)
    if text.startswith((".", "/", "~")) or not REPO_ID_RE.fullmatch(text):
        raise ModelSourceError(
            f"model folder {text} does not exist",
            "check the path, or pass a Hub repo id like 'owner/name'",
        )
    if revision is not None and COMMIT_RE.fullmatch(revision):
        return HubSource(text, revision)
    ref = revision or HUB_DEFAULT_BRANCH
    return HubSource(text, resolve_hub_revision(text, ref), resolved_from=ref)


def _loading(load: Callable[[], T]) -> T:
    """Run ``load``; a model that cannot be loaded gets a hint on registering without it."""
    try:
        return load()
    except ModelLoadError as exc:
        raise ModelLoadError(
            exc.message,
            "fix that, or register without loading the model: --no-fingerprint and --dim N "
            "(Python: fingerprint=False, dimension=N)",
        ) from None


def _first(*values: Any) -> Any:
    """The first value that is not ``None`` (the last one if all are)."""
    for value in values:
        if value is not None:
            return value
    return values[-1]
