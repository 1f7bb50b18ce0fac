"""Records the registry keeps beside generations: adapters and galleries.

These are bookkeeping only: an :class:`AdapterRecord` says where an adapter's
files live, which generations it joins, and the figures it was measured with;
a :class:`GalleryRecord` says where a gallery lives and which generation
embedded it.  Training adapters and building galleries is done elsewhere.

Example:
    >>> rec = AdapterRecord(
    ...     id="v3-to-v2", source="v3", target="v2", direction="backward",
    ...     family="lambda-orth", location="adapters/v3-to-v2", sha256="0" * 64,
    ...     figures=Figures(recall_at_1=0.91),
    ... )
    >>> AdapterRecord.from_dict(rec.to_dict()) == rec
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..constants import ADAPTER_ARTIFACT_PREFIX
from ..errors import ValidationError
from ..util.clock import utc_now
from ..util.fields import check_fields
from .figures import Figures
from .names import validate_name
from .provenance import Provenance

DIRECTIONS: tuple[str, ...] = ("backward", "forward")
_KEY_SUFFIX_RE = re.compile(r"(@[0-9a-f]{16})?")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def adapter_artifact_key(adapter: str, sha256: str) -> str:
    """Where the files of adapter ``adapter`` whose weights hash to ``sha256`` live in a store.

    Example:
        >>> adapter_artifact_key("v3-to-v2.affine", "0123456789abcdef" * 4)
        'adapters/v3-to-v2.affine@0123456789abcdef'
    """
    return f"{ADAPTER_ARTIFACT_PREFIX}/{adapter}@{sha256[:16]}"


@dataclass(frozen=True)
class Publication:
    """Where an adapter's files are on the Hugging Face Hub: a repo at a commit.

    Written by ``embedreg adapter publish`` (and by ``adapter pull``, for
    where a pulled adapter came from).

    Attributes:
        repo_id: the Hub repo (``owner/name``).
        commit: the 40-hex commit that holds the files.
        tag: a tag pointing at that commit, when one was made.

    Example:
        >>> Publication.from_dict(Publication("alice/v3-to-v2", "0" * 40, "v1").to_dict()).tag
        'v1'
    """

    repo_id: str
    commit: str
    tag: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repo_id, str) or self.repo_id.count("/") != 1:
            raise ValidationError(f"published: repo id {self.repo_id!r} is not 'owner/name'")
        if not isinstance(self.commit, str) or not _COMMIT_RE.fullmatch(self.commit):
            raise ValidationError(f"published: commit {self.commit!r} is not 40 hex digits")
        if self.tag is not None and not isinstance(self.tag, str):
            raise ValidationError("published: tag must be a string")

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {"repo_id": self.repo_id, "commit": self.commit, "tag": self.tag}

    @classmethod
    def from_dict(cls, data: Any) -> Publication:
        """Inverse of :meth:`to_dict`."""
        check_fields("published", data, {"repo_id", "commit", "tag"}, {"repo_id", "commit"})
        return cls(data["repo_id"], data["commit"], data.get("tag"))


@dataclass(frozen=True)
class AdapterRecord:
    """An adapter as the registry knows it.

    Attributes:
        id: unique name of the adapter (a registry name).
        source: generation whose vectors the adapter takes.
        target: generation whose space it maps into.
        direction: ``backward`` (newer → older) or ``forward`` (older → newer).
        family: adapter family (an ``embedreg.adapters`` entry-point name).
        location: where the store keeps its files (an artifact key or URL).
        sha256: hash of the weights file, verified on load.
        figures: held-out measurements (recall@k, CMC, flips, defect ...).
        created: UTC timestamp.
        provenance: training facts (data hash, hyperparameters, versions).

    ``registry.json`` keeps ``figures`` and ``provenance`` as the JSON objects
    it always has; :meth:`to_dict` / :meth:`from_dict` convert them
    (:mod:`embedreg.registry.stored`), losslessly.
        published: where the adapter was last published on (or pulled from)
            the Hub, if anywhere (schema 3).
    """

    id: str
    source: str
    target: str
    direction: str
    family: str
    location: str
    sha256: str
    figures: Figures = field(default_factory=Figures)
    created: str = field(default_factory=utc_now)
    provenance: Provenance = field(default_factory=Provenance)
    published: Publication | None = None

    def __post_init__(self) -> None:
        validate_name(self.id, "adapter")
        validate_name(self.source, "source generation")
        validate_name(self.target, "target generation")
        if self.source == self.target:
            raise ValidationError(f"adapter {self.id!r} maps generation {self.source!r} to itself")
        if self.direction not in DIRECTIONS:
            raise ValidationError(
                f"adapter direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}"
            )
        if not isinstance(self.sha256, str) or not _SHA256_RE.fullmatch(self.sha256):
            raise ValidationError(f"adapter {self.id!r}: sha256 must be 64 lower-case hex digits")
        for name in ("family", "location", "created"):
            if not isinstance(getattr(self, name), str):
                raise ValidationError(f"adapter {self.id!r}: {name} must be a string")
        for name, kind in (("figures", Figures), ("provenance", Provenance)):
            if not isinstance(getattr(self, name), kind):
                raise ValidationError(f"adapter {self.id!r}: {name} must be {kind.__name__}")
        if not self.family or not self.location:
            raise ValidationError(f"adapter {self.id!r}: family and location are required")

    @property
    def owns_location(self) -> bool:
        """Whether :attr:`location` has the one shape embedreg writes for this adapter.

        That is ``adapters/<id>@<16 hex>`` (:func:`adapter_artifact_key`), or
        ``adapters/<id>`` as written before keys carried the hash.  Only such a
        folder holds this adapter's files alone; any other location (``.``,
        ``adapters``, another adapter's key, ``..``, an absolute path) is never
        deleted on its behalf.

        Example:
            >>> rec = AdapterRecord("a", "v2", "v1", "backward", "affine", "adapters", "0" * 64)
            >>> rec.owns_location
            False
        """
        prefix = f"{ADAPTER_ARTIFACT_PREFIX}/{self.id}"
        loc = self.location
        return loc.startswith(prefix) and bool(_KEY_SUFFIX_RE.fullmatch(loc[len(prefix) :]))

    def to_dict(self) -> dict[str, Any]:
        """The stored form, as it appears in ``registry.json``."""
        return {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "direction": self.direction,
            "family": self.family,
            "location": self.location,
            "sha256": self.sha256,
            "figures": self.figures.to_dict(),
            "created": self.created,
            "provenance": self.provenance.to_dict(),
            "published": self.published.to_dict() if self.published else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AdapterRecord:
        """Inverse of :meth:`to_dict`; raises :class:`ValidationError` on bad fields."""
        required = {"id", "source", "target", "direction", "family", "location", "sha256"}
        optional = {"figures", "created", "provenance", "published"}
        check_fields("adapter", data, required | optional, required)
        published = data.get("published")
        for name in ("figures", "provenance"):
            if not isinstance(data.get(name, {}), dict):
                raise ValidationError(f"adapter {data['id']!r}: {name} must be an object")
        return cls(
            **{k: v for k, v in data.items() if k not in ("published", "figures", "provenance")},
            figures=Figures.from_dict(data.get("figures", {})),
            provenance=Provenance.from_dict(data.get("provenance", {})),
            published=Publication.from_dict(published) if published is not None else None,
        )


@dataclass(frozen=True)
class GalleryRecord:
    """A gallery (a FAISS index + manifest) registered with the registry.

    Attributes:
        name: registry name of the gallery.
        location: where the gallery lives (a directory path or URL).
        generation: the generation that embedded it.
        created: UTC timestamp.
    """

    name: str
    location: str
    generation: str
    created: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        validate_name(self.name, "gallery")
        validate_name(self.generation, "generation")
        for name in ("location", "created"):
            if not isinstance(getattr(self, name), str):
                raise ValidationError(f"gallery {self.name!r}: {name} must be a string")
        if not self.location:
            raise ValidationError(f"gallery {self.name!r}: location is required")

    def to_dict(self) -> dict[str, Any]:
        """The stored form, as it appears in ``registry.json``."""
        return {
            "name": self.name,
            "location": self.location,
            "generation": self.generation,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Any) -> GalleryRecord:
        """Inverse of :meth:`to_dict`; raises :class:`ValidationError` on bad fields."""
        required = {"name", "location", "generation"}
        check_fields("gallery", data, required | {"created"}, required)
        return cls(**data)
