"""Plugin lookup through Python entry points.

embedreg finds registry stores (group ``embedreg.stores``, keyed by URL
scheme) and adapter families (group ``embedreg.adapters``, keyed by family
name) by entry point.  Built-ins register the same way a third-party package
does, in ``pyproject.toml``.

Example:
    >>> "file" in available(STORES_GROUP)
    True
    >>> load(STORES_GROUP, "file", kind="store").__name__
    'LocalStore'
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .constants import ADAPTERS_GROUP, STORES_GROUP
from .errors import BrokenPlugin, PluginError

__all__ = ["ADAPTERS_GROUP", "STORES_GROUP", "available", "load"]


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def available(group: str) -> list[str]:
    """Names registered in an entry-point group, sorted."""
    return sorted(_group(group))


def load(group: str, name: str, *, kind: str) -> Any:
    """Load the object registered as ``name`` in ``group``.

    Raises:
        PluginError: when no installed distribution registers that name.
        BrokenPlugin: when the registered object cannot be imported.
    """
    ep = _group(group).get(name)
    if ep is None:
        raise PluginError(kind, name, available(group), group)
    try:
        return ep.load()
    except (ImportError, AttributeError) as exc:
        raise BrokenPlugin(kind, name, group, f"cannot import {ep.value} ({exc})") from None


def refresh() -> None:
    """Forget cached entry points (after installing a plugin in this process)."""
    _group.cache_clear()
