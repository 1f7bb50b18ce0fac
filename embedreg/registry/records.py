"""Records the registry keeps beside generations: adapters and galleries.

These are bookkeeping only: an :class:`AdapterRecord` says where an adapter's
files live, which generations it joins, and the figures it was measured with;
a :class:`GalleryRecord` says where a gallery lives and which generation
embedded it.  Training adapters and building galleries is done elsewhere.

Example:
    >>> rec = AdapterRecord(
    ...     id="v3-to-v2", source="v3", target="v2", direction="backward",
    ...     family="lambda-orth", location="adapters/v3-to-v2", sha256="0" * 64,
    ...     figures={"recall@1": 0.91},
    ... )
    >>> AdapterRecord.from_dict(rec.to_dict()) == rec
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ..util.clock import utc_now
from ..util.fields import check_fields
from .names import validate_name

DIRECTIONS: tuple[str, ...] = ("backward", "forward")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


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
    """

    id: str
    source: str
    target: str
    direction: str
    family: str
    location: str
    sha256: str
    figures: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=utc_now)
    provenance: dict[str, Any] = field(default_factory=dict)

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
        if not _SHA256_RE.fullmatch(self.sha256):
            raise ValidationError(f"adapter {self.id!r}: sha256 must be 64 lower-case hex digits")
        if not self.family or not self.location:
            raise ValidationError(f"adapter {self.id!r}: family and location are required")

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
            "figures": dict(self.figures),
            "created": self.created,
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: Any) -> AdapterRecord:
        """Inverse of :meth:`to_dict`; raises :class:`ValidationError` on bad fields."""
        required = {"id", "source", "target", "direction", "family", "location", "sha256"}
        check_fields("adapter", data, required | {"figures", "created", "provenance"}, required)
        return cls(**data)


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
