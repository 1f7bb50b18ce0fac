"""What the database backends share: importing their client, reading their URL.

- :func:`import_client`: the database client, imported when a gallery is
  opened (not when embedreg is), or :class:`~embedreg.errors.ExtraUnavailable`
  naming the extra that installs it;
- :func:`locate`: where a ``SCHEME://HOST:PORT/NAME`` or ``SCHEME:///PATH``
  URL points (a server, or a file or folder of an embedded database) and the
  gallery's name (``?collection=NAME`` or the path's own by default);
- :func:`manifest_collection`: the collection that keeps a gallery's
  manifest, beside its segments' ``NAME__GEN``.

Example:
    >>> where = locate("qdrant://db:6333/news", port=6333, form="qdrant://HOST:PORT/COLLECTION",
    ...                local_form="qdrant:///PATH", local_what="folder", default_name=str)
    >>> where.host, where.port, where.name, where.local
    ('db', 6333, 'news', False)
    >>> locate("milvus:///srv/v.db?collection=docs", port=19530, form="", local_form="",
    ...        local_what="file", default_name=str).name
    'docs'
    >>> manifest_collection("news")
    'news__embedreg'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...errors import ExtraUnavailable, ValidationError

__all__ = ["Location", "import_client", "locate", "manifest_collection"]


def import_client(module: str, what: str, package: str, extra: str) -> Any:
    """The client module ``module``, imported now.

    Raises:
        ExtraUnavailable: it is not installed (``pip install 'embedreg[EXTRA]'``).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExtraUnavailable(what, package, extra) from None


@dataclass(frozen=True)
class Location:
    """Where a database URL points, and the gallery's name there.

    Attributes:
        name: the gallery's name (its collections' prefix).
        host: the server's host (``None``: an embedded database at ``path``).
        port: the server's port (the scheme's default when the URL gives none).
        path: the embedded database's file or folder, absolute (``None`` for a server).
    """

    name: str
    host: str | None = None
    port: int | None = None
    path: str | None = None

    @property
    def local(self) -> bool:
        """An embedded database (a file or folder here), not a server."""
        return self.host is None


def locate(
    url: str,
    *,
    port: int,
    form: str,
    local_form: str,
    local_what: str,
    default_name: Callable[[str], str],
    local_ok: Callable[[str], bool] = bool,
) -> Location:
    """Read ``SCHEME://HOST[:PORT]/NAME`` (a server) or ``SCHEME:///PATH`` (embedded).

    A server's gallery is named by the URL's path or ``?collection=NAME``; an
    embedded one by ``?collection=NAME``, else ``default_name(path)``.
    ``local_ok`` says whether a local path is of the right kind.

    Raises:
        ValidationError: a server URL names no gallery, or the local path is
            missing or not what the backend takes (``form``, ``local_form``:
            the URL forms to suggest).
    """
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    chosen = (query.get("collection") or [""])[0]
    if parts.netloc:
        name = parts.path.strip("/") or chosen
        if not name:
            raise ValidationError(f"{url} names no collection", f"write {form}")
        return Location(name, host=parts.hostname, port=parts.port or port)
    if not local_ok(parts.path):
        raise ValidationError(f"{url} names no {local_what}", f"write {local_form}")
    path = os.path.abspath(parts.path)
    return Location(chosen or default_name(path), path=path)


def manifest_collection(gallery: str) -> str:
    """The collection whose metadata keeps the manifest of the gallery ``gallery``."""
    return f"{gallery}__embedreg"
