"""The store interface: where a registry document and its artifacts live.

A store moves bytes; it knows nothing of generations or adapters.  The
:class:`~embedreg.Registry` parses and validates the document and asks its
store to read it, to update it atomically, and to keep artifact folders
(adapter weights and configs).  Stores are plugins: a package registers a
``Store`` subclass in the ``embedreg.stores`` entry-point group under the URL
scheme it serves, exactly as the built-in ``file`` store does::

    [project.entry-points."embedreg.stores"]
    s3 = "my_package.s3store:S3Store"

and ``embedreg --registry s3://bucket/prefix`` then finds it.

The contract of :meth:`Store.update` is the one that matters: it must apply
``fn`` to the current document and write the result so that concurrent
writers never lose each other's changes (the local store takes a file lock;
a remote store may retry ``fn`` on a fresh copy after a conflict, so ``fn``
must be a pure function of its input).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from ...errors import ValidationError


class Store(ABC):
    """Abstract registry store; subclasses serve one URL scheme."""

    #: URL scheme this store serves (``file``, ``hf``, ...).
    scheme: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_url(cls, url: str) -> Store:
        """Open the store a URL (or, for ``file``, a plain path) points to."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the registry document lives, for messages (a path or URL)."""

    @property
    def registry_root(self) -> str:
        """Where the registry is, for messages such as "no registry at …" (a folder or URL)."""
        return self.location

    @property
    def notice(self) -> str | None:
        """A line the user should see about the last read (say, that it came from a cache)."""
        return None

    @abstractmethod
    def read(self) -> bytes | None:
        """The registry document's bytes, or ``None`` when none exists yet."""

    @abstractmethod
    def create(self, content: bytes) -> bool:
        """Write the first document; return ``False`` (writing nothing) if one exists."""

    def create_private(self, content: bytes) -> bool:
        """Like :meth:`create`, where only the owner (and those they allow) can read it.

        Stores without such a notion refuse (the default).

        Raises:
            ValidationError: this store cannot make a registry private.
        """
        raise ValidationError(
            f"the registry at {self.registry_root} cannot be made private",
            "--private applies to registries on the Hub (hf://OWNER/NAME)",
        )

    @abstractmethod
    def update(self, fn: Callable[[bytes], bytes | None]) -> None:
        """Atomically replace the document with ``fn(current)``.

        ``fn`` returns the new bytes, or ``None`` to leave the document as it
        is; an exception from ``fn`` aborts the update and writes nothing.

        Raises:
            RegistryNotFound: when no document exists.
            ConflictError: when concurrent writers cannot be reconciled.
        """

    @abstractmethod
    def put_artifact(self, key: str, files: Mapping[str, Path]) -> str:
        """Store a folder of ``files`` (relative name → local path) under ``key``.

        Replaces an artifact of the same key as a whole; returns its location:
        what records keep, and what :meth:`fetch_artifact` and
        :meth:`delete_artifact` take.
        """

    @abstractmethod
    def fetch_artifact(self, key: str) -> Path:
        """A local folder holding the artifact's files (downloaded if remote)."""

    @abstractmethod
    def delete_artifact(self, key: str) -> None:
        """Remove an artifact; removing a missing one is not an error."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
