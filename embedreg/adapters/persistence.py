"""Adapters on disk: ``config.json`` + ``model.safetensors``, never pickle.

An adapter folder holds

* ``model.safetensors``: the adapter's tensors (float32, the names its family
  gives in :meth:`~embedreg.adapters.Adapter.tensors`) and string metadata:
  ``format`` (``embedreg.adapter``), ``format_version``, ``embedreg.config``
  (the adapter's config as canonical JSON) and ``embedreg.provenance``
  (both generations' pins, training-data hash, family, hyperparameters,
  embedreg version) and ``embedreg.figures`` (the held-out figures measured
  when it was trained, see :mod:`embedreg.evaluation.figures`);
* ``config.json``: the same config, provenance and figures, readable by people and by
  tools that do not parse safetensors.

Provenance and figures are stored as ``registry.json`` stores them
(:class:`~embedreg.registry.Provenance` and :class:`~embedreg.registry.Figures`
converted by :mod:`embedreg.registry.stored`).

The sha256 of ``model.safetensors`` is what the registry records; because the
config lives inside that file's metadata too, it covers the config as well.
:func:`load_adapter` is strict: it checks the hash first (when one is given),
then parses the file, refuses a config.json that contradicts the metadata,
unknown families, missing or extra tensors and shapes that contradict the
config, each as :class:`~embedreg.errors.AdapterIntegrityError`.  Nothing
is half-loaded and nothing is printed.

Any safetensors reader applies an affine adapter without embedreg: ``y = x @
weight.T + bias``.

Example:
    >>> import tempfile, numpy as np
    >>> from embedreg.adapters.procrustes import ProcrustesAdapter
    >>> folder = tempfile.mkdtemp()
    >>> a = ProcrustesAdapter(np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32))
    >>> digest = save_adapter(a, folder, provenance=Provenance(family="procrustes"))
    >>> loaded = load_adapter(folder, sha256=digest)
    >>> loaded.adapter.family, loaded.provenance.family
    ('procrustes', 'procrustes')
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import ADAPTER_CONFIG_FILENAME as CONFIG_FILENAME
from ..constants import ADAPTER_FORMAT, ADAPTER_FORMAT_VERSION
from ..constants import ADAPTER_WEIGHTS_FILENAME as WEIGHTS_FILENAME
from ..errors import AdapterIntegrityError, EmbedRegError
from ..registry.figures import Figures
from ..registry.provenance import Provenance
from ..util.atomic import atomic_write_bytes
from .base import Adapter, family_class

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "CONFIG_FILENAME",
    "WEIGHTS_FILENAME",
    "LoadedAdapter",
    "adapter_files",
    "load_adapter",
    "save_adapter",
]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def adapter_files(
    adapter: Adapter, provenance: Provenance, figures: Figures | None = None
) -> dict[str, bytes]:
    """The bytes of ``config.json`` and ``model.safetensors`` for ``adapter``."""
    from safetensors.numpy import save

    stored_provenance = provenance.to_dict()
    stored_figures = figures.to_dict() if figures is not None else {}
    config = adapter.config_dict()
    tensors = {
        name: np.ascontiguousarray(t, dtype=np.float32) for name, t in adapter.tensors().items()
    }
    metadata = {
        "format": ADAPTER_FORMAT,
        "format_version": str(ADAPTER_FORMAT_VERSION),
        "embedreg.config": _canonical(config),
        "embedreg.provenance": _canonical(stored_provenance),
        "embedreg.figures": _canonical(stored_figures),
    }
    weights = save(tensors, metadata=metadata)
    doc = {
        "format": ADAPTER_FORMAT,
        "format_version": ADAPTER_FORMAT_VERSION,
        "adapter": config,
        "provenance": stored_provenance,
        "figures": stored_figures,
    }
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return {CONFIG_FILENAME: text.encode("utf-8"), WEIGHTS_FILENAME: weights}


def save_adapter(
    adapter: Adapter,
    folder: str | os.PathLike[str],
    *,
    provenance: Provenance | None = None,
    figures: Figures | None = None,
) -> str:
    """Write ``adapter`` into ``folder`` (each file atomically); return the weights' sha256."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files = adapter_files(adapter, provenance or Provenance(), figures)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    return hashlib.sha256(files[WEIGHTS_FILENAME]).hexdigest()


@dataclass(frozen=True)
class LoadedAdapter:
    """An adapter read from disk with what its files say about it."""

    adapter: Adapter
    config: dict[str, Any]
    provenance: Provenance
    figures: Figures
    sha256: str


def _header_metadata(data: bytes, where: str) -> dict[str, str]:
    if len(data) < 8:
        raise AdapterIntegrityError(where, f"{WEIGHTS_FILENAME} is truncated")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise AdapterIntegrityError(where, f"{WEIGHTS_FILENAME} is truncated")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AdapterIntegrityError(where, f"{WEIGHTS_FILENAME} has an unreadable header") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise AdapterIntegrityError(where, f"{WEIGHTS_FILENAME} has no embedreg metadata")
    return {str(k): str(v) for k, v in meta.items()}


def load_adapter(folder: str | os.PathLike[str], *, sha256: str | None = None) -> LoadedAdapter:
    """Read and verify an adapter folder written by :func:`save_adapter`.

    Args:
        folder: the adapter folder.
        sha256: the hash the registry recorded for ``model.safetensors``; when
            given, a file with other bytes is refused before it is parsed.

    Raises:
        AdapterIntegrityError: missing, tampered, truncated or inconsistent files.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    root = Path(folder)
    where = str(root)
    try:
        data = (root / WEIGHTS_FILENAME).read_bytes()
        config_doc = json.loads((root / CONFIG_FILENAME).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AdapterIntegrityError(where, f"{Path(str(exc.filename)).name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AdapterIntegrityError(where, f"{CONFIG_FILENAME} is not valid JSON") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise AdapterIntegrityError(
            where,
            f"sha256 of {WEIGHTS_FILENAME} is {digest[:12]}…, the registry recorded {sha256[:12]}…",
        )
    meta = _header_metadata(data, where)
    if meta.get("format") != ADAPTER_FORMAT:
        raise AdapterIntegrityError(where, f"{WEIGHTS_FILENAME} is not an embedreg adapter")
    if meta.get("format_version") != str(ADAPTER_FORMAT_VERSION):
        raise AdapterIntegrityError(
            where, f"adapter format version {meta.get('format_version')!r} is not supported"
        )
    try:
        config = json.loads(meta["embedreg.config"])
        provenance = json.loads(meta.get("embedreg.provenance", "{}"))
        figures = json.loads(meta.get("embedreg.figures", "{}"))
    except (KeyError, json.JSONDecodeError):
        raise AdapterIntegrityError(where, "the adapter metadata is incomplete") from None
    for key, value in (("config", config), ("provenance", provenance), ("figures", figures)):
        if not isinstance(value, dict):
            raise AdapterIntegrityError(
                where, f"embedreg.{key} in {WEIGHTS_FILENAME} is not an object"
            )
    if not isinstance(config_doc, dict) or _canonical(config_doc.get("adapter")) != _canonical(
        config
    ):
        raise AdapterIntegrityError(
            where, f"{CONFIG_FILENAME} contradicts the config inside {WEIGHTS_FILENAME}"
        )
    for key, value in (("provenance", provenance), ("figures", figures)):
        if _canonical(config_doc.get(key)) != _canonical(value):
            raise AdapterIntegrityError(
                where, f"{CONFIG_FILENAME} {key} contradict {WEIGHTS_FILENAME}"
            )
    try:
        tensors: dict[str, FloatArray] = load(data)
    except SafetensorError as exc:
        raise AdapterIntegrityError(where, f"{WEIGHTS_FILENAME} is damaged ({exc})") from None
    for name, t in tensors.items():
        if t.dtype != np.float32:
            raise AdapterIntegrityError(where, f"tensor {name!r} is {t.dtype}, not float32")
        if not np.isfinite(t).all():
            raise AdapterIntegrityError(where, f"tensor {name!r} holds NaN or Inf")
    family = config.get("family") if isinstance(config, dict) else None
    if not isinstance(family, str):
        raise AdapterIntegrityError(where, "the config names no adapter family")
    cls = family_class(family)
    try:
        adapter = cls.from_parts(config, tensors)
    except (EmbedRegError, ValueError, TypeError, KeyError) as exc:
        detail = exc.message if isinstance(exc, EmbedRegError) else str(exc)
        raise AdapterIntegrityError(where, detail) from None
    return LoadedAdapter(
        adapter, config, Provenance.from_dict(provenance), Figures.from_dict(figures), digest
    )
