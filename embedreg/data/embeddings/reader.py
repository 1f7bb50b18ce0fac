"""Reading embeddings files: whole, in bounded batches, or just their metadata.

See :mod:`embedreg.data.embeddings` for the layout on disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...constants import EMBEDDINGS_INDEX_FILENAME
from ...errors import EmbeddingsFileError, ValidationError
from ...registry import Generation
from .format import VECTORS, Embeddings, EmbeddingsMeta, check_generation

__all__ = ["iter_embeddings", "load_embeddings", "read_meta"]


@dataclass(frozen=True)
class _Layout:
    meta: EmbeddingsMeta
    shards: list[tuple[Path, int]]


def _file_meta(path: Path, where: str) -> tuple[EmbeddingsMeta, set[str], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            raw = fh.metadata() or {}
            keys = set(fh.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise EmbeddingsFileError(where, f"not a readable safetensors file ({exc})") from None
    meta = EmbeddingsMeta.parse(raw, where)
    if VECTORS not in keys:
        raise EmbeddingsFileError(where, "holds no 'embeddings' tensor")
    return meta, keys, raw


def _layout(path: str | os.PathLike[str]) -> _Layout:
    root = Path(path)
    where = str(root)
    if root.is_dir():
        index_path = root / EMBEDDINGS_INDEX_FILENAME
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EmbeddingsFileError(
                where, f"is a folder without {EMBEDDINGS_INDEX_FILENAME}"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmbeddingsFileError(
                where, f"unreadable {EMBEDDINGS_INDEX_FILENAME} ({exc})"
            ) from None
        if not isinstance(index, dict):
            raise EmbeddingsFileError(where, f"{EMBEDDINGS_INDEX_FILENAME} is not an object")
        meta = EmbeddingsMeta.parse(
            {
                **(index.get("meta") or {}),
                "format": index.get("format"),
                "format_version": str(index.get("format_version")),
            },
            where,
        )
        shards: list[tuple[Path, int]] = []
        try:
            for entry in index["shards"]:
                name = str(entry["file"])
                if "/" in name or "\\" in name or name.startswith("."):
                    raise ValueError(f"bad shard name {name!r}")
                shards.append((root / name, int(entry["rows"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingsFileError(
                where, f"bad shard list in {EMBEDDINGS_INDEX_FILENAME} ({exc})"
            ) from None
        if sum(rows for _, rows in shards) != meta.count:
            raise EmbeddingsFileError(where, "the shards' row counts do not add up to its count")
        for shard, _ in shards:
            if not shard.is_file():
                raise EmbeddingsFileError(where, f"shard {shard.name} is missing")
        return _Layout(meta, shards)
    if not root.exists():
        raise EmbeddingsFileError(where, "does not exist", "check the path")
    meta, _, _ = _file_meta(root, where)
    return _Layout(meta, [(root, meta.count)])


def read_meta(path: str | os.PathLike[str]) -> EmbeddingsMeta:
    """The metadata of an embeddings file or sharded folder, without reading vectors.

    Example:
        >>> read_meta("e.safetensors").generation  # doctest: +SKIP
        'v2'
    """
    return _layout(path).meta


def _read_strings(fh: Any, field: str, a: int, b: int, keys: set[str]) -> list[str] | None:
    if f"{field}_offsets" not in keys:
        return None
    if a == b:
        return []
    offsets = fh.get_slice(f"{field}_offsets")[a : b + 1]
    lo, hi = int(offsets[0]), int(offsets[-1])
    blob = bytes(fh.get_slice(f"{field}_data")[lo:hi]) if hi > lo else b""
    rel = (offsets - lo).tolist()
    return [blob[rel[i] : rel[i + 1]].decode("utf-8") for i in range(len(rel) - 1)]


def _read_rows(
    shard: Path, rows: int, a: int, b: int, meta: EmbeddingsMeta, where: str
) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    """Rows ``a:b`` of a shard that must hold exactly ``rows`` vectors (and ids, labels)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(shard), framework="np") as fh:
            keys = set(fh.keys())
            own = fh.metadata() or {}
            if (own.get("generation"), own.get("pin"), own.get("recipe_hash")) != (
                meta.generation,
                meta.pin,
                meta.recipe_hash,
            ):
                raise EmbeddingsFileError(
                    where, f"shard {shard.name} was not written with the rest of the file"
                )
            vec_slice = fh.get_slice(VECTORS)
            shape = vec_slice.get_shape()
            if len(shape) != 2 or shape[1] != meta.dimension:
                raise EmbeddingsFileError(
                    where,
                    f"{shard.name}: embeddings of shape {shape}, expected (*, {meta.dimension})",
                )
            if shape[0] != rows:
                raise EmbeddingsFileError(
                    where,
                    f"{shard.name} holds {shape[0]} vectors but its metadata says {rows}",
                    "the file was altered or damaged; re-create it with 'embedreg embed'",
                )
            for field in ("ids", "labels"):
                if f"{field}_offsets" in keys:
                    n = fh.get_slice(f"{field}_offsets").get_shape()[0]
                    if n != rows + 1:
                        raise EmbeddingsFileError(
                            where, f"{shard.name} holds {n - 1} {field} for {rows} vectors"
                        )
            if a == b:
                vectors = np.zeros((0, meta.dimension), dtype=np.float32)
            else:
                vectors = np.ascontiguousarray(vec_slice[a:b], dtype=np.float32)
            ids = _read_strings(fh, "ids", a, b, keys)
            labels = _read_strings(fh, "labels", a, b, keys)
    except (SafetensorError, OSError, UnicodeDecodeError) as exc:
        raise EmbeddingsFileError(where, f"cannot read {shard.name} ({exc})") from None
    return vectors, ids, labels


def _checked_layout(path: str | os.PathLike[str], generation: Generation | None) -> _Layout:
    layout = _layout(path)
    if generation is not None:
        check_generation(layout.meta, generation, f"embeddings file {path}")
    return layout


def load_embeddings(
    path: str | os.PathLike[str], *, generation: Generation | None = None
) -> Embeddings:
    """Read a whole embeddings file (or sharded folder) into memory.

    With ``generation``, a file made by any other generation is refused with
    :class:`GenerationMismatch`, before any vector is read.

    Example:
        >>> emb = load_embeddings("e.safetensors", generation=reg.generation("v2"))  # doctest: +SKIP
        >>> emb.vectors.shape  # doctest: +SKIP
        (500, 384)
    """
    layout = _checked_layout(path, generation)
    parts = [
        _read_rows(shard, rows, 0, rows, layout.meta, str(path)) for shard, rows in layout.shards
    ]
    return _join(parts, layout.meta, 0)


def _join(
    parts: Sequence[tuple[np.ndarray, list[str] | None, list[str] | None]],
    meta: EmbeddingsMeta,
    start: int,
) -> Embeddings:
    if len(parts) == 1:
        vectors, ids, labels = parts[0]
    else:
        vectors = (
            np.concatenate([p[0] for p in parts])
            if parts
            else np.zeros((0, meta.dimension), np.float32)
        )
        ids = None if not parts or parts[0][1] is None else [x for p in parts for x in (p[1] or [])]
        labels = (
            None if not parts or parts[0][2] is None else [x for p in parts for x in (p[2] or [])]
        )
    return Embeddings(vectors=vectors, ids=ids, labels=labels, meta=meta, start=start)


def iter_embeddings(
    path: str | os.PathLike[str],
    *,
    batch_rows: int,
    generation: Generation | None = None,
) -> Iterator[Embeddings]:
    """Read an embeddings file in batches of ``batch_rows`` rows (the last may be shorter).

    Memory holds one batch at a time, whatever the file's size. Each batch's
    :attr:`Embeddings.start` is its first row's index in the whole file.

    Example:
        >>> for batch in iter_embeddings("big.safetensors", batch_rows=10_000):  # doctest: +SKIP
        ...     index.add(batch.vectors)
    """
    if not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    layout = _checked_layout(path, generation)
    pending: list[tuple[np.ndarray, list[str] | None, list[str] | None]] = []
    pending_rows = 0
    start = 0
    for shard, rows in layout.shards:
        a = 0
        while a < rows:
            b = min(rows, a + batch_rows - pending_rows)
            pending.append(_read_rows(shard, rows, a, b, layout.meta, str(path)))
            pending_rows += b - a
            a = b
            if pending_rows == batch_rows:
                yield _join(pending, layout.meta, start)
                start += pending_rows
                pending, pending_rows = [], 0
    if pending_rows:
        yield _join(pending, layout.meta, start)
