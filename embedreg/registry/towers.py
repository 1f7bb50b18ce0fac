"""Towers: which kind of input made a vector, and how a generation reads images.

A generation embeds through one or two *towers*: a text tower (the
:class:`~embedreg.registry.Recipe` says how) and, for vision-language models
(CLIP, SigLIP, ``VisionTextDualEncoderModel``, …), an image tower whose
preprocessing is the model's own image processor, recorded as an
:class:`ImageRecipe`.  Both towers of a two-tower generation embed into one
space, so a text query can search images; embeddings files and galleries
record which tower made each vector (:class:`Tower`).

Example:
    >>> r = ImageRecipe({"image_processor_type": "ViTImageProcessor", "size": {"height": 16, "width": 16}})
    >>> ImageRecipe.from_dict(r.to_dict()) == r, len(r.hash)
    (True, 64)
    >>> towers_of("text+image")
    (<Tower.TEXT: 'text'>, <Tower.IMAGE: 'image'>)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import ValidationError
from ..util.fields import check_fields
from ..util.hashing import canonical_json_sha256

__all__ = ["TEXT_IMAGE", "ImageRecipe", "Tower", "towers_of"]

#: The modality of a two-tower (vision-language) generation.
TEXT_IMAGE = "text+image"


class Tower(str, Enum):
    """The tower (input kind) that made a vector."""

    TEXT = "text"
    IMAGE = "image"

    def __str__(self) -> str:
        return self.value


def towers_of(modality: str) -> tuple[Tower, ...]:
    """The towers a generation of ``modality`` embeds with (none for ``multimodal``)."""
    if modality == TEXT_IMAGE:
        return (Tower.TEXT, Tower.IMAGE)
    if modality in (Tower.TEXT.value, Tower.IMAGE.value):
        return (Tower(modality),)
    return ()


@dataclass(frozen=True)
class ImageRecipe:
    """How a generation turns images into vectors.

    Attributes:
        processor: the model's own image processor configuration (what
            transformers' ``image_processor.to_dict()`` gives: resizing,
            cropping, rescaling, mean and std), as read when the generation
            was pinned; encoding refuses a processor that says otherwise.
        normalize: L2-normalise the image tower's vectors.

    Example:
        >>> ImageRecipe({"do_resize": True}).normalize
        True
    """

    processor: dict[str, Any] = field(default_factory=dict)
    normalize: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.processor, dict):
            raise ValidationError("image recipe: processor must be an object")
        if not isinstance(self.normalize, bool):
            raise ValidationError(
                f"image recipe: normalize must be true or false, got {self.normalize!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-ready dict."""
        return {"processor": dict(self.processor), "normalize": self.normalize}

    @classmethod
    def from_dict(cls, data: Any) -> ImageRecipe:
        """Inverse of :meth:`to_dict`; raises :class:`ValidationError` on bad fields."""
        check_fields("image recipe", data, {"processor", "normalize"}, {"processor"})
        return cls(processor=data["processor"], normalize=data.get("normalize", True))

    @property
    def hash(self) -> str:
        """Hex sha256 of the recipe's canonical JSON."""
        return canonical_json_sha256(self.to_dict())
