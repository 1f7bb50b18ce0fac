"""Generations: an embedding model pinned to exact bytes, plus its encode recipe.

A :class:`Generation` names one version of an embedding model.  Its
:attr:`~Generation.source` pins the weights (a Hub repo at a 40-hex commit, or
a local folder with the sha256 of its weight files, see :mod:`.sources`) and
its :attr:`~Generation.recipe` says how inputs become vectors (pooling,
normalisation, prefixes, truncation).  Two generations with the same pin and
recipe embed into the same space; anything else is a different space.  A
:class:`Fingerprint` (a sketch of the model's vectors for a fixed probe set,
computed by :mod:`embedreg.models.fingerprint`) lets ``embedreg gen verify``
check later that the model still gives the same vectors.

These are records: describing a generation from a model folder (hashing its
weights, reading its config, fingerprinting it) is
:func:`embedreg.models.pin_model`.

Example:
    >>> gen = Generation(
    ...     name="v2",
    ...     source=HubSource("sentence-transformers/all-MiniLM-L6-v2", "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"),
    ...     recipe=Recipe(pooling="mean", normalize=True, max_tokens=256),
    ...     dimension=384,
    ... )
    >>> gen.pin
    'sentence-transformers/all-MiniLM-L6-v2@c9745ed1d9f207416be6d2e6f8de32d1f16199bf'
    >>> Generation.from_dict(gen.to_dict()) == gen
    True
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from ..constants import MAX_DIMENSION
from ..errors import ValidationError
from ..util.clock import utc_now
from ..util.fields import check_fields
from ..util.hashing import canonical_json_sha256
from .names import validate_name
from .sources import HubSource, LocalSource, ModelSource, source_from_dict
from .towers import TEXT_IMAGE, ImageRecipe, Tower, towers_of

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MODALITIES",
    "POOLING_MODES",
    "SKETCH_SIZE",
    "Fingerprint",
    "Generation",
    "HubSource",
    "ImageRecipe",
    "LocalSource",
    "Recipe",
]

Pooling = Literal["mean", "cls", "last-token", "model"]
#: ``model``: a two-tower model's own pooled, projected text features (``get_text_features``).
POOLING_MODES: tuple[str, ...] = ("mean", "cls", "last-token", "model")
#: ``text+image``: a two-tower (vision-language) generation; ``multimodal`` is registered only.
MODALITIES: tuple[str, ...] = ("text", "image", TEXT_IMAGE, "multimodal")

#: Projections a fingerprint stores per probe vector.
SKETCH_SIZE = 16
_FINGERPRINT_FIELDS = {"probe_set", "dimension", "sketch", "precision", "device", "created"}


@dataclass(frozen=True)
class Recipe:
    """How a generation turns inputs into vectors.

    Attributes:
        pooling: ``mean`` (masked mean of token states), ``cls`` (first token),
            ``last-token`` (last non-padding token), or ``model`` (a two-tower
            model's own text features: its pooling and projection).
        normalize: L2-normalise the pooled vector.
        query_prefix: text prepended to queries before tokenising.
        document_prefix: text prepended to documents before tokenising.
        max_tokens: inputs are truncated to this many tokens.

    Example:
        >>> r = Recipe(pooling="cls", normalize=False, query_prefix="query: ")
        >>> r.hash == Recipe(pooling="cls", normalize=False, query_prefix="query: ").hash
        True
    """

    pooling: str = "mean"
    normalize: bool = True
    query_prefix: str = ""
    document_prefix: str = ""
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_MODES:
            raise ValidationError(
                f"pooling must be one of {', '.join(POOLING_MODES)}, got {self.pooling!r}"
            )
        if not isinstance(self.normalize, bool):
            raise ValidationError(f"normalize must be true or false, got {self.normalize!r}")
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool):
            raise ValidationError(f"max_tokens must be an integer, got {self.max_tokens!r}")
        if self.max_tokens < 1:
            raise ValidationError(f"max_tokens must be at least 1, got {self.max_tokens}")
        for attr in ("query_prefix", "document_prefix"):
            if not isinstance(getattr(self, attr), str):
                raise ValidationError(f"{attr} must be a string")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-ready dict."""
        return {
            "pooling": self.pooling,
            "normalize": self.normalize,
            "query_prefix": self.query_prefix,
            "document_prefix": self.document_prefix,
            "max_tokens": self.max_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on unknown or bad fields."""
        check_fields("recipe", data, set(cls().to_dict()), {"pooling", "normalize"})
        return cls(**data)

    @property
    def hash(self) -> str:
        """Hex sha256 of the recipe's canonical JSON: equal recipes, equal hashes."""
        return canonical_json_sha256(self.to_dict())


@dataclass(frozen=True)
class Fingerprint:
    """A compact sketch of a model's vectors for the built-in probe set.

    Attributes:
        probe_set: which probe set was embedded
            (:data:`embedreg.models.fingerprint.PROBE_SET`).
        dimension: the vectors' dimension.
        sketch: base64 of little-endian float32, one row per probe:
            ``SKETCH_SIZE`` projections of the unit vector, then its norm.
        precision: precision it was computed in (``fp32``).
        device: device it was computed on (for the record).
        created: UTC timestamp.

    Example:
        >>> fp = Fingerprint.from_dict(Fingerprint("embedreg-probe-1", 4, "AAAA", "fp32", "cpu", "x").to_dict())
        >>> fp.dimension
        4
    """

    probe_set: str
    dimension: int
    sketch: str
    precision: str = "fp32"
    device: str = "cpu"
    created: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        """The stored form, as it appears in ``registry.json``."""
        return {
            "probe_set": self.probe_set,
            "dimension": self.dimension,
            "sketch": self.sketch,
            "precision": self.precision,
            "device": self.device,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Fingerprint:
        """Inverse of :meth:`to_dict`; raises :class:`ValidationError` on bad fields."""
        check_fields("fingerprint", data, _FINGERPRINT_FIELDS, {"probe_set", "dimension", "sketch"})
        dimension = data["dimension"]
        if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
            raise ValidationError(f"fingerprint: bad dimension {dimension!r}")
        if not isinstance(data["sketch"], str):
            raise ValidationError("fingerprint: sketch must be a base64 string")
        return cls(**data)

    def rows(self) -> np.ndarray:
        """The sketch as a float32 array (probes x (SKETCH_SIZE + 1))."""
        import numpy as np

        try:
            raw = base64.b64decode(self.sketch, validate=True)
        except ValueError:
            raise ValidationError("fingerprint: sketch is not valid base64") from None
        values = np.frombuffer(raw, dtype="<f4")
        width = SKETCH_SIZE + 1
        if values.size == 0 or values.size % width:
            raise ValidationError(f"fingerprint: sketch holds {values.size} values")
        return values.reshape(-1, width).astype(np.float32)


@dataclass(frozen=True)
class Generation:
    """One embedding-model generation: pinned source, recipe, dimension, lineage.

    Describe one from a model folder or Hub reference with
    :func:`embedreg.models.pin_model`, then register it with
    :meth:`embedreg.Registry.add_generation`. Its optional :attr:`fingerprint`
    lets ``embedreg gen verify`` check later that the model still gives the
    same vectors.
    """

    name: str
    source: ModelSource
    recipe: Recipe
    dimension: int
    modality: str = "text"
    parent: str | None = None
    created: str = field(default_factory=utc_now)
    notes: str = ""
    fingerprint: Fingerprint | None = None
    image_recipe: ImageRecipe | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "generation")
        if self.parent is not None:
            validate_name(self.parent, "parent generation")
            if self.parent == self.name:
                raise ValidationError(f"generation {self.name!r} cannot be its own parent")
        if not isinstance(self.dimension, int) or isinstance(self.dimension, bool):
            raise ValidationError(f"dimension must be an integer, got {self.dimension!r}")
        if not 1 <= self.dimension <= MAX_DIMENSION:
            raise ValidationError(
                f"dimension must be between 1 and {MAX_DIMENSION:,}, got {self.dimension:,}"
            )
        if self.modality not in MODALITIES:
            raise ValidationError(
                f"modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}"
            )
        if self.image_recipe is not None and Tower.IMAGE not in self.towers:
            raise ValidationError(
                f"generation {self.name!r} ({self.modality}) has no image tower for its image recipe"
            )
        if self.recipe.pooling == "model" and self.modality != TEXT_IMAGE:
            raise ValidationError(
                f"generation {self.name!r}: pooling 'model' reads a two-tower model's own text "
                "features, and this is a text model",
                "choose mean, cls or last-token pooling",
            )
        if self.fingerprint is not None and self.fingerprint.dimension != self.dimension:
            raise ValidationError(
                f"generation {self.name!r} is {self.dimension}-d but its fingerprint is "
                f"{self.fingerprint.dimension}-d"
            )

    @property
    def pin(self) -> str:
        """The exact model bytes: ``repo@commit`` or ``sha256:<hex>``."""
        return self.source.pin

    @property
    def towers(self) -> tuple[Tower, ...]:
        """The towers it embeds with: text, image, or both (``text+image``)."""
        return towers_of(self.modality)

    @property
    def space_key(self) -> tuple[str, str]:
        """(pin, recipe hash): generations with equal keys embed into one space.

        A two-tower generation's image recipe is the model's own processor,
        read from the same pinned files, so the pin covers it.
        """
        return (self.pin, self.recipe.hash)

    def same_space(self, other: Generation) -> bool:
        """True when ``other`` has the same pinned model and the same recipe."""
        return self.space_key == other.space_key

    def to_dict(self) -> dict[str, Any]:
        """The stored form, as it appears in ``registry.json``."""
        return {
            "name": self.name,
            "source": self.source.to_dict(),
            "recipe": self.recipe.to_dict(),
            "dimension": self.dimension,
            "modality": self.modality,
            "parent": self.parent,
            "created": self.created,
            "notes": self.notes,
            "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
            # only two-tower and image generations carry it (text records stay as they were)
            **({"image_recipe": self.image_recipe.to_dict()} if self.image_recipe else {}),
        }

    def describe(self) -> dict[str, Any]:
        """:meth:`to_dict` plus derived fields (``pin``, ``recipe_hash``) for display."""
        return {**self.to_dict(), "pin": self.pin, "recipe_hash": self.recipe.hash}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on unknown or bad fields."""
        fields = {"name", "source", "recipe", "dimension", "modality", "parent", "created", "notes"}
        fields.add("fingerprint")  # schema 2; absent (None) in schema-1 documents
        fields.add("image_recipe")  # image towers only
        check_fields("generation", data, fields, {"name", "source", "recipe", "dimension"})
        fingerprint = data.get("fingerprint")
        image_recipe = data.get("image_recipe")
        return cls(
            name=data["name"],
            source=source_from_dict(data["source"]),
            recipe=Recipe.from_dict(data["recipe"]),
            dimension=data["dimension"],
            modality=data.get("modality", "text"),
            parent=data.get("parent"),
            created=data.get("created", ""),
            notes=data.get("notes", ""),
            fingerprint=Fingerprint.from_dict(fingerprint) if fingerprint is not None else None,
            image_recipe=ImageRecipe.from_dict(image_recipe) if image_recipe is not None else None,
        )

    def with_parent(self, parent: str | None) -> Generation:
        """A copy with another parent (used when lineage is spliced)."""
        return replace(self, parent=parent)

    def with_fingerprint(self, fingerprint: Fingerprint | None) -> Generation:
        """A copy carrying ``fingerprint`` (its dimension must be the generation's)."""
        return replace(self, fingerprint=fingerprint)
