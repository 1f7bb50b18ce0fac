"""What a gallery backend provides: one collection (or table) of vectors per segment.

A gallery lives in a FAISS folder (the built-in ``file`` backend,
:class:`~embedreg.gallery.Gallery`) or in a vector database that a
:class:`GalleryBackend` speaks to, found by the URL's scheme in the
``embedreg.galleries`` entry-point group (:mod:`.locate`).  A backend keeps:

- the gallery's **manifest** (name, metric, segments with their generation
  binding, sources, calibrations), written atomically in the database itself
  so another client or registry finds it;
- one **collection** per segment, whose own metadata records the generation
  that made its vectors (:func:`binding`), readable without embedreg;
- items keyed by their id, with their text kept beside the vector.

The generic logic (binding checks, routing, merging, journaled builds) is
:class:`~embedreg.gallery.database.DatabaseGallery`'s; a backend only moves
vectors.

Example:
    >>> Item("doc-1", "v2", "a text").text
    'a text'
    >>> sorted(binding(Segment("v2", "sha256:" + "0" * 64, "1" * 64, 4, True), "ip", "news"))
    ['dimension', 'gallery', 'generation', 'metric', 'normalize', 'pin', 'recipe_hash']
"""

from __future__ import annotations

import abc
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from ..constants import GALLERIES_GROUP
from ..errors import BrokenPlugin, EmbedRegError, GalleryError, LockTimeout
from ..plugins import load
from .storage import Segment

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .database import DatabaseGallery

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "BINDING_KEY",
    "CollectionIndex",
    "GalleryBackend",
    "Item",
    "backend_for",
    "binding",
    "scheme",
]

#: The key under which a collection's metadata holds its generation binding.
BINDING_KEY = "embedreg"


@dataclass(frozen=True)
class Item:
    """One gallery item: its id, the segment (generation) that embedded it, its text.

    ``key`` is the folder backend's FAISS id (``None`` in a database, where
    the id itself is the key).
    """

    id: str
    segment: str
    text: str | None
    key: int | None = None


def binding(segment: Segment, metric: str, gallery: str) -> dict[str, Any]:
    """The generation binding a segment's collection records in its own metadata."""
    return {
        "gallery": gallery,
        "generation": segment.generation,
        "pin": segment.pin,
        "recipe_hash": segment.recipe_hash,
        "dimension": segment.dimension,
        "normalize": segment.normalize,
        "metric": metric,
    }


class GalleryBackend(abc.ABC):
    """A vector database holding galleries: a manifest and one collection per segment.

    Subclasses register in the ``embedreg.galleries`` entry-point group under
    their URL scheme and are built from the URL (:mod:`.locate`).  Scores are
    "higher is better": the inner product for ``ip``, minus the squared
    distance for ``l2`` (as FAISS galleries report them).  Every write is
    atomic in the database (an upsert, a transaction, a metadata update).
    """

    #: the URL schemes this backend serves
    schemes: tuple[str, ...] = ()

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    @abc.abstractmethod
    def gallery_name(self) -> str:
        """The name the URL gives the gallery (its collections' prefix)."""

    @abc.abstractmethod
    def read_manifest(self) -> dict[str, Any] | None:
        """The gallery's manifest, or ``None`` when the database holds no such gallery."""

    @abc.abstractmethod
    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Replace the manifest atomically."""

    @abc.abstractmethod
    def drop_manifest(self) -> None:
        """Forget the manifest (the collections stay until dropped)."""

    @abc.abstractmethod
    def create_collection(self, collection: str, segment: Segment, metric: str) -> None:
        """Create an empty collection for ``segment``, its binding in its metadata."""

    @abc.abstractmethod
    def collection_binding(self, collection: str) -> dict[str, Any] | None:
        """The binding a collection's metadata records (``None``: no such collection)."""

    @abc.abstractmethod
    def drop_collection(self, collection: str) -> None:
        """Drop a collection and its vectors (nothing when it does not exist)."""

    @abc.abstractmethod
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: FloatArray,
        texts: Sequence[str | None],
    ) -> None:
        """Write items (replacing those with the same ids)."""

    @abc.abstractmethod
    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Delete items by id."""

    @abc.abstractmethod
    def count(self, collection: str) -> int:
        """How many items a collection holds."""

    @abc.abstractmethod
    def items(self, collection: str) -> Iterator[tuple[str, str | None]]:
        """Every item's ``(id, text)``."""

    def all_texts(self, collection: str) -> bool:
        """True when the collection holds items and every one keeps its text (a cascade's need).

        The default reads every item; a backend with a cheaper question overrides it.
        """
        found = False
        for _, text in self.items(collection):
            if text is None:
                return False
            found = True
        return found

    @abc.abstractmethod
    def fetch(
        self, collection: str, ids: Sequence[str]
    ) -> dict[str, tuple[str | None, FloatArray]]:
        """``id → (text, vector)`` for those of ``ids`` the collection holds."""

    @abc.abstractmethod
    def search(
        self, collection: str, queries: FloatArray, k: int, metric: str
    ) -> tuple[list[list[str]], list[list[float]]]:
        """Exact top-``k`` ids and scores (higher is better) for each query."""

    def lock_writer(self, timeout: float) -> bool:
        """Take the gallery's writer lock, held until :meth:`close`; False after ``timeout`` s.

        The default holds nothing more than the connection: the embedded
        modes (Qdrant's local mode, Milvus Lite) hold an exclusive lock on
        their folder or file for as long as a client is open, so a second
        process cannot open the gallery at all (:func:`backend_for` waits
        for it).  A backend speaking to a shared server overrides this with
        a lock of the database's own (PostgreSQL: an advisory lock).
        """
        return True

    def unlock_writer(self) -> None:  # noqa: B027
        """Release the writer lock before :meth:`close` (the default holds none to release)."""

    @classmethod
    def busy(cls, error: BaseException) -> bool:
        """True when opening failed because another process holds the database (it may be retried)."""
        return False

    def set_alias(self, alias: str, collection: str) -> None:  # noqa: B027
        """Point ``alias`` at ``collection`` atomically (backends without aliases skip it)."""

    def close(self) -> None:  # noqa: B027
        """Release the connection."""


class CollectionIndex:
    """A database gallery's collection seen as FAISS sees an index: ``ntotal`` and ``search``.

    Search hits get keys the gallery remembers while it is open
    (:meth:`~.database.DatabaseGallery.remember`), so a database's segments
    merge through the same search code as a folder's FAISS indexes.
    """

    def __init__(self, gallery: DatabaseGallery, segment: str) -> None:
        self.gallery, self.segment = gallery, segment
        self.ntotal = gallery.count(segment)

    def search(self, queries: FloatArray, k: int) -> tuple[Any, Any]:
        import numpy as np

        g = self.gallery
        ids, scores = g.backend.search(g.collection(self.segment), queries, k, g.metric)
        keys = np.full((len(ids), k), -1, dtype=np.int64)
        out = np.full((len(ids), k), -np.inf, dtype=np.float32)
        for row, (row_ids, row_scores) in enumerate(zip(ids, scores, strict=True)):
            for col, (item_id, score) in enumerate(zip(row_ids, row_scores, strict=True)):
                keys[row, col] = g.remember(item_id, self.segment)
                # search_segments negates l2 scores (FAISS gives distances): give it distances
                out[row, col] = score if g.metric == "ip" else -score
        return out, keys


_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*)://")


def scheme(location: str | os.PathLike[str]) -> str:
    """The location's URL scheme; ``file`` for a folder."""
    m = _SCHEME_RE.match(os.fspath(location))
    return m.group(1) if m else "file"


def backend_for(url: str, *, timeout: float = 0.0) -> GalleryBackend:
    """The backend registered for the URL's scheme, connected to it.

    An embedded database that another process holds open (:meth:`GalleryBackend.busy`)
    is retried for up to ``timeout`` seconds.

    Raises:
        PluginError: no installed package serves that scheme.
        ExtraUnavailable: the backend's database client is not installed.
        LockTimeout: another process still held the database after ``timeout`` seconds.
    """
    name = scheme(url)
    cls = load(GALLERIES_GROUP, name, kind="gallery backend")
    if not (isinstance(cls, type) and issubclass(cls, GalleryBackend)):
        raise BrokenPlugin(
            "gallery backend", name, GALLERIES_GROUP, "it is not a GalleryBackend subclass"
        )
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return cls(url)
        except EmbedRegError:
            raise
        except Exception as exc:  # the database's own error (unreachable, locked, refused)
            if not cls.busy(exc):
                _cannot_open(url, exc)
            if time.monotonic() >= deadline:
                raise LockTimeout(url, timeout, "gallery") from None
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _cannot_open(url: str, exc: Exception) -> NoReturn:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise GalleryError(
        f"cannot open gallery {url} ({detail})",
        "check that the database is running and that no other process holds it",
    ) from None
