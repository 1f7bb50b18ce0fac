"""Galleries: FAISS indexes bound to the generations that embedded them, searched by any generation.

- :mod:`.gallery`: :class:`Gallery`, segments of items per generation;
- :mod:`.index`: :class:`IndexSpec` and the FAISS calls (flat, HNSW, IVF-PQ);
- :mod:`.storage`: the folder on disk (manifest, versioned files, lock);
- :mod:`.search`: routing each segment's queries and merging the results (:mod:`.hits`);
- :mod:`.kinded`: fused paths and cascades, chosen per segment within the routing policy;
- :mod:`.calibration`: score calibrations that merge segments on one scale;
- :mod:`.database`, :mod:`.dbitems`, :mod:`.backends`: galleries in vector databases;
- :mod:`.operations`: build, add, remove and search from files; :func:`resolve`.

Example:
    >>> from embedreg.gallery import INDEX_KINDS
    >>> INDEX_KINDS
    ('flat', 'hnsw', 'ivfpq')
"""

from __future__ import annotations

from .calibration import MERGES, Calibration
from .gallery import Gallery
from .hits import Hits
from .index import INDEX_KINDS, METRICS, IndexSpec
from .operations import (
    add_to_gallery,
    build_gallery,
    default_gallery_name,
    is_embeddings_source,
    register_gallery,
    remove_from_gallery,
    resolve,
    search_gallery,
)
from .storage import Segment

__all__ = [
    "INDEX_KINDS",
    "MERGES",
    "METRICS",
    "Calibration",
    "Gallery",
    "Hits",
    "IndexSpec",
    "Segment",
    "add_to_gallery",
    "build_gallery",
    "default_gallery_name",
    "is_embeddings_source",
    "register_gallery",
    "remove_from_gallery",
    "resolve",
    "search_gallery",
]
