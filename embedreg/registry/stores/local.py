"""LocalStore: the registry in a local directory (the embedded default).

Layout of a registry directory::

    DIR/registry.json          the document (sorted, stable JSON)
    DIR/.registry.lock         lock file serialising writers across processes
    DIR/artifacts/<key>/...    artifact folders (adapter config + weights)

Writes go to a temporary file that is fsynced and renamed over
``registry.json``, so readers never take a lock and never see a partial file.
Writers take ``.registry.lock`` (an OS-level lock through ``filelock``) for
the whole read-modify-write, so concurrent writers lose nothing; each write
also removes the temporary files of writers that were killed.

Example:
    >>> import tempfile
    >>> store = LocalStore(tempfile.mkdtemp())
    >>> store.create(b'{"n": 0}')
    True
    >>> store.update(lambda raw: raw.replace(b"0", b"1"))
    >>> store.read()
    b'{"n": 1}'
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from filelock import FileLock, Timeout

from ...constants import (
    ARTIFACTS_DIRNAME,
    DEFAULT_LOCK_TIMEOUT,
    LOCK_FILENAME,
    REGISTRY_FILENAME,
)
from ...errors import (
    CorruptedRegistry,
    EmbedRegError,
    LockTimeout,
    NotFound,
    RegistryNotFound,
    ValidationError,
)
from ...util.atomic import atomic_copy_tree, atomic_write_bytes, remove_stale_temps
from .base import Store


class LocalStore(Store):
    """A registry directory on local disk."""

    scheme = "file"

    def __init__(
        self, root: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.root = Path(os.path.abspath(Path(root).expanduser()))
        self.lock_timeout = lock_timeout

    @classmethod
    def from_url(cls, url: str) -> LocalStore:
        """Accept ``file:///abs/path``, ``file://rel/path`` or a plain path."""
        if url.startswith("file://"):
            parsed = urlparse(url)
            return cls(unquote(parsed.netloc + parsed.path))
        return cls(url)

    @property
    def registry_path(self) -> Path:
        """Path of ``registry.json``."""
        return self.root / REGISTRY_FILENAME

    @property
    def location(self) -> str:
        return str(self.registry_path)

    @property
    def registry_root(self) -> str:
        return str(self.root)

    def _lock(self) -> FileLock:
        return FileLock(str(self.root / LOCK_FILENAME), timeout=self.lock_timeout)

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise EmbedRegError(
                f"registry location {self.root} is a file, not a directory",
                "pass a directory to --registry",
            )

    def read(self) -> bytes | None:
        self._check_root()
        try:
            mode = os.stat(self.registry_path).st_mode
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(mode):  # a pipe would be read forever
            raise CorruptedRegistry(self.location, "it is not a regular file")
        try:
            return self.registry_path.read_bytes()
        except FileNotFoundError:
            return None

    def create(self, content: bytes) -> bool:
        self._check_root()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with self._lock():
                if self.registry_path.exists():
                    return False
                atomic_write_bytes(self.registry_path, content)
                return True
        except Timeout:
            raise LockTimeout(str(self.root / LOCK_FILENAME), self.lock_timeout) from None

    def update(self, fn: Callable[[bytes], bytes | None]) -> None:
        self._check_root()
        if not self.registry_path.exists():
            raise RegistryNotFound(str(self.root))
        try:
            with self._lock():
                current = self.read()
                if current is None:
                    raise RegistryNotFound(str(self.root))
                remove_stale_temps(self.root, REGISTRY_FILENAME)  # writers are serialised here
                new = fn(current)
                if new is not None and new != current:
                    atomic_write_bytes(self.registry_path, new)
        except Timeout:
            raise LockTimeout(str(self.root / LOCK_FILENAME), self.lock_timeout) from None

    # --- artifacts ------------------------------------------------------------------

    def _artifact_dir(self, key: str) -> Path:
        rel = Path(key)
        if not key or rel.is_absolute() or ".." in rel.parts:
            raise ValidationError(
                f"artifact key {key!r} must be a relative path without '..'",
                "the registry's adapter records hold a bad location; fix registry.json",
            )
        return self.root / ARTIFACTS_DIRNAME / rel

    def put_artifact(self, key: str, files: Mapping[str, Path]) -> str:
        folder = self._artifact_dir(key)
        remove_stale_temps(folder.parent)  # staging folders of killed writers
        atomic_copy_tree(dict(files), folder)
        return key

    def fetch_artifact(self, key: str) -> Path:
        folder = self._artifact_dir(key)
        if not folder.is_dir():
            raise NotFound(
                f"artifact {key!r} is missing from {self.root / ARTIFACTS_DIRNAME}",
                "the registry lists it but its files are gone; re-create it",
            )
        return folder

    def delete_artifact(self, key: str) -> None:
        folder = self._artifact_dir(key)
        if folder.exists():
            shutil.rmtree(folder)
