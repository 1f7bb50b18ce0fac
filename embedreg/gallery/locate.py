"""Where a gallery lives: a FAISS folder, or a vector database named by a URL.

A location with a scheme (``qdrant:///PATH``, ``qdrant://HOST:PORT/NAME``,
``milvus:///FILE.db``, ``postgresql://USER@HOST/DB?table=NAME``) is served by
the backend registered under that scheme in the ``embedreg.galleries``
entry-point group; anything else (or ``file://``) is a folder, the built-in
``file`` backend (:class:`~embedreg.gallery.Gallery`).  A third-party
package adds a database by registering a
:class:`~embedreg.gallery.backend.GalleryBackend` subclass there.

Example:
    >>> is_url("qdrant:///tmp/vectors"), is_url("galleries/news"), is_url("file:///srv/g")
    (True, False, False)
    >>> scheme("postgresql://me@db/vectors?table=news")
    'postgresql'
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .backend import backend_for, scheme

if TYPE_CHECKING:
    from .database import DatabaseGallery
    from .gallery import Gallery

__all__ = ["backend_for", "folder_of", "is_url", "open_gallery", "scheme"]


def is_url(location: str | os.PathLike[str]) -> bool:
    """True when the location names a database (a scheme other than ``file``)."""
    return scheme(location) != "file"


def folder_of(location: str | os.PathLike[str]) -> str:
    """A folder location without its ``file://`` prefix."""
    text = os.fspath(location)
    return text[len("file://") :] if text.startswith("file://") else text


def open_gallery(
    location: str | os.PathLike[str], *, verify: bool = True
) -> Gallery | DatabaseGallery:
    """The gallery at ``location``: a loaded folder, or an open database gallery.

    Example:
        >>> g = open_gallery("qdrant:///tmp/vectors")  # doctest: +SKIP
    """
    if is_url(location):
        from .database import DatabaseGallery

        return DatabaseGallery.open(os.fspath(location))
    from .gallery import Gallery

    return Gallery.load(folder_of(location), verify=verify)
