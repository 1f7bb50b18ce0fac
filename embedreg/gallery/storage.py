"""A gallery folder on disk: the manifest, versioned index and item files, the lock.

Layout::

    DIR/gallery.json             the manifest (the commit point)
    DIR/items.<v>.jsonl          one line per item: id, FAISS id, segment, text
    DIR/<segment>.<v>.faiss      one FAISS index per segment
    DIR/.gallery.lock            held by writers for a whole load-change-save
    DIR/.retained/<key>.json     copies of earlier manifests whose files are kept

A save writes the index and item files of a new version ``v``, then replaces
the manifest atomically (temp file + rename): a reader sees the old gallery or
the new one, never a mixture.  The files of the version just replaced stay
(a reader that read its manifest can still open them); older ones are
deleted after the switch, and so are the temporary files of killed writers.
The manifest records each file's sha256 and a content hash over them, which
loading checks; every value in it that decides what is read or written
(segment names, file names, ids) is checked before use.  A manifest copied
under ``.retained/`` (:func:`.retention.retain`) keeps the files it names on disk through
later saves, until it is released (an upgrade keeps the version it replaced
this way, for rollback).

Example:
    >>> seg = Segment("v2", "sha256:" + "0" * 64, "1" * 64, 384, True, 10)
    >>> Segment.from_dict(seg.to_dict()) == seg
    True
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import (
    GALLERY_FORMAT,
    GALLERY_FORMAT_VERSION,
    GALLERY_LOCK,
    GALLERY_MANIFEST,
    NAME_RE,
)
from ..errors import EmbedRegError, GalleryError, GenerationMismatch, LockTimeout, NotFound
from ..registry import Generation
from ..routing import FaissIndex
from ..util.atomic import atomic_write_bytes, temp_prefix
from ..util.fields import check_fields
from ..util.hashing import canonical_json_sha256, file_sha256
from .calibration import Calibrations, parse_calibrations
from .index import IndexSpec
from .retention import retained_files

__all__ = [
    "ItemRow",
    "ItemTable",
    "Manifest",
    "Segment",
    "Written",
    "check_counts",
    "content_hash",
    "current_version",
    "load_manifest",
    "locked",
    "named_files",
    "read_item_table",
    "read_items",
    "read_manifest",
    "remove_stale",
    "verify_files",
    "write_manifest",
    "write_version",
]

#: Files that a save writes under a version number (and that later saves supersede).
_FILE_RE = re.compile(r"^(?:items\.(\d+)\.jsonl|[a-z0-9][a-z0-9._-]*\.(\d+)\.faiss)$")

#: One item as the items file stores it: (FAISS id, item id, segment, text or None).
ItemRow = tuple[int, str, str, "str | None"]


@dataclass(frozen=True)
class Segment:
    """The items of a gallery embedded by one generation."""

    generation: str
    pin: str
    recipe_hash: str
    dimension: int
    normalize: bool
    count: int = 0
    index_file: str | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, generation: Generation) -> Segment:
        """An empty segment for ``generation``."""
        return cls(
            generation=generation.name,
            pin=generation.pin,
            recipe_hash=generation.recipe.hash,
            dimension=generation.dimension,
            normalize=generation.recipe.normalize,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "generation": self.generation,
            "pin": self.pin,
            "recipe_hash": self.recipe_hash,
            "dimension": self.dimension,
            "normalize": self.normalize,
            "count": self.count,
            "index_file": self.index_file,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Segment:
        """Inverse of :meth:`to_dict`."""
        required = {"generation", "pin", "recipe_hash", "dimension", "normalize"}
        check_fields("segment", data, required | {"count", "index_file", "sha256"}, required)
        return cls(**data)

    def matches(self, generation: Generation) -> bool:
        """True when ``generation`` is the one that embedded this segment (name, pin, recipe)."""
        return (generation.name, generation.pin, generation.recipe.hash) == (
            self.generation,
            self.pin,
            self.recipe_hash,
        )

    def check(self, generation: Generation, where: str) -> None:
        """Refuse ``generation`` (this segment's by name) when its pin or recipe changed since."""
        if not self.matches(generation):
            raise GenerationMismatch(
                f"segment {self.generation!r} of {where}",
                f"{self.generation!r} pinned {self.pin} (recipe {self.recipe_hash[:12]})",
                f"{generation.name!r} pinned {generation.pin} "
                f"(recipe {generation.recipe.hash[:12]})",
                "the registry's generation changed since the gallery was built; "
                "re-embed the gallery",
            )


@dataclass(frozen=True)
class Written:
    """The files of one saved version: index file and sha256 per segment, and the items file."""

    indexes: dict[str, tuple[str, str]]
    items_file: str
    items_sha256: str


def content_hash(items_sha256: str | None, segments: Mapping[str, str | None]) -> str | None:
    """The hash over the items file and every segment's index file (``None`` if one is unsaved)."""
    if items_sha256 is None or any(s is None for s in segments.values()):
        return None
    return canonical_json_sha256({"items": items_sha256, "segments": dict(segments)})


def items_file(version: int) -> str:
    """Name of the items file of ``version``."""
    return f"items.{version}.jsonl"


def write_version(
    folder: Path, version: int, indexes: Mapping[str, FaissIndex], items: Iterable[ItemRow]
) -> Written:
    """Write the index files and items file of ``version`` (each complete before it is named)."""
    import faiss

    written: dict[str, tuple[str, str]] = {}
    try:
        for name, index in indexes.items():
            fname = f"{name}.{version}.faiss"
            tmp = folder / f"{temp_prefix(fname)}w.tmp"  # a dead writer's goes with the next save
            try:
                faiss.write_index(index, str(tmp))
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, folder / fname)
            except (RuntimeError, OSError) as exc:
                tmp.unlink(missing_ok=True)
                raise write_failure(exc, folder / fname) from None
            written[name] = (fname, file_sha256(folder / fname))
        lines = [
            json.dumps({"id": i, "faiss_id": fid, "segment": seg, "text": text}, ensure_ascii=False)
            for fid, i, seg, text in items
        ]
        name = items_file(version)
        atomic_write_bytes(folder / name, ("\n".join(lines) + ("\n" if lines else "")).encode())
    except BaseException:
        for fname, _ in written.values():
            (folder / fname).unlink(missing_ok=True)  # no manifest names them yet
        raise
    return Written(written, name, file_sha256(folder / name))


def write_failure(exc: BaseException, path: Path) -> OSError:
    """An :class:`OSError` naming ``path`` for a failed write (FAISS raises a bare RuntimeError)."""
    if isinstance(exc, OSError) and exc.filename:
        return exc
    text = str(exc)
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        code = (
            errno.ENOSPC
            if "No space" in text
            else errno.EFBIG
            if "too large" in text
            else errno.EIO
        )
    reason = os.strerror(code) if code != errno.EIO else text.strip().splitlines()[-1][:200]
    return OSError(code, reason, str(path))


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Replace the manifest atomically: the commit point of a save."""
    text = json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(folder / GALLERY_MANIFEST, text.encode())


def _missing(folder: Path) -> NotFound:
    return NotFound(
        f"no gallery at {folder} ({GALLERY_MANIFEST} is missing)",
        "build one with 'embedreg gallery build'",
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the gallery in ``folder`` as a dict.

    Raises:
        NotFound: there is no gallery in ``folder``.
        GalleryError: the manifest is not readable JSON.
    """
    path = folder / GALLERY_MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _missing(folder) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise GalleryError(
            f"gallery manifest {path} is corrupted ({detail})", "restore the gallery from a backup"
        ) from None
    if not isinstance(data, dict):
        raise GalleryError(f"gallery manifest {path} is not an object", "restore the gallery")
    return data


@dataclass(frozen=True)
class Manifest:
    """A gallery manifest, parsed and checked (what :meth:`Gallery.load` builds from)."""

    metric: str
    index: IndexSpec
    segments: dict[str, Segment]
    name: str | None
    created: str | None
    updated: str | None
    sources: list[dict[str, Any]]
    version: int
    next_id: int
    items_file: str | None
    content_hash: str | None
    calibration: Calibrations


def load_manifest(folder: Path) -> Manifest:
    """The manifest of the gallery in ``folder``, parsed and checked.

    Raises:
        NotFound: there is no gallery in ``folder``.
        GalleryError: the manifest is damaged, foreign, or from a newer embedreg.
    """
    data = read_manifest(folder)
    where = folder / GALLERY_MANIFEST
    try:
        if data.get("format") != GALLERY_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {GALLERY_FORMAT!r}")
        if data.get("format_version", 0) > GALLERY_FORMAT_VERSION:
            raise GalleryError(
                f"gallery {folder} has format version {data['format_version']}, "
                f"this embedreg reads up to {GALLERY_FORMAT_VERSION}",
                "upgrade embedreg",
            )
        manifest = Manifest(
            metric=str(data["metric"]),
            index=IndexSpec.from_dict(data["index"]),
            segments={n: Segment.from_dict(s) for n, s in data["segments"].items()},
            name=data.get("name"),
            created=data.get("created"),
            updated=data.get("updated"),
            sources=list(data.get("sources", [])),
            version=int(data["version"]),
            next_id=int(data["next_id"]),
            items_file=data.get("items_file"),
            content_hash=data.get("content_hash"),
            calibration=parse_calibrations(data.get("calibration")),
        )
        _check_manifest(manifest)
        return manifest
    except GalleryError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, EmbedRegError) as exc:
        raise GalleryError(
            f"gallery manifest {where} is invalid ({exc})", "restore the gallery from a backup"
        ) from None


def _check_manifest(m: Manifest) -> None:
    """Refuse values that would change what is loaded or where files are written."""
    if m.version < 0 or m.next_id < 0:
        raise ValueError(f"version {m.version} and next_id {m.next_id} must not be negative")
    for key, seg in m.segments.items():
        if not NAME_RE.fullmatch(key) or seg.generation != key:
            raise ValueError(f"segment {key!r} is not a generation name matching its record")
        if seg.index_file is not None and seg.index_file != f"{key}.{m.version}.faiss":
            raise ValueError(f"segment {key!r} names index file {seg.index_file!r}")
        if not isinstance(seg.count, int) or seg.count < 0:
            raise ValueError(f"segment {key!r} has count {seg.count!r}")
    if m.version == 0:
        if m.items_file is not None:
            raise ValueError("an unsaved gallery (version 0) names an items file")
        return
    if m.items_file != items_file(m.version):
        raise ValueError(f"items file {m.items_file!r} is not the one of version {m.version}")
    if not isinstance(m.content_hash, str) or not m.content_hash:
        raise ValueError("a saved gallery must record its content hash")


def named_files(folder: Path) -> set[str]:
    """The files the folder's current manifest names (none when it cannot be read)."""
    try:
        data = read_manifest(folder)
        names = {str(data["items_file"])} if data.get("items_file") else set()
        for seg in dict(data.get("segments") or {}).values():
            if isinstance(seg, dict) and seg.get("index_file"):
                names.add(str(seg["index_file"]))
    except (NotFound, GalleryError, KeyError, TypeError, ValueError):
        return set()
    return {n for n in names if _FILE_RE.match(n)}


def verify_files(
    folder: Path,
    segments: Mapping[str, Segment],
    items_sha256: str | None,
    recorded_hash: str | None,
) -> None:
    """Check the saved files against the manifest: each index's sha256, and the content hash.

    Raises:
        GalleryError: a file was modified or damaged.
    """
    for seg in segments.values():
        if seg.index_file and file_sha256(folder / seg.index_file) != seg.sha256:
            raise GalleryError(
                f"index file {folder / seg.index_file} does not match its manifest sha256",
                "the gallery was modified or damaged; restore it or rebuild it",
            )
    if recorded_hash and recorded_hash != content_hash(
        items_sha256, {n: s.sha256 for n, s in segments.items()}
    ):
        raise GalleryError(
            f"gallery {folder} does not match its content hash",
            "the items file was modified or damaged; restore it or rebuild it",
        )


def check_counts(folder: Path, segments: Mapping[str, Segment], items: Iterable[ItemRow]) -> None:
    """Refuse an items file whose items per segment differ from the manifest's counts."""
    counts: dict[str, int] = {}
    for _, _, seg_name, _ in items:
        counts[seg_name] = counts.get(seg_name, 0) + 1
    for name, seg in segments.items():
        if counts.get(name, 0) != seg.count:
            raise GalleryError(
                f"gallery {folder}: segment {name!r} lists {seg.count} items but the items "
                f"file has {counts.get(name, 0)}",
                "restore the gallery from a backup",
            )


def read_items(path: Path) -> Iterator[ItemRow]:
    """The rows of an items file, checked line by line."""
    if not path.exists():
        raise GalleryError(f"gallery file {path} is missing", "restore the gallery from a backup")
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                yield int(row["faiss_id"]), row["id"], row["segment"], row.get("text")
            except (ValueError, KeyError, TypeError) as exc:
                raise GalleryError(
                    f"{path} line {n} is invalid ({exc})", "restore the gallery from a backup"
                ) from None


@dataclass(frozen=True)
class ItemTable:
    """A gallery's items as read: FAISS id → (item id, segment, text), and the file's sha256."""

    items: dict[int, tuple[str, str, str | None]]
    sha256: str


def read_item_table(folder: Path, manifest: Manifest) -> ItemTable:
    """The items file ``manifest`` names, checked against it (ids unique, below ``next_id``).

    Raises:
        GalleryError: a missing or invalid items file, or one that contradicts the manifest.
    """
    assert manifest.items_file is not None
    path = folder / manifest.items_file
    items: dict[int, tuple[str, str, str | None]] = {}
    seen: set[str] = set()
    for fid, item_id, seg_name, text in read_items(path):
        if item_id in seen or fid in items or fid >= manifest.next_id:
            raise GalleryError(
                f"{path}: item {item_id!r} (FAISS id {fid}) is repeated or not below "
                f"next_id {manifest.next_id}",
                "restore the gallery from a backup",
            )
        if seg_name not in manifest.segments:
            raise GalleryError(
                f"{path}: item {item_id!r} is in unknown segment {seg_name!r}",
                "restore the gallery from a backup",
            )
        seen.add(item_id)
        items[fid] = (item_id, seg_name, text)
    return ItemTable(items, file_sha256(path))


def current_version(folder: Path) -> int:
    """The version the folder's manifest names (0 when there is none)."""
    try:
        return int(read_manifest(folder).get("version", 0))
    except (NotFound, GalleryError, ValueError, TypeError):
        return 0


def remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete versioned files that neither the current manifest nor a retained one names."""
    keep = keep | retained_files(folder)
    for entry in folder.iterdir():
        if entry.name in keep or not _FILE_RE.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()


@contextlib.contextmanager
def locked(folder: Path, *, timeout: float = 60.0) -> Iterator[None]:
    """Hold the gallery folder's lock (another writer waits up to ``timeout`` seconds)."""
    from filelock import FileLock, Timeout

    if not (folder / GALLERY_MANIFEST).exists():
        raise _missing(folder)
    lock = FileLock(str(folder / GALLERY_LOCK), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise LockTimeout(str(folder / GALLERY_LOCK), timeout, "gallery") from None
    try:
        yield
    finally:
        lock.release()
