"""Writing embeddings files: streamed to disk in shards, published atomically.

See :mod:`embedreg.data.embeddings` for the layout on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ...constants import (
    DEFAULT_SHARD_ROWS,
    EMBEDDINGS_FORMAT,
    EMBEDDINGS_FORMAT_VERSION,
    EMBEDDINGS_INDEX_FILENAME,
)
from ...errors import DimensionMismatch, EmbeddingsFileError, ValidationError
from ...registry import Generation, Tower
from ...util.atomic import atomic_write_bytes, remove_stale_temps, temp_prefix
from .format import VECTORS, meta_for

__all__ = ["SHARD_NAME", "EmbeddingsWriter", "save_embeddings"]

_TEXT_FIELDS = ("ids", "labels")
#: Bytes reserved for the safetensors header, so that the data starts at 8 KiB.
_HEADER_RESERVE = 8192 - 8
#: File names of the shards of a sharded embeddings folder.
SHARD_NAME = "embeddings-{:05d}.safetensors"


def _pack_strings(values: Sequence[str], what: str) -> tuple[bytes, list[int]]:
    """UTF-8 bytes of ``values`` back to back, and each one's length."""
    encoded = []
    for value in values:
        if not isinstance(value, str):
            raise ValidationError(f"{what} must be strings, got {type(value).__name__}")
        encoded.append(value.encode("utf-8"))
    return b"".join(encoded), [len(b) for b in encoded]


class _ShardFile:
    """One safetensors file written row batch by row batch, its header last."""

    def __init__(self, path: Path, dimension: int, fields: tuple[str, ...]) -> None:
        self.path = path
        self.dimension = dimension
        self.fields = fields
        self.rows = 0
        self.text: dict[str, bytearray] = {f: bytearray() for f in fields}
        self.lengths: dict[str, list[int]] = {f: [] for f in fields}
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in finish()/discard()
        self.fh.write(b"\0" * (8 + _HEADER_RESERVE))

    def write(self, vectors: np.ndarray, texts: dict[str, tuple[bytes, list[int]]]) -> None:
        self.fh.write(np.ascontiguousarray(vectors, dtype="<f4").data)
        self.rows += int(vectors.shape[0])
        for field, (data, lengths) in texts.items():
            self.text[field] += data
            self.lengths[field].extend(lengths)

    def finish(self, metadata: dict[str, str]) -> None:
        tensors: dict[str, Any] = {}
        offset = self.rows * self.dimension * 4
        tensors[VECTORS] = {
            "dtype": "F32",
            "shape": [self.rows, self.dimension],
            "data_offsets": [0, offset],
        }
        tail: list[bytes] = []
        for field in self.fields:
            data = bytes(self.text[field])
            offsets = np.zeros(self.rows + 1, dtype="<i8")
            np.cumsum(np.asarray(self.lengths[field], dtype="<i8"), out=offsets[1:])
            for name, dtype, blob, shape in (
                (f"{field}_data", "U8", data, [len(data)]),
                (f"{field}_offsets", "I64", offsets.tobytes(), [self.rows + 1]),
            ):
                tensors[name] = {
                    "dtype": dtype,
                    "shape": shape,
                    "data_offsets": [offset, offset + len(blob)],
                }
                offset += len(blob)
                tail.append(blob)
        tensors["__metadata__"] = metadata
        header = json.dumps(tensors, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        for blob in tail:
            self.fh.write(blob)
        if len(header) > _HEADER_RESERVE:  # embedreg's own metadata is far smaller
            raise ValidationError(f"embeddings metadata too long ({len(header)} bytes)")
        self.fh.seek(0)
        self.fh.write(struct.pack("<Q", _HEADER_RESERVE))
        self.fh.write(header + b" " * (_HEADER_RESERVE - len(header)))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def discard(self) -> None:
        self.fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class EmbeddingsWriter:
    """Stream vectors (with optional ids and labels) into an embeddings file.

    Rows go to disk as they are written, in shards of ``shard_rows``; the
    result appears at ``path`` atomically when the writer closes (a single
    file, or a folder with ``index.json`` when there is more than one shard).
    Leaving the ``with`` block through an exception discards everything.

    Args:
        path: where the file (or folder) will be.
        generation: the generation that made the vectors (its name, pin and
            recipe hash go into the metadata; its dimension is enforced).
        role: ``query`` or ``document``.
        shard_rows: rows per shard file.
        tower: which tower makes the vectors (``text``, or ``image`` for a generation with an image tower).

    Example:
        >>> import tempfile, numpy as np
        >>> from embedreg.registry import Generation, HubSource, Recipe
        >>> from embedreg.data.embeddings import load_embeddings
        >>> gen = Generation("v2", HubSource("org/model", "0" * 40), Recipe(), dimension=4)
        >>> out = tempfile.mkdtemp() + "/big.safetensors"
        >>> with EmbeddingsWriter(out, gen, "document", shard_rows=100) as writer:
        ...     for start in range(0, 250, 50):
        ...         writer.write(np.ones((50, 4), "float32"), ids=[str(i) for i in range(start, start + 50)])
        >>> sorted(p.name for p in Path(out).iterdir())
        ['embeddings-00001.safetensors', 'embeddings-00002.safetensors', 'embeddings-00003.safetensors', 'index.json']
        >>> load_embeddings(out).ids[-1]
        '249'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        generation: Generation,
        role: str,
        *,
        shard_rows: int = DEFAULT_SHARD_ROWS,
        tower: Tower = Tower.TEXT,
    ) -> None:
        if not isinstance(shard_rows, int) or shard_rows < 1:
            raise ValidationError(f"shard_rows must be a positive integer, got {shard_rows!r}")
        self.path = Path(path)
        _check_replaceable(self.path)
        self.generation = generation
        self.meta = meta_for(generation, role, tower)
        self.shard_rows = shard_rows
        self.count = 0
        self._fields: tuple[str, ...] | None = None
        self._shards: list[tuple[str, int]] = []
        self._current: _ShardFile | None = None
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path.parent, self.path.name)  # what killed writers left
        self._staging = Path(
            tempfile.mkdtemp(
                dir=self.path.parent, prefix=temp_prefix(self.path.name), suffix=".tmp"
            )
        )

    # -- context manager --

    def __enter__(self) -> EmbeddingsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- writing --

    def write(
        self,
        vectors: np.ndarray,
        ids: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        """Append rows. Every call passes ids (and labels) or none does."""
        if self._closed:
            raise ValidationError(f"the writer of {self.path} is closed")
        array = np.asarray(vectors)
        if array.ndim != 2:
            raise ValidationError(f"vectors must be a 2-d array (N, d), got shape {array.shape}")
        if array.shape[1] != self.meta.dimension:
            raise DimensionMismatch(
                self.meta.dimension,
                int(array.shape[1]),
                f"vectors for generation {self.meta.generation!r}",
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise ValidationError(f"vectors must be floating point, got {array.dtype}")
        array = array.astype(np.float32, copy=False)
        if not np.isfinite(array).all():
            bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
            raise ValidationError(
                f"vector {self.count + bad} holds NaN or infinite values; nothing was written"
            )
        given = {"ids": ids, "labels": labels}
        fields = tuple(f for f in _TEXT_FIELDS if given[f] is not None)
        if self._fields is None:
            self._fields = fields
        elif fields != self._fields:
            raise ValidationError(
                f"every write must give the same of ids/labels ({', '.join(self._fields) or 'none'}),"
                f" this one gave {', '.join(fields) or 'none'}"
            )
        n = int(array.shape[0])
        packed: dict[str, list[str]] = {}
        for field in fields:
            values = list(given[field] or [])
            if len(values) != n:
                raise ValidationError(f"{n} vectors but {len(values)} {field}")
            packed[field] = values
        start = 0
        while start < n:
            shard = self._shard()
            take = min(n - start, self.shard_rows - shard.rows)
            texts = {
                f: _pack_strings(packed[f][start : start + take], f) for f in self._fields or ()
            }
            shard.write(array[start : start + take], texts)
            start += take
            self.count += take
            if shard.rows >= self.shard_rows:
                self._finish_shard()

    def _shard(self) -> _ShardFile:
        if self._current is None:
            name = SHARD_NAME.format(len(self._shards) + 1)
            self._current = _ShardFile(
                self._staging / name, self.meta.dimension, self._fields or ()
            )
        return self._current

    def _finish_shard(self) -> None:
        shard = self._current
        if shard is None:
            return
        row_start = sum(rows for _, rows in self._shards)
        meta = replace(self.meta, count=shard.rows)
        shard.finish(meta.to_metadata(row_start=row_start))
        self._shards.append((shard.path.name, shard.rows))
        self._current = None

    # -- finishing --

    def close(self) -> Path:
        """Finish the last shard and publish the result at :attr:`path`."""
        if self._closed:
            return self.path
        try:
            if self._current is None and not self._shards:
                self._shard()  # an empty file still records its generation
            self._finish_shard()
            total = replace(self.meta, count=self.count)
            if len(self._shards) == 1:
                # A lone shard's metadata (count = its rows) is already the total's.
                _publish(self._staging / self._shards[0][0], self.path)
            else:
                index = {
                    "format": EMBEDDINGS_FORMAT,
                    "format_version": EMBEDDINGS_FORMAT_VERSION,
                    "meta": total.to_dict(),
                    "shards": [{"file": name, "rows": rows} for name, rows in self._shards],
                }
                text = json.dumps(index, indent=2, sort_keys=True) + "\n"
                atomic_write_bytes(self._staging / EMBEDDINGS_INDEX_FILENAME, text.encode())
                os.chmod(self._staging, 0o777 & ~_umask())
                _publish(self._staging, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self.meta = total
        shutil.rmtree(self._staging, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Discard everything written; :attr:`path` is left as it was."""
        if self._current is not None:
            self._current.discard()
            self._current = None
        self._closed = True
        shutil.rmtree(self._staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_replaceable(target: Path) -> None:
    """Refuse to replace a folder that is not a sharded embeddings folder."""
    if not target.is_dir() or target.is_symlink():
        return
    try:
        index = json.loads((target / EMBEDDINGS_INDEX_FILENAME).read_text(encoding="utf-8"))
        ours = isinstance(index, dict) and index.get("format") == EMBEDDINGS_FORMAT
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        ours = False
    if not ours:
        raise EmbeddingsFileError(
            str(target),
            "is a folder that is not an embeddings folder, and would be replaced",
            "write to a file path inside it (e.g. OUT/embeddings.safetensors)",
        )


def _publish(source: Path, target: Path) -> None:
    """Move ``source`` (a file or folder) to ``target``, replacing what is there."""
    _check_replaceable(target)
    if source.is_file():
        os.chmod(source, 0o666 & ~_umask())
    replaces_folder = target.is_dir() and not target.is_symlink()
    if not (replaces_folder or (target.exists() and source.is_dir())):
        os.replace(source, target)  # a file over a file (or nothing): one atomic rename
        return
    # a folder is involved: move the old one aside, put the new one in place, drop the old
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(source, target)
    except BaseException:
        os.replace(old, target)
        raise
    if replaces_folder:
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


def save_embeddings(
    path: str | os.PathLike[str],
    vectors: np.ndarray,
    *,
    generation: Generation,
    role: str,
    ids: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    tower: Tower = Tower.TEXT,
) -> Path:
    """Write ``vectors`` (N x d) made by ``generation``'s ``tower`` to ``path`` atomically.

    Example:
        >>> import tempfile, numpy as np
        >>> from embedreg.registry import Generation, HubSource, Recipe
        >>> from embedreg.data.embeddings import read_meta
        >>> gen = Generation("v1", HubSource("org/model", "0" * 40), Recipe(), dimension=2)
        >>> p = save_embeddings(tempfile.mkdtemp() + "/q.safetensors", np.ones((5, 2)),
        ...                     generation=gen, role="query")
        >>> read_meta(p).count, read_meta(p).role
        (5, 'query')
    """
    with EmbeddingsWriter(path, generation, role, shard_rows=shard_rows, tower=tower) as writer:
        writer.write(vectors, ids=ids, labels=labels)
    return writer.path
