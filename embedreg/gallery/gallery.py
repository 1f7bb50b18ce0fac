"""Galleries: FAISS indexes bound to the generations that embedded them.

Every item lives in exactly one **segment**, and a segment holds the items
embedded by one generation; a gallery starts with one segment and gains
others when part of it is re-embedded by a newer generation.  The manifest
records each segment's generation (name, pin, recipe hash) and the gallery's
metric, index kind, item sources and content hash; the folder layout and how
saves stay atomic are :mod:`.storage`.

**Bound to generations.** Vectors are added for a named generation and must
have its dimension; adding vectors of a generation that has no segment is
refused unless a segment is created for it explicitly.  Searching routes
each segment through its own :class:`~embedreg.routing.QueryPath`, or, for
query texts, a fused path or a cascade when the policy allows one and it is
better (:mod:`.search`, :mod:`.kinded`).

Example:
    >>> import numpy as np
    >>> from embedreg.registry import Generation, HubSource, Recipe
    >>> v2 = Generation("v2", HubSource("org/model", "0" * 40), Recipe(), dimension=4)
    >>> g = Gallery.create(v2, metric="ip")
    >>> g.add(np.eye(4, dtype="float32"), ["a", "b", "c", "d"], generation=v2)
    4
    >>> hits = g.search_vectors(np.eye(4, dtype="float32")[:1], k=2, generation=v2)
    >>> hits.ids[0][0]
    'a'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..constants import GALLERY_FORMAT, GALLERY_FORMAT_VERSION, GALLERY_MANIFEST
from ..errors import DuplicateName, GalleryError, NotFound, ValidationError
from ..registry import Generation
from ..routing import FaissIndex
from ..util.atomic import remove_stale_temps
from ..util.clock import utc_now
from . import storage
from .backend import Item
from .calibration import Calibrations, calibrations_to_dict
from .index import (
    METRICS,
    IndexSpec,
    is_ivf,
    new_index,
    read_index,
    train_ivf,
    without_ids,
)
from .search import RoutedIndexes, Searching
from .storage import Segment

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["Gallery"]

#: Loads started over when writers replace the files under a reader.
_LOAD_ATTEMPTS = 5


class Gallery(Searching):
    """A FAISS-backed gallery whose segments know their generations.

    Create one with :meth:`create` (empty, in memory) or :meth:`load` (from a
    folder); change it with :meth:`add`, :meth:`remove`, :meth:`add_segment`;
    persist it with :meth:`save`; change a saved one under its lock with
    :meth:`edit`.  Building from files is :func:`embedreg.gallery.build_gallery`.
    """

    def __init__(
        self,
        *,
        metric: str,
        index: IndexSpec,
        segments: Mapping[str, Segment],
        name: str | None = None,
        created: str | None = None,
        updated: str | None = None,
        sources: Sequence[Mapping[str, Any]] = (),
        path: Path | None = None,
        version: int = 0,
        next_id: int = 0,
        calibration: Calibrations | None = None,
    ) -> None:
        if metric not in METRICS:
            raise ValidationError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        self.metric = metric
        self.index_spec = index
        self.name = name
        self.created = created or utc_now()
        self.updated = updated or self.created
        self.sources: list[dict[str, Any]] = [dict(s) for s in sources]
        self.path = path
        self._segments: dict[str, Segment] = dict(segments)
        #: score calibrations, segment → query generation (see :mod:`.calibration`)
        self.calibration: Calibrations = dict(calibration or {})
        self._indexes: dict[str, FaissIndex] = {}
        self.routed = RoutedIndexes()
        self._version = version
        self._next_id = next_id
        # item tables: id → FAISS id; FAISS id → (id, segment, text)
        self._by_id: dict[str, int] = {}
        self._items: dict[int, tuple[str, str, str | None]] = {}
        self._items_sha256: str | None = None
        self._dirty = True

    @classmethod
    def create(
        cls,
        generation: Generation,
        *,
        metric: str = "ip",
        index: IndexSpec | str = "flat",
        name: str | None = None,
    ) -> Gallery:
        """An empty gallery with one segment for ``generation``."""
        spec = IndexSpec(index) if isinstance(index, str) else index
        gallery = cls(metric=metric, index=spec, segments={}, name=name)
        gallery.add_segment(generation)
        return gallery

    def add_segment(self, generation: Generation) -> Segment:
        """Start an empty segment for ``generation`` (a partial upgrade adds one)."""
        if generation.name in self._segments:
            raise DuplicateName("segment", generation.name, "an existing segment of this gallery")
        seg = Segment.of(generation)
        self._segments[generation.name] = seg
        self._indexes[generation.name] = new_index(self.index_spec, seg.dimension, self.metric)
        self._dirty = True
        return seg

    def where(self) -> str:
        """The gallery, as error messages name it."""
        return f"gallery {self.path or self.name or ''}".rstrip()

    def keeps_texts(self, segment: str) -> bool:
        """Whether every item of ``segment`` keeps its text (a cascade embeds them again)."""
        rows = [text for _, seg, text in self._items.values() if seg == segment]
        return bool(rows) and all(t is not None for t in rows)

    def hit_texts(self, segment: str, keys: Sequence[int]) -> list[tuple[str, str | None]]:
        """``(item id, text)`` of ``segment``'s search hits, by key."""
        return [(self._items[k][0], self._items[k][2]) for k in keys]

    def segment_table(self) -> dict[str, Segment]:
        """Segments by generation name, as stored (counts as of the last save)."""
        return self._segments

    def search_index(self, segment: str) -> FaissIndex:
        """The FAISS index of ``segment`` (read from the folder on first use)."""
        return self._index(segment)

    def hit(self, key: int) -> tuple[str, str]:
        """``(item id, segment)`` of the item whose FAISS id is ``key``."""
        item_id, seg, _ = self._items[key]
        return item_id, seg

    @property
    def segments(self) -> dict[str, Segment]:
        """Segments by generation name, with live counts."""
        return {name: replace(seg, count=self._count(name)) for name, seg in self._segments.items()}

    @property
    def generations(self) -> list[str]:
        """Names of the generations that embedded the gallery's items."""
        return sorted(self._segments)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def _count(self, segment: str) -> int:
        index = self._indexes.get(segment)
        return int(index.ntotal) if index is not None else self._segments[segment].count

    def item(self, item_id: str) -> Item:
        """An item's record: id, segment, text (``None`` when only a pointer is kept), FAISS id."""
        fid = self._by_id.get(item_id)
        if fid is None:
            raise NotFound(f"no item {item_id!r} in the gallery", "check the id")
        _, seg, text = self._items[fid]
        return Item(item_id, seg, text, fid)

    def ids(self, segment: str | None = None) -> list[str]:
        """Item ids (of one segment, or all), in the order they were added."""
        return [i for fid, (i, seg, _) in sorted(self._items.items()) if segment in (None, seg)]

    # --- changing items -------------------------------------------------------------

    def add(
        self,
        vectors: FloatArray,
        ids: Sequence[str],
        *,
        generation: Generation,
        texts: Sequence[str | None] | None = None,
    ) -> int:
        """Add items embedded by ``generation`` to its segment; returns the number added.

        Raises:
            GenerationMismatch: the gallery has no segment of that generation.
            DimensionMismatch: the vectors do not have the generation's dimension.
            DuplicateName: an id is already in the gallery (or repeated).
            ValidationError: NaN or infinite values, or lengths that disagree.
        """
        import numpy as np

        seg, x = self.checked_items(vectors, ids, texts, generation, self._by_id)
        if len(ids) == 0:
            return 0
        index = self._index(seg.generation)
        if is_ivf(index) and not index.is_trained:
            train_ivf(index, self.index_spec, x)
        fids = np.arange(self._next_id, self._next_id + len(ids), dtype=np.int64)
        index.add_with_ids(x, fids)
        for n, (fid, item_id) in enumerate(zip(fids.tolist(), ids, strict=False)):
            self._by_id[item_id] = fid
            self._items[fid] = (item_id, seg.generation, texts[n] if texts is not None else None)
        self._next_id += len(ids)
        self._touch()
        return len(ids)

    def remove(self, ids: Sequence[str]) -> int:
        """Remove items by id; returns how many were removed. Unknown ids are an error."""
        missing = [i for i in ids if i not in self._by_id]
        if missing:
            raise NotFound(
                f"{len(missing)} id(s) not in the gallery: {', '.join(map(repr, missing[:5]))}",
                "check the ids (embedreg gallery info shows the count)",
            )
        by_segment: dict[str, list[int]] = {}
        for item_id in dict.fromkeys(ids):
            fid = self._by_id[item_id]
            by_segment.setdefault(self._items[fid][1], []).append(fid)
        for seg_name, fids in by_segment.items():
            kept = [f for f, (_, seg, _) in self._items.items() if seg == seg_name]
            self._indexes[seg_name] = without_ids(
                self._index(seg_name), self.index_spec, self.metric, fids, kept
            )
            for fid in fids:
                item_id = self._items.pop(fid)[0]
                del self._by_id[item_id]
        self._touch()
        return sum(len(f) for f in by_segment.values())

    def vectors(self, ids: Sequence[str]) -> FloatArray:
        """The stored vectors of items (all from one segment), as FAISS keeps them."""
        import numpy as np

        segs = {self._items[self._by_id[i]][1] for i in ids} if ids else set()
        if len(segs) > 1:
            raise ValidationError("vectors() takes ids of one segment at a time")
        if not segs:
            return np.zeros((0, 0), dtype=np.float32)
        index = self._index(segs.pop())
        return np.vstack([index.reconstruct(self._by_id[i]) for i in ids]).astype(np.float32)

    def _touch(self) -> None:
        self.updated = utc_now()
        self._dirty = True

    def _index(self, segment: str) -> FaissIndex:
        if segment not in self._indexes:
            self._indexes[segment] = self._read_index(self._segments[segment])
        return self._indexes[segment]

    # --- persistence -----------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """The manifest as it would be saved now."""
        return {
            "format": GALLERY_FORMAT,
            "format_version": GALLERY_FORMAT_VERSION,
            "embedreg_version": __version__,
            "name": self.name,
            "metric": self.metric,
            "index": self.index_spec.to_dict(),
            "segments": {name: seg.to_dict() for name, seg in self.segments.items()},
            "count": len(self),
            "next_id": self._next_id,
            "version": self._version,
            "items_file": storage.items_file(self._version) if self._version else None,
            "sources": self.sources,
            "content_hash": self._content_hash(),
            "calibration": calibrations_to_dict(
                {s: c for s, c in self.calibration.items() if s in self._segments}
            ),
            "created": self.created,
            "updated": self.updated,
        }

    def _content_hash(self) -> str | None:
        if self._dirty:
            return None
        return storage.content_hash(
            self._items_sha256, {n: s.sha256 for n, s in self._segments.items()}
        )

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the gallery to its folder (atomically: the manifest switches last)."""
        folder = Path(path) if path is not None else self.path
        if folder is None:
            raise ValidationError("the gallery has no folder yet", "pass a path to save()")
        folder.mkdir(parents=True, exist_ok=True)
        if self.path is None and (folder / GALLERY_MANIFEST).exists():
            raise DuplicateName("gallery folder", str(folder), "an existing gallery")
        indexes = {name: self._index(name) for name in self._segments}  # load before files move
        remove_stale_temps(folder)  # what killed writers left
        previous = storage.named_files(folder)  # readers may still be opening these
        version = max(self._version, storage.current_version(folder)) + 1
        rows = ((fid, i, seg, text) for fid, (i, seg, text) in sorted(self._items.items()))
        written = storage.write_version(folder, version, indexes, rows)
        new_segments = {
            name: replace(
                seg,
                count=self._count(name),
                index_file=written.indexes[name][0],
                sha256=written.indexes[name][1],
            )
            for name, seg in self._segments.items()
        }
        old = (self._segments, self._version, self.path, self._dirty, self._items_sha256)
        self._segments, self._version, self.path = new_segments, version, folder
        self._dirty, self._items_sha256 = False, written.items_sha256
        try:
            storage.write_manifest(folder, self.manifest())
        except BaseException:
            (self._segments, self._version, self.path, self._dirty, self._items_sha256) = old
            for name in (written.items_file, *(f for f, _ in written.indexes.values())):
                (folder / name).unlink(missing_ok=True)  # no manifest names them
            raise
        keep = {written.items_file, *(f for f, _ in written.indexes.values()), *previous}
        storage.remove_stale(folder, keep)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> Gallery:
        """Open a gallery folder; ``verify`` checks every file's sha256 against the manifest.

        Readers take no lock: when a writer switches versions twice while this
        reads (the files it started on are gone), the load starts over.
        """
        folder = Path(path)
        for attempt in range(_LOAD_ATTEMPTS):
            m = storage.load_manifest(folder)
            try:
                return cls._load(folder, m, verify)
            except (GalleryError, OSError, RuntimeError) as exc:
                if attempt + 1 < _LOAD_ATTEMPTS and storage.current_version(folder) != m.version:
                    continue  # a writer saved meanwhile: read the new version
                if isinstance(exc, GalleryError):
                    raise
                raise GalleryError(
                    f"cannot read gallery {folder} ({exc})", "restore the gallery from a backup"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _load(cls, folder: Path, m: storage.Manifest, verify: bool) -> Gallery:
        gallery = cls(
            metric=m.metric,
            index=m.index,
            segments=m.segments,
            name=m.name,
            created=m.created,
            updated=m.updated,
            sources=m.sources,
            path=folder,
            version=m.version,
            next_id=m.next_id,
            calibration=m.calibration,
        )
        if m.items_file:
            table = storage.read_item_table(folder, m)
            gallery._items, gallery._items_sha256 = table.items, table.sha256
            gallery._by_id = {item_id: fid for fid, (item_id, _, _) in table.items.items()}
        gallery._dirty = False
        if verify:
            storage.verify_files(folder, m.segments, gallery._items_sha256, m.content_hash)
        rows = ((fid, i, seg, text) for fid, (i, seg, text) in gallery._items.items())
        storage.check_counts(folder, m.segments, rows)
        for seg_name in m.segments:
            gallery._index(seg_name)  # read now: a later save by another process replaces files
        return gallery

    def _read_index(self, seg: Segment) -> FaissIndex:
        if self.path is None or seg.index_file is None:
            return new_index(self.index_spec, seg.dimension, self.metric)
        return read_index(self.path / seg.index_file, self.index_spec, seg.dimension, seg.count)

    @classmethod
    @contextlib.contextmanager
    def edit(cls, path: str | os.PathLike[str], *, timeout: float = 60.0) -> Iterator[Gallery]:
        """Load, change and save a gallery under a lock on its folder.

        Example:
            >>> with Gallery.edit("galleries/news") as g:  # doctest: +SKIP
            ...     g.remove(["doc-17"])
        """
        folder = Path(path)
        with storage.locked(folder, timeout=timeout):
            gallery = cls.load(folder)
            yield gallery
            if gallery._dirty:
                gallery.save()

    def info(self) -> dict[str, Any]:
        """Manifest fields for display (``embedreg gallery info``)."""
        data = self.manifest()
        data["path"] = str(self.path) if self.path else None
        return data
