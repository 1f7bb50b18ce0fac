"""Adapters the registry knows: stored as artifacts, recorded, and loaded back verified.

:func:`store_adapter` writes an adapter's files (``config.json`` +
``model.safetensors``, see :mod:`.persistence`) into the registry's store
under the artifact key ``adapters/<id>`` and registers its
:class:`~embedreg.registry.AdapterRecord` with the weights' sha256;
:func:`load_registered_adapter` fetches the files and refuses any whose bytes
differ from that sha256.  Training (:mod:`embedreg.training`) and routing
(:mod:`embedreg.routing`) both go through here.

Example:
    >>> adapter_id("v3", "v2", "lambda-orth")
    'v3-to-v2.lambda-orth'
    >>> artifact_key("v3-to-v2.lambda-orth")
    'adapters/v3-to-v2.lambda-orth'
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..constants import ADAPTER_ARTIFACT_PREFIX
from ..errors import AdapterIntegrityError, EmbedRegError, NotFound
from ..registry import AdapterRecord, Registry, validate_name
from .base import Adapter
from .persistence import (
    CONFIG_FILENAME,
    WEIGHTS_FILENAME,
    LoadedAdapter,
    load_adapter,
    save_adapter,
)

__all__ = ["adapter_id", "artifact_key", "load_registered_adapter", "store_adapter"]


def adapter_id(source: str, target: str, family: str) -> str:
    """The default id of a ``source → target`` adapter of ``family``: ``<source>-to-<target>.<family>``."""
    return validate_name(f"{source}-to-{target}.{family}", "adapter")


def artifact_key(adapter: str) -> str:
    """Where adapter ``adapter``'s files live in the store."""
    return f"{ADAPTER_ARTIFACT_PREFIX}/{adapter}"


def store_adapter(
    registry: Registry,
    adapter: Adapter,
    *,
    ident: str,
    source: str,
    target: str,
    direction: str,
    figures: dict[str, Any],
    provenance: dict[str, Any],
    replace: bool = False,
) -> AdapterRecord:
    """Store ``adapter``'s files in ``registry``'s store and register its record.

    Raises:
        DuplicateName: the id is taken (unless ``replace``); the files written
            for it are removed again.
        UnknownGeneration: ``source`` or ``target`` is not registered.
    """
    key = artifact_key(ident)
    with tempfile.TemporaryDirectory(prefix="embedreg-adapter-") as tmp:
        digest = save_adapter(adapter, tmp, provenance=provenance, figures=figures)
        files = {n: Path(tmp) / n for n in (CONFIG_FILENAME, WEIGHTS_FILENAME)}
        registry.store.put_artifact(key, files)
    record = AdapterRecord(
        id=ident,
        source=source,
        target=target,
        direction=direction,
        family=adapter.family,
        location=key,
        sha256=digest,
        figures=figures,
        provenance=provenance,
    )
    try:
        return registry.add_adapter(record, replace=replace)
    except EmbedRegError:
        # The id was taken while we trained (another writer): our files must not linger.
        if not replace and ident not in registry.document().adapters:
            registry.store.delete_artifact(key)
        raise


def load_registered_adapter(registry: Registry, adapter: str) -> LoadedAdapter:
    """Load a registered adapter, verifying its files against the record's sha256.

    Raises:
        UnknownAdapter: no such record.
        AdapterIntegrityError: the files are missing, tampered or truncated.

    Example:
        >>> load_registered_adapter(reg, "v3-to-v2.lambda-orth").adapter.family  # doctest: +SKIP
        'lambda-orth'
    """
    record = registry.adapter(adapter)
    try:
        folder = registry.store.fetch_artifact(record.location)
    except NotFound:
        raise AdapterIntegrityError(
            record.location, "its files are missing from the store"
        ) from None
    return load_adapter(folder, sha256=record.sha256)
