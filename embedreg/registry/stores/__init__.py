"""Registry stores and the lookup from a location to a store.

:func:`open_store` turns what the user gives (``--registry``, the
``EMBEDREG_REGISTRY`` variable, or nothing) into a :class:`Store`: a plain
path or ``file://`` URL opens a :class:`LocalStore`, ``hf://OWNER/NAME`` a
:class:`HubStore`; every ``scheme://`` is looked up in the
``embedreg.stores`` entry-point group, built-ins included.

Example:
    >>> store = open_store("/tmp/my-registry")
    >>> type(store).__name__, store.location
    ('LocalStore', '/tmp/my-registry/registry.json')
"""

from __future__ import annotations

import os
import re

from ...constants import DEFAULT_REGISTRY_DIR, ENV_REGISTRY, STORES_GROUP
from ...errors import BrokenPlugin
from ...plugins import load
from .base import Store
from .hub import HubStore
from .local import LocalStore

__all__ = ["HubStore", "LocalStore", "Store", "default_location", "open_store"]

_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*)://")


def default_location() -> str:
    """``$EMBEDREG_REGISTRY`` if set and not empty, else ``./.embedreg``."""
    return os.environ.get(ENV_REGISTRY) or DEFAULT_REGISTRY_DIR


def open_store(location: str | os.PathLike[str] | None = None) -> Store:
    """Open the store for ``location`` (see :func:`default_location` when ``None``)."""
    text = os.fspath(location) if location is not None else default_location()
    match = _SCHEME_RE.match(text)
    scheme = match.group(1).lower() if match else "file"
    store_cls = load(STORES_GROUP, scheme, kind="store")
    if not (isinstance(store_cls, type) and issubclass(store_cls, Store)):
        raise BrokenPlugin("store", scheme, STORES_GROUP, f"{store_cls!r} is not a Store")
    store = store_cls.from_url(text)
    if not isinstance(store, Store):
        raise BrokenPlugin(
            "store", scheme, STORES_GROUP, f"from_url returned {type(store).__name__}, not a Store"
        )
    return store
