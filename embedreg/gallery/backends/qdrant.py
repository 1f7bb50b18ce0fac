"""Galleries in Qdrant, through ``qdrant-client`` (``pip install 'embedreg[qdrant]'``).

URLs:

- ``qdrant:///PATH`` (or ``qdrant:///PATH?collection=NAME``): Qdrant's local
  mode, embedded, no server; the collections live in the folder ``PATH``
  (the gallery's name defaults to the folder's);
- ``qdrant://HOST:PORT/NAME``: a Qdrant server.

The gallery ``NAME`` keeps its manifest in the metadata of the collection
``NAME__embedreg`` and each segment's vectors in ``NAME__GEN``, whose
collection metadata holds the generation binding under ``"embedreg"``;
the alias ``NAME`` points at the collection of the gallery's newest
segment.  In the local mode one process at a time opens the folder: it holds
``PATH/.embedreg.lock`` (and Qdrant's own lock) while open, so a writer
excludes every other embedreg process, which waits for it
(:func:`~embedreg.gallery.backend.backend_for`).  A Qdrant server has no
lock embedreg can take atomically: run one embedreg writer per gallery there.  Item ids become UUIDs (uuid5 of the id) with the id in the
payload; the vectors use the ``Dot`` distance for ``ip`` (FAISS's inner
product, no normalising) and ``Euclid`` for ``l2``.

Example:
    >>> QdrantBackend("qdrant:///tmp/vectors").gallery_name  # doctest: +SKIP
    'vectors'
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..backend import BINDING_KEY, GalleryBackend, binding
from ..storage import Segment
from .common import import_client, locate, manifest_collection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from filelock import BaseFileLock

    FloatArray = npt.NDArray[np.float32]

__all__ = ["QdrantBackend"]

_MANIFEST_KEY = "embedreg_gallery"
_NAMESPACE = uuid.UUID("6f1c2a1e-4a5b-5c3d-9e8f-0a1b2c3d4e5f")


def point_id(item_id: str) -> str:
    """The Qdrant point id of an item (a UUID derived from its id)."""
    return str(uuid.uuid5(_NAMESPACE, item_id))


class _FolderBusy(RuntimeError):
    """Another process holds the local mode's folder (retried by ``backend_for``)."""


def _folder_name(path: str) -> str:
    """A local-mode gallery's default name: its folder's."""
    return os.path.basename(path.rstrip("/")).lower().replace(".", "_")


def _folder_lock(path: str) -> BaseFileLock:
    """Hold ``PATH/.embedreg.lock`` before the local client reads the folder.

    Qdrant's local client reads the folder's ``meta.json`` *before* it takes
    its own lock, so a second process could load a state that the first
    changes afterwards (and later write it back).  This lock, taken first,
    keeps a second embedreg process out until the first one closes.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(os.path.join(path, ".embedreg.lock"), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise _FolderBusy(f"Qdrant folder {path} is open in another process") from None
    return lock


class QdrantBackend(GalleryBackend):
    """A gallery in Qdrant (local mode for ``qdrant:///PATH``, a server for ``qdrant://HOST``)."""

    schemes = ("qdrant",)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._lock: BaseFileLock | None = None
        self._tuned: dict[str, sqlite3.Connection] = {}
        qdrant_client = import_client(
            "qdrant_client", "a Qdrant gallery", "qdrant-client", "qdrant"
        )
        where = locate(
            url,
            port=6333,
            form="qdrant://HOST:PORT/COLLECTION",
            local_form="qdrant:///PATH",
            local_what="folder",
            default_name=_folder_name,
        )
        self._name = where.name
        if where.path is None:
            self.client = qdrant_client.QdrantClient(host=where.host, port=where.port)
        else:
            os.makedirs(where.path, exist_ok=True)
            self._lock = _folder_lock(where.path)
            try:
                self.client = qdrant_client.QdrantClient(path=where.path)
            except BaseException:
                self._lock.release()
                raise
        self.local = where.local

    @classmethod
    def busy(cls, error: BaseException) -> bool:
        """The local mode's folder is open in another process (embedreg's or Qdrant's lock)."""
        return isinstance(error, _FolderBusy) or "already accessed by another instance" in str(
            error
        )

    @property
    def gallery_name(self) -> str:
        return self._name

    def _manifest_collection(self) -> str:
        return manifest_collection(self._name)

    def _metadata(self, collection: str) -> dict[str, Any] | None:
        if not self.client.collection_exists(collection):
            return None
        return dict(self.client.get_collection(collection).config.metadata or {})

    def read_manifest(self) -> dict[str, Any] | None:
        meta = self._metadata(self._manifest_collection())
        if meta is None:
            return None
        found = meta.get(_MANIFEST_KEY)
        return dict(found) if isinstance(found, dict) else None

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        from qdrant_client import models

        self._sync_points()  # the points reach the disk before the manifest that names them
        coll = self._manifest_collection()
        if not self.client.collection_exists(coll):
            self.client.create_collection(
                coll,
                vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT),
                metadata={_MANIFEST_KEY: dict(manifest)},
            )
            return
        self.client.update_collection(coll, metadata={_MANIFEST_KEY: dict(manifest)})

    def drop_manifest(self) -> None:
        self.drop_collection(self._manifest_collection())

    def create_collection(self, collection: str, segment: Segment, metric: str) -> None:
        from qdrant_client import models

        distance = models.Distance.DOT if metric == "ip" else models.Distance.EUCLID
        self.client.create_collection(
            collection,
            vectors_config=models.VectorParams(size=segment.dimension, distance=distance),
            metadata={BINDING_KEY: binding(segment, metric, self._name)},
        )

    def collection_binding(self, collection: str) -> dict[str, Any] | None:
        meta = self._metadata(collection)
        if meta is None:
            return None
        found = meta.get(BINDING_KEY)
        return dict(found) if isinstance(found, dict) else {}

    def drop_collection(self, collection: str) -> None:
        if self.client.collection_exists(collection):
            self.client.delete_collection(collection)

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: FloatArray,
        texts: Sequence[str | None],
    ) -> None:
        from qdrant_client import models

        self._batched_commits(collection)
        self.client.upsert(
            collection,
            points=models.Batch(
                ids=[point_id(i) for i in ids],
                vectors=vectors.tolist(),
                payloads=[{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)],
            ),
            wait=True,
        )

    def _points_db(self, collection: str) -> sqlite3.Connection | None:
        """The SQLite connection Qdrant's local mode keeps a collection's points in (or None)."""
        local = getattr(self.client, "_client", None)
        found = getattr(local, "collections", {}).get(collection) if self.local else None
        conn = getattr(getattr(found, "storage", None), "storage", None)
        return conn if isinstance(conn, sqlite3.Connection) else None

    def _batched_commits(self, collection: str) -> None:
        """Let the local mode's per-point commits skip their fsync (WAL, synchronous=NORMAL).

        Qdrant's local mode writes each point in its own SQLite transaction;
        with SQLite's default journal each commit waits for the disk (about
        50 points/s here).  In WAL mode with ``synchronous=NORMAL`` a commit
        is atomic and survives a killed process, and reaches the disk at the
        next checkpoint: :meth:`write_manifest` checkpoints first
        (:meth:`_sync_points`), so a manifest never names points that a power
        loss could take back.  Nothing changes where the client keeps no
        SQLite connection (a server, another client version).
        """
        conn = self._points_db(collection)
        if conn is not None and self._tuned.get(collection) is not conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._tuned[collection] = conn

    def _sync_points(self) -> None:
        """Checkpoint the WAL of every collection written through :meth:`_batched_commits`."""
        for collection, tuned in list(self._tuned.items()):
            conn = self._points_db(collection)
            if conn is tuned:
                conn.execute("PRAGMA wal_checkpoint(FULL)")
            else:
                del self._tuned[collection]  # dropped since (its connection closed)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        from qdrant_client import models

        self.client.delete(
            collection,
            points_selector=models.PointIdsList(points=[point_id(i) for i in ids]),
            wait=True,
        )

    def count(self, collection: str) -> int:
        return int(self.client.count(collection, exact=True).count)

    def items(self, collection: str) -> Iterator[tuple[str, str | None]]:
        offset = None
        while True:
            points, offset = self.client.scroll(
                collection, limit=1024, offset=offset, with_payload=True, with_vectors=False
            )
            for p in points:
                payload = p.payload or {}
                yield str(payload["id"]), payload.get("text")
            if offset is None:
                return

    def fetch(
        self, collection: str, ids: Sequence[str]
    ) -> dict[str, tuple[str | None, FloatArray]]:
        import numpy as np

        out: dict[str, tuple[str | None, FloatArray]] = {}
        for start in range(0, len(ids), 1024):
            points = self.client.retrieve(
                collection,
                ids=[point_id(i) for i in ids[start : start + 1024]],
                with_payload=True,
                with_vectors=True,
            )
            for p in points:
                payload = p.payload or {}
                vector = np.asarray(p.vector, dtype=np.float32)
                out[str(payload["id"])] = (payload.get("text"), vector)
        return out

    def search(
        self, collection: str, queries: FloatArray, k: int, metric: str
    ) -> tuple[list[list[str]], list[list[float]]]:
        from qdrant_client import models

        params = None if self.local else models.SearchParams(exact=True)
        requests = [
            models.QueryRequest(query=q.tolist(), limit=k, with_payload=["id"], params=params)
            for q in queries
        ]
        ids: list[list[str]] = []
        scores: list[list[float]] = []
        for start in range(0, len(requests), 256):
            for response in self.client.query_batch_points(
                collection, requests=requests[start : start + 256]
            ):
                ids.append([str((p.payload or {})["id"]) for p in response.points])
                if metric == "ip":
                    scores.append([float(p.score) for p in response.points])
                else:  # Qdrant gives the Euclidean distance
                    scores.append([-(float(p.score) ** 2) for p in response.points])
        return ids, scores

    def set_alias(self, alias: str, collection: str) -> None:
        from qdrant_client import models

        ops: list[Any] = []
        if any(a.alias_name == alias for a in self.client.get_aliases().aliases):
            ops.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            )
        ops.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        )
        self.client.update_collection_aliases(change_aliases_operations=ops)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self._lock is not None:
                self._lock.release()
