"""The user-level cache folder of embedreg (``$EMBEDREG_CACHE``, else ``~/.cache/embedreg``).

Example:
    >>> import os
    >>> os.environ["EMBEDREG_CACHE"] = "/tmp/er-cache"
    >>> str(cache_root())
    '/tmp/er-cache'
    >>> del os.environ["EMBEDREG_CACHE"]
"""

from __future__ import annotations

import os
from pathlib import Path

from ..constants import DEFAULT_CACHE_DIR, ENV_CACHE

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The cache root (not created here)."""
    return Path(os.environ.get(ENV_CACHE) or DEFAULT_CACHE_DIR).expanduser()
