"""The segments and items of a database gallery, read and written through its backend.

:class:`DatabaseItems` is the half of :class:`~.database.DatabaseGallery`
that works on items: each segment's collection, counts, ids and texts,
adding (checked in full before the first write, in batches of
:data:`BATCH`), removing and reading vectors back.  The gallery itself
(:mod:`.database`) opens and locks the database, keeps the manifest, and
creates and switches segments.

Example:
    >>> with DatabaseGallery.open("qdrant:///tmp/vectors?collection=news") as g:  # doctest: +SKIP
    ...     g.item(g.ids()[0]).segment, g.count("v2")
    ('v2', 742)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import DuplicateName, GenerationMismatch, NotFound, ValidationError
from ..registry import Generation
from ..util.clock import utc_now
from .backend import GalleryBackend, Item
from .search import Searching
from .storage import Segment

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["BATCH", "DatabaseItems"]

#: Items written per request.
BATCH = 1024


class DatabaseItems(Searching):
    """Segments as collections, and their items (see the module)."""

    backend: GalleryBackend
    updated: str
    _segments: dict[str, Segment]
    _collections: dict[str, str]
    _closed: dict[str, int] | None  # the counts when closed

    def save(self) -> None:
        """Write the manifest (the gallery's)."""
        raise NotImplementedError

    def collection(self, segment: str) -> str:
        """The collection (or table) that holds ``segment``'s vectors."""
        return self._collections[segment]

    @property
    def collections(self) -> dict[str, str]:
        """Collections by segment."""
        return dict(self._collections)

    @property
    def generations(self) -> list[str]:
        """Names of the generations that embedded the gallery's items."""
        return sorted(self._segments)

    @property
    def segments(self) -> dict[str, Segment]:
        """Segments by generation name, with live counts."""
        return {n: replace(s, count=self.count(n)) for n, s in self._segments.items()}

    def count(self, segment: str) -> int:
        """Items of one segment, as the database counts them (as of closing, once closed)."""
        if self._closed is not None:
            return self._closed[segment]
        return self.backend.count(self.collection(segment))

    def __len__(self) -> int:
        return sum(self.count(s) for s in self._segments)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._find(item_id) is not None

    def _find(self, item_id: str) -> Item | None:
        for seg in self._segments:
            found = self.backend.fetch(self.collection(seg), [item_id])
            if item_id in found:
                return Item(item_id, seg, found[item_id][0])
        return None

    def item(self, item_id: str) -> Item:
        """An item's record: id, segment, text."""
        found = self._find(item_id)
        if found is None:
            raise NotFound(f"no item {item_id!r} in the gallery", "check the id")
        return found

    def ids(self, segment: str | None = None) -> list[str]:
        """Item ids (of one segment, or all), sorted."""
        segs = [segment] if segment is not None else list(self._segments)
        return sorted(i for s in segs for i, _ in self.backend.items(self.collection(s)))

    def texts(self, segment: str) -> dict[str, str | None]:
        """``id → text`` of one segment's items."""
        return dict(self.backend.items(self.collection(segment)))

    def segment_for(self, generation: Generation) -> Segment:
        """The segment embedded by ``generation``; refuses another generation.

        Beyond the manifest, the collection's own binding must agree.
        """
        seg = super().segment_for(generation)
        bound = self.backend.collection_binding(self.collection(seg.generation))
        if bound is None or (bound.get("pin"), bound.get("recipe_hash")) != (
            seg.pin,
            seg.recipe_hash,
        ):
            raise GenerationMismatch(
                f"collection {self.collection(seg.generation)} of {self.where()}",
                repr((bound or {}).get("generation", "unknown")),
                repr(generation.name),
                "the collection's own binding disagrees with the gallery's manifest; "
                "rebuild the gallery",
            )
        return seg

    def add(
        self,
        vectors: FloatArray,
        ids: Sequence[str],
        *,
        generation: Generation,
        texts: Sequence[str | None] | None = None,
        replace_existing: bool = False,
    ) -> int:
        """Write items embedded by ``generation`` to its segment; returns the number written.

        Everything is checked before the first write, as a folder's
        :meth:`~embedreg.gallery.Gallery.add` checks it
        (:meth:`~.search.Searching.checked_items`), the collection's binding
        too; ids must be new to the gallery unless ``replace_existing`` (as a
        rerun of a journaled write has them).
        """
        seg, x = self.checked_items(vectors, ids, texts, generation, ())
        if not replace_existing:
            for s in self._segments:
                found = self.backend.fetch(self.collection(s), list(ids))
                if found:
                    first = next(iter(found))
                    raise DuplicateName("item id", first, f"an item of {self.where()}")
        coll = self.collection(seg.generation)
        text_list = list(texts) if texts is not None else [None] * len(ids)
        for start in range(0, len(ids), BATCH):
            end = start + BATCH
            self.backend.upsert(coll, list(ids[start:end]), x[start:end], text_list[start:end])
        self.updated = utc_now()
        return len(ids)

    def remove(self, ids: Sequence[str]) -> int:
        """Remove items by id; returns how many were removed. Unknown ids are an error."""
        wanted = list(dict.fromkeys(ids))
        by_segment: dict[str, list[str]] = {}
        for s in self._segments:
            for item_id in self.backend.fetch(self.collection(s), wanted):
                by_segment.setdefault(s, []).append(item_id)
        found = {i for found in by_segment.values() for i in found}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFound(
                f"{len(missing)} id(s) not in the gallery: {', '.join(map(repr, missing[:5]))}",
                "check the ids (embedreg gallery info shows the count)",
            )
        for s, seg_ids in by_segment.items():
            self.backend.delete(self.collection(s), seg_ids)
        self.updated = utc_now()
        self.save()
        return len(found)

    def vectors(self, ids: Sequence[str]) -> FloatArray:
        """The stored vectors of items (all from one segment)."""
        import numpy as np

        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        segs = {self.item(ids[0]).segment}
        found = self.backend.fetch(self.collection(segs.pop()), list(ids))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError("vectors() takes ids of one segment at a time")
        return np.vstack([found[i][1] for i in ids]).astype(np.float32)
