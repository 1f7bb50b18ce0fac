"""Content hashes: of files, of model weight folders, of canonical JSON.

Example:
    >>> canonical_json_sha256({"b": 1, "a": [1, 2]}) == canonical_json_sha256({"a": [1, 2], "b": 1})
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..constants import WEIGHT_SUFFIXES

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weight_files(folder: str | Path) -> list[Path]:
    """Weight files below ``folder`` (recursively, hidden folders skipped), sorted by path.

    A file counts as weights when its name ends in one of
    :data:`embedreg.constants.WEIGHT_SUFFIXES`.
    """
    root = Path(folder)
    return sorted(
        (p for p in _walk(root) if p.name.endswith(WEIGHT_SUFFIXES)),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def _walk(root: Path) -> Iterator[Path]:
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        elif entry.is_file():
            yield entry


def folder_weights_sha256(folder: str | Path) -> str:
    """Pin of a local model folder: sha256 over its weight files.

    The hash covers each weight file's relative path and the sha256 of its
    bytes, in sorted path order, so it changes when any weight byte changes,
    when a weight file is added or removed, or when one is renamed.  Config
    and tokenizer files are not part of the pin (a generation's fingerprint
    catches a changed tokenizer).

    Raises:
        FileNotFoundError: when the folder holds no weight files.
    """
    root = Path(folder)
    files = weight_files(root)
    if not files:
        raise FileNotFoundError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) in {root}")
    digest = hashlib.sha256()
    for path in files:
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode("utf-8") + b"\0" + bytes.fromhex(file_sha256(path)) + b"\n")
    return digest.hexdigest()


def canonical_json_sha256(value: Any) -> str:
    """Hex sha256 of ``value`` serialised as compact, key-sorted JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
