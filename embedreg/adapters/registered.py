"""Adapters the registry knows: stored as artifacts, recorded, and loaded back verified.

:func:`store_adapter` writes an adapter's files (``config.json`` +
``model.safetensors``, see :mod:`.persistence`) into the registry's store
and registers its :class:`~embedreg.registry.AdapterRecord` with the
weights' sha256; :func:`load_registered_adapter` fetches the files and
refuses any whose bytes differ from that sha256.  Training
(:mod:`embedreg.training`) and routing (:mod:`embedreg.routing`) both go
through here.

**Never half-written.**  Each stored adapter gets an artifact key of its own,
``adapters/<id>@<first 16 hex of its sha256>``: files are written first, under
a key no record points to yet, and the record then switches to them in one
registry update.  So two writers of the same id never mix their files (the
second is refused, or with ``replace`` wins whole), a kill before the switch
leaves the previous adapter as it was, and the replaced adapter's files are
deleted only after the switch.  The record is also refused when either
generation changed (same name, other pin or recipe) while the adapter was
made.

Example:
    >>> adapter_id("v3", "v2", "lambda-orth")
    'v3-to-v2.lambda-orth'
    >>> artifact_key("v3-to-v2.lambda-orth", "0123456789abcdef" * 4)
    'adapters/v3-to-v2.lambda-orth@0123456789abcdef'
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import AdapterIntegrityError, EmbedRegError, NotFound, UnknownAdapter
from ..registry import AdapterRecord, Figures, Generation, Provenance, Registry, validate_name
from ..registry.records import adapter_artifact_key
from .base import Adapter
from .persistence import (
    CONFIG_FILENAME,
    WEIGHTS_FILENAME,
    LoadedAdapter,
    load_adapter,
    save_adapter,
)

__all__ = [
    "adapter_id",
    "artifact_key",
    "check_dimensions",
    "load_registered_adapter",
    "register_files",
    "store_adapter",
]


def adapter_id(source: str, target: str, family: str) -> str:
    """The default id of a ``source → target`` adapter of ``family``: ``<source>-to-<target>.<family>``."""
    return validate_name(f"{source}-to-{target}.{family}", "adapter")


def artifact_key(adapter: str, sha256: str) -> str:
    """Where the files of adapter ``adapter`` whose weights hash to ``sha256`` live in the store."""
    return adapter_artifact_key(adapter, sha256)


def store_adapter(
    registry: Registry,
    adapter: Adapter,
    *,
    ident: str,
    source: str,
    target: str,
    direction: str,
    figures: Figures,
    provenance: Provenance,
    replace: bool = False,
    generations: Mapping[str, Generation] | None = None,
) -> AdapterRecord:
    """Store ``adapter``'s files in ``registry``'s store and register its record (see above).

    ``generations`` are the generations the adapter was made with (by name);
    the record is refused if the registry's are no longer the same.

    Raises:
        DuplicateName: the id is taken (unless ``replace``).
        UnknownGeneration: ``source`` or ``target`` is not registered.
        ConflictError: a generation changed while the adapter was made.
    """
    with tempfile.TemporaryDirectory(prefix="embedreg-adapter-") as tmp:
        digest = save_adapter(adapter, tmp, provenance=provenance, figures=figures)
        record = AdapterRecord(
            id=ident,
            source=source,
            target=target,
            direction=direction,
            family=adapter.family,
            location=artifact_key(ident, digest),
            sha256=digest,
            figures=figures,
            provenance=provenance,
        )
        files = {n: Path(tmp) / n for n in (CONFIG_FILENAME, WEIGHTS_FILENAME)}
        expect = {g.name: (g.pin, g.recipe.hash) for g in (generations or {}).values()}
        return register_files(registry, record, files, replace=replace, expect=expect)


def register_files(
    registry: Registry,
    record: AdapterRecord,
    files: Mapping[str, Path],
    *,
    replace: bool = False,
    expect: Mapping[str, tuple[str, str]] | None = None,
) -> AdapterRecord:
    """Put an adapter's ``files`` under ``record.location`` and switch the registry to them.

    The files go first, under the record's own key (see the module
    docstring); the registry update is the switch.  A refused or
    interrupted update removes the files again (unless an identical adapter
    of another writer uses them); a replaced adapter's files go after it.

    Raises:
        DuplicateName, UnknownGeneration, ConflictError: as :meth:`Registry.put_adapter`.
    """
    location = registry.store.put_artifact(record.location, files)
    try:
        previous = registry.put_adapter(record, replace=replace, expect=expect)
    except BaseException:
        # refused (or interrupted): files no record points to must not linger
        if not _referenced(registry, location):
            registry.store.delete_artifact(location)
        raise
    if (
        previous is not None
        and previous.owns_location
        and not _referenced(registry, previous.location)
    ):
        registry.store.delete_artifact(previous.location)  # no record points to them now
    return record


def _referenced(registry: Registry, location: str) -> bool:
    """Whether a record points to ``location`` (an identical adapter stored by another writer)."""
    try:
        return any(a.location == location for a in registry.document().adapters.values())
    except EmbedRegError:
        return True  # when in doubt, keep the files


def load_registered_adapter(registry: Registry, adapter: str) -> LoadedAdapter:
    """Load a registered adapter, verifying its files against the record's sha256.

    Raises:
        UnknownAdapter: no such record.
        AdapterIntegrityError: the files are missing, tampered or truncated.

    Example:
        >>> load_registered_adapter(reg, "v3-to-v2.lambda-orth").adapter.family  # doctest: +SKIP
        'lambda-orth'
    """
    doc = registry.document()
    record = doc.adapters.get(adapter)
    if record is None:
        raise UnknownAdapter(adapter, doc.adapters)
    try:
        folder = registry.store.fetch_artifact(record.location)
    except NotFound:
        raise AdapterIntegrityError(
            record.location, "its files are missing from the store"
        ) from None
    loaded = load_adapter(folder, sha256=record.sha256)
    check_dimensions(
        loaded.adapter,
        doc.generations[record.source].dimension,
        doc.generations[record.target].dimension,
        record.location,
    )
    return loaded


def check_dimensions(adapter: Adapter, source: int, target: int, where: str) -> None:
    """Refuse an adapter whose files map other dimensions than its generations have.

    Raises:
        AdapterIntegrityError: naming both shapes.
    """
    if (adapter.input_dim, adapter.output_dim) != (source, target):
        raise AdapterIntegrityError(
            where,
            f"its files map {adapter.input_dim} → {adapter.output_dim} dimensions, its "
            f"generations are {source}- and {target}-d",
        )
