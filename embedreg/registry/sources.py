"""Model sources: where a generation's weights come from, pinned to exact bytes.

A :class:`HubSource` is a Hugging Face Hub repo at a full 40-hex commit; a
:class:`LocalSource` is a folder on disk pinned by the sha256 of its weight
files (see :func:`embedreg.util.hashing.folder_weights_sha256`).  Either one's
:attr:`pin` names the exact bytes a generation encodes with.

Example:
    >>> source_from_dict(HubSource("org/model", "0" * 40).to_dict()).pin
    'org/model@0000000000000000000000000000000000000000'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

from ..errors import ModelSourceError, ValidationError
from ..util.fields import check_fields
from ..util.hashing import folder_weights_sha256

__all__ = ["COMMIT_RE", "REPO_ID_RE", "HubSource", "LocalSource", "ModelSource", "source_from_dict"]

COMMIT_RE = re.compile(r"[0-9a-f]{40}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
#: A Hub repo id: ``name`` or ``owner/name``.
REPO_ID_RE = re.compile(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class HubSource:
    """A model on the Hugging Face Hub, pinned to a full 40-hex commit.

    ``resolved_from`` is the branch or tag the commit was resolved from when
    the generation was pinned (``None`` when a commit was given), so that
    ``embedreg gen check-updates`` can tell when it has moved.  It is a
    record only: the pin, and so the space, is the commit alone.

    Example:
        >>> src = HubSource("org/model", "0123456789abcdef0123456789abcdef01234567", "main")
        >>> src.pin, src.resolved_from
        ('org/model@0123456789abcdef0123456789abcdef01234567', 'main')
    """

    repo_id: str
    revision: str
    resolved_from: str | None = None
    kind: ClassVar[str] = "hub"

    def __post_init__(self) -> None:
        if not REPO_ID_RE.fullmatch(self.repo_id or ""):
            raise ModelSourceError(
                f"invalid Hub repo id {self.repo_id!r}", "use the form 'owner/name'"
            )
        if not COMMIT_RE.fullmatch(self.revision or ""):
            raise ModelSourceError(
                f"Hub revision {self.revision!r} of {self.repo_id} is not a 40-hex commit",
                "pin the model with --revision <full commit sha>; branches and tags move",
            )
        if self.resolved_from is not None and (
            not isinstance(self.resolved_from, str) or not self.resolved_from.strip()
        ):
            raise ModelSourceError(f"resolved_from of {self.repo_id} must be a branch or tag name")

    @property
    def pin(self) -> str:
        """``repo_id@commit``: the exact bytes this generation uses."""
        return f"{self.repo_id}@{self.revision}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, tagged with ``kind``."""
        return {
            "kind": self.kind,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "resolved_from": self.resolved_from,
        }


@dataclass(frozen=True)
class LocalSource:
    """A model folder on local disk, pinned by the sha256 of its weight files.

    Build one with :meth:`from_path`, which computes the hash; it is never
    typed by hand.

    Example:
        >>> src = LocalSource("/models/minilm", "ab" * 32)
        >>> src.pin
        'sha256:abababababababababababababababababababababababababababababababab'
    """

    path: str
    sha256: str
    kind: ClassVar[str] = "local"

    def __post_init__(self) -> None:
        if not SHA256_RE.fullmatch(self.sha256 or ""):
            raise ModelSourceError(f"invalid sha256 pin {self.sha256!r} for {self.path}")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> LocalSource:
        """Pin a local model folder by hashing its weight files."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelSourceError(
                f"model folder {folder} does not exist or is not a directory",
                "pass a model folder or a Hub repo id",
            )
        try:
            digest = folder_weights_sha256(folder)
        except FileNotFoundError:
            raise ModelSourceError(
                f"model folder {folder} holds no weight files",
                "point at a folder with model.safetensors (or another weights file)",
            ) from None
        return cls(str(folder.resolve()), digest)

    @property
    def pin(self) -> str:
        """``sha256:<hex>`` over the folder's weight files."""
        return f"sha256:{self.sha256}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, tagged with ``kind``."""
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256}


ModelSource: TypeAlias = HubSource | LocalSource


def source_from_dict(data: dict[str, Any]) -> ModelSource:
    """Rebuild a :class:`HubSource` or :class:`LocalSource` from its dict form."""
    if not isinstance(data, dict):
        raise ValidationError("source: expected an object")
    kind = data.get("kind")
    if kind == HubSource.kind:
        required = {"kind", "repo_id", "revision"}
        check_fields("source", data, required | {"resolved_from"}, required)
        return HubSource(data["repo_id"], data["revision"], data.get("resolved_from"))
    if kind == LocalSource.kind:
        check_fields("source", data, {"kind", "path", "sha256"}, {"kind", "path", "sha256"})
        return LocalSource(data["path"], data["sha256"])
    raise ValidationError(f"source: unknown kind {kind!r}")
