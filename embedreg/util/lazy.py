"""Lazy package façades: a public name loads its module on first use.

Example:
    >>> __getattr__, __dir__ = lazy_exports("embedreg", globals(), {"Registry": "registry"})
    >>> __getattr__("Registry").__name__
    'Registry'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each name to its submodule.

    A name is imported from ``package.<submodule>`` when first asked for and
    then kept in ``namespace`` (the package's globals), so later lookups are
    plain attribute reads.
    """

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *where})

    return getattr_, dir_
