"""Embeddings files: vectors tied to the generation that made them.

An embeddings file is a `safetensors <https://huggingface.co/docs/safetensors>`_
file holding

- ``embeddings``: float32, shape ``(N, d)``;
- optionally ``ids_data`` (uint8, the UTF-8 bytes of all ids one after the
  other) and ``ids_offsets`` (int64, ``N + 1`` offsets into it), and the same
  pair ``labels_data`` / ``labels_offsets`` for labels: millions of ids cost
  a few bytes each, not one giant metadata string;

and string metadata: ``format`` (``embedreg.embeddings``), ``format_version``,
``generation``, ``pin``, ``recipe_hash``, ``role`` (``query`` or
``document``), ``count``, ``dimension``, ``created``, ``embedreg_version``,
plus ``row_start`` (the position of the file's first row in the whole set).
Any safetensors reader (numpy, torch) reads it without embedreg.

**Shards.** Up to ``shard_rows`` rows, the path the user gave is that single
file. Beyond, the path is a *folder* of that name holding ``index.json`` (the
metadata above and the list of shards with their row counts) and the shard
files ``embeddings-00001.safetensors``, ``embeddings-00002.safetensors`` …,
each a complete embeddings file of its own. Readers accept either through
the path the user gave.

**Bounded memory.** :class:`EmbeddingsWriter` streams vectors straight to
disk: the safetensors header is written last into space reserved at the
start, so memory holds only the batch being written and the current shard's
ids and labels.

**Atomic.** Everything is written in a temporary sibling and renamed into
place when the writer closes; an interrupted write leaves the old file (or
nothing) at the path, never half a file.

**Pinned.** Reading with ``generation=`` refuses a file made by another
generation (other name, pin or recipe) with :class:`GenerationMismatch`,
which names both.

Example:
    >>> import tempfile, numpy as np
    >>> from embedreg import Generation, HubSource, Recipe
    >>> gen = Generation("v2", HubSource("org/model", "0" * 40), Recipe(), dimension=3)
    >>> path = tempfile.mkdtemp() + "/e.safetensors"
    >>> _ = save_embeddings(path, np.eye(3, dtype="float32"), generation=gen,
    ...                     role="document", ids=["a", "b", "c"])
    >>> emb = load_embeddings(path, generation=gen)
    >>> emb.vectors.shape, emb.ids, emb.meta.generation
    ((3, 3), ['a', 'b', 'c'], 'v2')
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ._time import utc_now
from ._version import __version__
from .atomic import atomic_write_bytes
from .constants import (
    DEFAULT_SHARD_ROWS,
    EMBEDDINGS_FORMAT,
    EMBEDDINGS_FORMAT_VERSION,
    EMBEDDINGS_INDEX_FILENAME,
    ROLES,
)
from .errors import DimensionMismatch, EmbeddingsFileError, GenerationMismatch, ValidationError

if TYPE_CHECKING:
    from .generation import Generation

__all__ = [
    "DEFAULT_SHARD_ROWS",
    "ROLES",
    "Embeddings",
    "EmbeddingsMeta",
    "EmbeddingsWriter",
    "check_generation",
    "iter_embeddings",
    "load_embeddings",
    "read_meta",
    "save_embeddings",
]

_VECTORS = "embeddings"
_TEXT_FIELDS = ("ids", "labels")
#: Bytes reserved for the safetensors header, so that the data starts at 8 KiB.
_HEADER_RESERVE = 8192 - 8
_SHARD_NAME = "embeddings-{:05d}.safetensors"


@dataclass(frozen=True)
class EmbeddingsMeta:
    """What an embeddings file says about itself.

    Attributes:
        generation: name of the generation that made the vectors.
        pin: that generation's pin (``repo@commit`` or ``sha256:…``).
        recipe_hash: that generation's recipe hash.
        role: ``query`` or ``document``.
        count: number of vectors (in the whole file or folder).
        dimension: length of each vector.
        created: UTC timestamp of the write.
        embedreg_version: version of embedreg that wrote it.
    """

    generation: str
    pin: str
    recipe_hash: str
    role: str
    count: int
    dimension: int
    created: str
    embedreg_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def describe_generation(self) -> str:
        """``'v3' (pin sha256:ab12…, 768-d)``: the maker, as error messages show it."""
        return _describe(self.generation, self.pin, self.dimension)

    def _metadata(self, *, row_start: int = 0) -> dict[str, str]:
        data = {k: str(v) for k, v in asdict(self).items()}
        data.update(
            format=EMBEDDINGS_FORMAT,
            format_version=str(EMBEDDINGS_FORMAT_VERSION),
            row_start=str(row_start),
        )
        return data

    @classmethod
    def _parse(cls, data: Any, where: str) -> EmbeddingsMeta:
        if not isinstance(data, dict):
            raise EmbeddingsFileError(where, "no embedreg metadata")
        if data.get("format") != EMBEDDINGS_FORMAT:
            raise EmbeddingsFileError(
                where,
                "not an embedreg embeddings file (no 'format: embedreg.embeddings' metadata)",
                "write embeddings with 'embedreg embed' or embedreg.embeddings.save_embeddings",
            )
        try:
            version = int(data.get("format_version", "0"))
        except (TypeError, ValueError):
            version = -1
        if version < 1:
            raise EmbeddingsFileError(where, f"bad format_version {data.get('format_version')!r}")
        if version > EMBEDDINGS_FORMAT_VERSION:
            raise EmbeddingsFileError(
                where,
                f"written with embeddings format {version}, this embedreg reads up to "
                f"{EMBEDDINGS_FORMAT_VERSION}",
                "upgrade embedreg (pip install -U embedreg)",
            )
        try:
            meta = cls(
                generation=str(data["generation"]),
                pin=str(data["pin"]),
                recipe_hash=str(data["recipe_hash"]),
                role=str(data["role"]),
                count=int(data["count"]),
                dimension=int(data["dimension"]),
                created=str(data["created"]),
                embedreg_version=str(data["embedreg_version"]),
            )
        except KeyError as exc:
            raise EmbeddingsFileError(where, f"metadata lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise EmbeddingsFileError(where, f"bad metadata ({exc})") from None
        if meta.count < 0 or meta.dimension < 1 or meta.role not in ROLES:
            raise EmbeddingsFileError(where, "inconsistent metadata (count, dimension or role)")
        return meta


@dataclass
class Embeddings:
    """Vectors read from an embeddings file, with their ids, labels and metadata.

    Attributes:
        vectors: float32 array of shape ``(n, d)``.
        ids: one id per row, or ``None`` when the file holds none.
        labels: one label per row, or ``None``.
        meta: the file's metadata (``meta.count`` counts the whole file).
        start: index of ``vectors[0]`` in the whole file (non-zero for the
            batches of :func:`iter_embeddings`).
    """

    vectors: np.ndarray
    ids: list[str] | None
    labels: list[str] | None
    meta: EmbeddingsMeta
    start: int = 0

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


def _describe(name: str, pin: str, dimension: int) -> str:
    short = pin if len(pin) <= 32 else pin[:28] + "…"
    return f"{name!r} (pin {short}, {dimension}-d)"


def _meta_for(generation: Generation, role: str) -> EmbeddingsMeta:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return EmbeddingsMeta(
        generation=generation.name,
        pin=generation.pin,
        recipe_hash=generation.recipe.hash,
        role=role,
        count=0,
        dimension=generation.dimension,
        created=utc_now(),
        embedreg_version=__version__,
    )


def check_generation(meta: EmbeddingsMeta, generation: Generation, what: str) -> None:
    """Raise :class:`GenerationMismatch` unless ``meta`` was made by ``generation``.

    Name, pin and recipe hash must all agree; then the dimension must too.
    """
    if (meta.generation, meta.pin, meta.recipe_hash) != (
        generation.name,
        generation.pin,
        generation.recipe.hash,
    ):
        made_by = meta.describe_generation()
        wanted = _describe(generation.name, generation.pin, generation.dimension)
        if meta.generation == generation.name:
            differs = "pin" if meta.pin != generation.pin else "recipe"
            made_by += f" [a different {differs} under the same name]"
        raise GenerationMismatch(what, made_by, wanted)
    if meta.dimension != generation.dimension:
        raise DimensionMismatch(generation.dimension, meta.dimension, what)


# --- writing ---------------------------------------------------------------------------------


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
        tensors[_VECTORS] = {
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

    Example:
        >>> import tempfile, numpy as np
        >>> from embedreg import Generation, HubSource, Recipe
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
    ) -> None:
        if not isinstance(shard_rows, int) or shard_rows < 1:
            raise ValidationError(f"shard_rows must be a positive integer, got {shard_rows!r}")
        self.path = Path(path)
        _check_replaceable(self.path)
        self.generation = generation
        self.meta = _meta_for(generation, role)
        self.shard_rows = shard_rows
        self.count = 0
        self._fields: tuple[str, ...] | None = None
        self._shards: list[tuple[str, int]] = []
        self._current: _ShardFile | None = None
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(
            tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
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
            name = _SHARD_NAME.format(len(self._shards) + 1)
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
        shard.finish(meta._metadata(row_start=row_start))
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
) -> Path:
    """Write ``vectors`` (N x d) made by ``generation`` to ``path`` atomically.

    Example:
        >>> import tempfile, numpy as np
        >>> from embedreg import Generation, HubSource, Recipe
        >>> gen = Generation("v1", HubSource("org/model", "0" * 40), Recipe(), dimension=2)
        >>> p = save_embeddings(tempfile.mkdtemp() + "/q.safetensors", np.ones((5, 2)),
        ...                     generation=gen, role="query")
        >>> read_meta(p).count, read_meta(p).role
        (5, 'query')
    """
    with EmbeddingsWriter(path, generation, role, shard_rows=shard_rows) as writer:
        writer.write(vectors, ids=ids, labels=labels)
    return writer.path


# --- reading ---------------------------------------------------------------------------------


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
    meta = EmbeddingsMeta._parse(raw, where)
    if _VECTORS not in keys:
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
        meta = EmbeddingsMeta._parse(
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
    shard: Path, a: int, b: int, meta: EmbeddingsMeta, where: str
) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
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
            vec_slice = fh.get_slice(_VECTORS)
            shape = vec_slice.get_shape()
            if len(shape) != 2 or shape[1] != meta.dimension:
                raise EmbeddingsFileError(
                    where,
                    f"{shard.name}: embeddings of shape {shape}, expected (*, {meta.dimension})",
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
    parts = [_read_rows(shard, 0, rows, layout.meta, str(path)) for shard, rows in layout.shards]
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
            pending.append(_read_rows(shard, a, b, layout.meta, str(path)))
            pending_rows += b - a
            a = b
            if pending_rows == batch_rows:
                yield _join(pending, layout.meta, start)
                start += pending_rows
                pending, pending_rows = [], 0
    if pending_rows:
        yield _join(pending, layout.meta, start)
