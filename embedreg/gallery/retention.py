"""Retained gallery versions: a manifest kept aside keeps its files through saves.

A save deletes the files of versions older than the one it replaced
(:func:`~.storage.remove_stale`), except the files a manifest copied under
``<gallery>/.retained/<key>.json`` names.  An upgrade retains the version it
replaced this way, so a rollback can switch back to it; releasing the key lets
the next save delete them.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> retain(folder, "previous", {"items_file": "items.1.jsonl", "segments": {}})
    >>> sorted(retained_files(folder))
    ['items.1.jsonl']
    >>> release(folder, "previous"); retained(folder, "previous") is None
    True
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..constants import GALLERY_RETAINED_DIR, NAME_RE
from ..errors import GalleryError
from ..util.atomic import atomic_write_bytes

__all__ = ["release", "retain", "retained", "retained_files"]


def _retained_path(folder: Path, key: str) -> Path:
    if not NAME_RE.fullmatch(key):
        raise GalleryError(f"invalid retention key {key!r}")
    return folder / GALLERY_RETAINED_DIR / f"{key}.json"


def retain(folder: Path, key: str, manifest: Mapping[str, Any]) -> None:
    """Keep the files ``manifest`` names through later saves, under ``key`` (atomic)."""
    path = _retained_path(folder, key)
    path.parent.mkdir(exist_ok=True)
    text = json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())


def retained(folder: Path, key: str) -> dict[str, Any] | None:
    """The manifest retained under ``key``, or ``None``."""
    try:
        data = json.loads(_retained_path(folder, key).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GalleryError(
            f"retained manifest {_retained_path(folder, key)} is corrupted ({exc})",
            "restore it from a backup, or delete it to let its files go",
        ) from None
    return data if isinstance(data, dict) else None


def release(folder: Path, key: str) -> None:
    """Stop retaining ``key``'s files (the next save or :func:`remove_stale` deletes them)."""
    with contextlib.suppress(FileNotFoundError):
        _retained_path(folder, key).unlink()


def retained_files(folder: Path) -> set[str]:
    """Names of the files that retained manifests name."""
    names: set[str] = set()
    root = folder / GALLERY_RETAINED_DIR
    if not root.is_dir():
        return names
    for entry in root.glob("*.json"):
        data = retained(folder, entry.stem)
        if not data:
            continue
        if isinstance(data.get("items_file"), str):
            names.add(data["items_file"])
        for seg in (data.get("segments") or {}).values():
            if isinstance(seg, dict) and isinstance(seg.get("index_file"), str):
                names.add(seg["index_file"])
    return names
