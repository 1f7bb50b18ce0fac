"""Galleries in vector databases: segments as collections, bound to their generations.

:class:`DatabaseGallery` does for a gallery in Qdrant, Milvus or PostgreSQL
what :class:`~embedreg.gallery.Gallery` does for a FAISS folder, through a
:class:`~.backend.GalleryBackend`: each segment is one collection whose
metadata records its generation (name, pin, recipe hash, dimension, metric),
the gallery's manifest is kept in the database, vectors of another
generation are refused before anything is written, and searches route each
segment's queries through its path (applied before the query is sent) and
merge the results like a folder's.

**Journaled writes.** A build marks the manifest ``building`` until its last
item is written (a rerun drops the half-built collections and builds again);
an ``add`` records the source it is adding under ``pending`` first, so a
rerun after a kill rewrites the same items (upserts by id) and finishes.

**Journaled alias moves.** A switch (an upgrade's, a rollback's) records
the alias's new target in the same manifest write that changes the
segments, then moves the alias, then clears the record: a command killed in
between leaves the record, and the next command that opens the gallery
(any of them, ``upgrade status`` too) moves the alias for every other client.

**One writer at a time.** A writer opens the gallery with ``write=True``
(:meth:`DatabaseGallery.edit`, builds, adds, upgrades): it takes the
backend's writer lock before it reads the manifest, and a second writer
waits.  PostgreSQL holds a session advisory lock (released when the writer's
connection ends, also on a kill); Qdrant's local mode and Milvus Lite lock
their folder or file for any open client, so a second process waits to
open it at all.  A Qdrant or Milvus *server* offers no lock embedreg can
take atomically: there, run one embedreg writer per gallery at a time.

Example:
    >>> g = DatabaseGallery.open("qdrant:///tmp/vectors?collection=news")  # doctest: +SKIP
    >>> g.search(["rates rise"], k=5, generation="v3", registry=reg).ids[0]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import (
    DuplicateName,
    GalleryError,
    LockTimeout,
    NotFound,
    ValidationError,
)
from ..registry import Generation
from ..util.clock import utc_now
from .backend import CollectionIndex, GalleryBackend, backend_for
from .calibration import Calibrations, calibrations_to_dict, parse_calibrations
from .dbitems import DatabaseItems
from .index import METRICS, IndexSpec
from .search import RoutedIndexes
from .storage import Segment

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..routing import FaissIndex, QueryPath

    FloatArray = npt.NDArray[np.float32]

__all__ = ["DB_GALLERY_FORMAT", "DatabaseGallery"]

#: The ``format`` of a database gallery's manifest.
DB_GALLERY_FORMAT = "embedreg.gallery.db"

#: How long a writer waits for another writer of the same gallery (seconds).
LOCK_TIMEOUT = 60.0

#: The manifest's ``state`` key of an alias move the switch recorded and has not made yet.
ALIAS_MOVE = "alias_move"


def _connect(url: str, *, write: bool, timeout: float) -> GalleryBackend:
    """The backend at ``url``, with its writer lock when ``write``."""
    backend = backend_for(url, timeout=timeout)
    if write and not backend.lock_writer(timeout):
        backend.close()
        raise LockTimeout(url, timeout, "gallery writer")
    return backend


class _NoPretransform(RoutedIndexes):
    """Database indexes take mapped queries (the path is applied before the query is sent)."""

    def get(self, segment: str, index: Any, path: QueryPath) -> FaissIndex | None:
        return None


class DatabaseGallery(DatabaseItems):
    """A gallery whose segments are collections of a vector database (see the module).

    Open one with :meth:`open`, start one with :meth:`create`; :meth:`add`,
    :meth:`remove`, :meth:`add_segment` write through at once (each write
    atomic in the database), :meth:`save` writes the manifest.
    """

    def __init__(self, backend: GalleryBackend, manifest: Mapping[str, Any]) -> None:
        self.backend = backend
        self.url = backend.url
        self.name: str = manifest["name"]
        self.metric: str = manifest["metric"]
        if self.metric not in METRICS:
            raise GalleryError(f"gallery {self.url} has an unknown metric {self.metric!r}")
        self.index_spec = IndexSpec("flat")
        self.created: str = manifest.get("created") or utc_now()
        self.updated: str = manifest.get("updated") or self.created
        self.sources: list[dict[str, Any]] = [dict(s) for s in manifest.get("sources", [])]
        self.calibration: Calibrations = parse_calibrations(manifest.get("calibration") or {})
        self._segments = {
            name: Segment.from_dict(data) for name, data in manifest.get("segments", {}).items()
        }
        self._collections: dict[str, str] = dict(manifest.get("collections", {}))
        self.state: dict[str, Any] = dict(manifest.get("state") or {})
        #: the collection the gallery's alias (its name in the database) points at
        self.alias: str | None = manifest.get("alias")
        self.routed = _NoPretransform()
        self._keys: dict[int, tuple[str, str]] = {}
        self._key_of: dict[tuple[str, str], int] = {}
        self._closed: dict[str, int] | None = None  # the counts when closed

    # --- opening -------------------------------------------------------------------

    @classmethod
    def open(
        cls, url: str, *, write: bool = False, timeout: float = LOCK_TIMEOUT
    ) -> DatabaseGallery:
        """Open the gallery at ``url`` (see :mod:`.locate` for the URL forms).

        ``write`` takes the gallery's writer lock (held until :meth:`close`)
        before the manifest is read, so two writers never interleave: the
        second waits up to ``timeout`` seconds.

        Raises:
            NotFound: the database holds no gallery there.
            GalleryError: the manifest is not an embedreg gallery's.
            LockTimeout: another writer held the gallery for ``timeout`` seconds.
        """
        backend = _connect(url, write=write, timeout=timeout)
        manifest = backend.read_manifest()
        if manifest is None:
            backend.close()
            raise NotFound(
                f"no gallery at {url}", "build one with 'embedreg gallery build GEN INPUT -o URL'"
            )
        if manifest.get("format") != DB_GALLERY_FORMAT:
            backend.close()
            raise GalleryError(f"{url} holds no embedreg gallery (its manifest is foreign)")
        try:
            return cls._finish_interrupted_switch(cls(backend, manifest), write)
        except BaseException:
            backend.close()
            raise

    @classmethod
    def _finish_interrupted_switch(cls, gallery: DatabaseGallery, write: bool) -> DatabaseGallery:
        """Complete the alias move a killed command left (a reader: when no writer is active)."""
        if ALIAS_MOVE not in gallery.state:
            return gallery
        if write:
            gallery.finish_alias()
            return gallery
        backend = gallery.backend
        if not backend.lock_writer(0):
            return gallery  # a writer is at work: it finishes the move itself
        try:
            fresh = backend.read_manifest()  # as the last writer left it
            if fresh is None or fresh.get("format") != DB_GALLERY_FORMAT:
                return gallery
            gallery = cls(backend, fresh)
            gallery.finish_alias()
            return gallery
        finally:
            backend.unlock_writer()

    @classmethod
    def create(
        cls,
        url: str,
        generation: Generation,
        *,
        metric: str = "ip",
        name: str | None = None,
        timeout: float = LOCK_TIMEOUT,
    ) -> DatabaseGallery:
        """A new, empty gallery at ``url`` with one segment for ``generation`` (marked building).

        The gallery is open for writing (its writer lock held until :meth:`close`).

        Raises:
            DuplicateName: the database holds a gallery there already.
        """
        backend = _connect(url, write=True, timeout=timeout)
        if backend.read_manifest() is not None:
            backend.close()
            raise DuplicateName("gallery", url, "an existing gallery; choose another URL")
        manifest = {"name": name or backend.gallery_name, "metric": metric}
        gallery = cls(backend, manifest)
        gallery.state = {"building": True}
        gallery.save()
        gallery.add_segment(generation)
        return gallery

    def close(self) -> None:
        """Release the database connection (counts stay readable, as of now)."""
        if self._closed is None:
            self._closed = {s: self.count(s) for s in self._segments}
            self.backend.close()

    def __enter__(self) -> DatabaseGallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the search surface ----------------------------------------------------------

    def where(self) -> str:
        """The gallery, as error messages name it."""
        return f"gallery {self.url}"

    def segment_table(self) -> dict[str, Segment]:
        """Segments by generation name."""
        return self._segments

    def search_index(self, segment: str) -> Any:
        """The collection of ``segment`` behind FAISS's ``ntotal``/``search``."""
        return CollectionIndex(self, segment)

    def remember(self, item_id: str, segment: str) -> int:
        """The key a search hit gets (kept while this gallery is open)."""
        key = self._key_of.get((item_id, segment))
        if key is None:
            key = len(self._keys)
            self._keys[key] = (item_id, segment)
            self._key_of[(item_id, segment)] = key
        return key

    def hit(self, key: int) -> tuple[str, str]:
        """``(item id, segment)`` of a search hit's key."""
        return self._keys[key]

    def keeps_texts(self, segment: str) -> bool:
        """Whether every item of ``segment`` keeps its text (one request)."""
        return self.backend.all_texts(self.collection(segment))

    def hit_texts(self, segment: str, keys: Sequence[int]) -> list[tuple[str, str | None]]:
        """``(item id, text)`` of ``segment``'s search hits, in one request."""
        ids = [self.hit(k)[0] for k in keys]
        found = self.backend.fetch(self.collection(segment), ids)
        return [(i, found[i][0] if i in found else None) for i in ids]

    # --- segments, switches and the alias ---------------------------------------------

    def add_segment(self, generation: Generation, *, collection: str | None = None) -> Segment:
        """Start an empty segment (collection) for ``generation``."""
        if generation.name in self._segments:
            raise DuplicateName("segment", generation.name, "an existing segment of this gallery")
        seg = Segment.of(generation)
        coll = collection or self._new_collection_name(generation.name)
        self.backend.create_collection(coll, seg, self.metric)
        self._segments[seg.generation] = seg
        self._collections[seg.generation] = coll
        self.save()
        return seg

    def replace_segments(
        self, segments: Mapping[str, Segment], collections: Mapping[str, str]
    ) -> None:
        """Put other collections in place of the segments (saved by :meth:`save`: an upgrade's switch)."""
        if set(segments) != set(collections):
            raise ValidationError("every segment needs a collection")
        self._segments, self._collections = dict(segments), dict(collections)
        self.updated = utc_now()

    def journal_alias(self, collection: str) -> None:
        """Record that the gallery's alias is to point at ``collection`` (written by the next save).

        The switch that changes the segments saves this with them, in one
        manifest write; :meth:`finish_alias` then moves the alias and clears
        the record.  A command killed in between leaves the record, and the
        next one that opens the gallery moves the alias (:meth:`open`).
        """
        self.alias = collection
        self.state = {**self.state, ALIAS_MOVE: collection}

    def finish_alias(self) -> bool:
        """Move the alias the manifest records as pending, then clear the record; False: none."""
        target = self.state.get(ALIAS_MOVE)
        if not isinstance(target, str):
            return False
        self.backend.set_alias(self.backend.gallery_name, target)
        self.state = {k: v for k, v in self.state.items() if k != ALIAS_MOVE}
        self.save()
        return True

    def _new_collection_name(self, generation: str) -> str:
        base = f"{self.backend.gallery_name}__{re.sub(r'[^a-z0-9_]', '_', generation)}"
        taken = set(self._collections.values())
        name, n = base, 1
        while name in taken or self.backend.collection_binding(name) is not None:
            n += 1
            name = f"{base}_{n}"
        return name

    # --- the manifest ----------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """The manifest as it is saved in the database."""
        return {
            "format": DB_GALLERY_FORMAT,
            "embedreg_version": __version__,
            "name": self.name,
            "metric": self.metric,
            "index": self.index_spec.to_dict(),
            "segments": {n: s.to_dict() for n, s in self._segments.items()},
            "collections": dict(self._collections),
            "sources": self.sources,
            "calibration": calibrations_to_dict(
                {s: c for s, c in self.calibration.items() if s in self._segments}
            ),
            "state": self.state,
            "alias": self.alias,
            "created": self.created,
            "updated": self.updated,
        }

    def save(self) -> None:
        """Write the manifest (atomically, in the database)."""
        self.backend.write_manifest(self.manifest())

    @classmethod
    @contextlib.contextmanager
    def edit(cls, url: str, *, timeout: float = LOCK_TIMEOUT) -> Iterator[DatabaseGallery]:
        """Open, change and save a gallery under its writer lock (saved when the block ends)."""
        gallery = cls.open(url, write=True, timeout=timeout)
        try:
            yield gallery
            gallery.save()
        finally:
            gallery.close()

    def info(self) -> dict[str, Any]:
        """Manifest fields for display (``embedreg gallery info``), with live counts."""
        data = self.manifest()
        data["segments"] = {
            n: {**s.to_dict(), "collection": self.collection(n)} for n, s in self.segments.items()
        }
        data["count"] = sum(s["count"] for s in data["segments"].values())
        data["path"] = self.url
        data["content_hash"] = None
        return data

    def drop(self) -> None:
        """Drop every collection and the manifest (an interrupted build's rerun does)."""
        for coll in self._collections.values():
            self.backend.drop_collection(coll)
        self.backend.drop_manifest()
        self._segments, self._collections = {}, {}
