"""Two-tower (vision-language) models: what a folder says, and each tower's forward pass.

A folder that transformers loads as a two-tower model (``CLIPModel``,
``SiglipModel``, ``VisionTextDualEncoderModel``, …, any model with
``get_text_features`` and ``get_image_features``) is read here:

- :func:`inspect_towers` reads its ``config.json`` (model type, projection
  dimension, the text tower's positions) and its image processor's
  configuration (``preprocessor_config.json``, or the ``image_processor``
  entry of ``processor_config.json``) without loading the model;
- :func:`load_image_processor` loads the model's own image processor with
  transformers (``AutoImageProcessor``, PIL backend, so the same pixels come
  out with or without torchvision) and refuses one whose configuration is
  not the one the generation recorded;
- :func:`text_features` and :func:`image_features` are the forward passes the
  :class:`~embedreg.models.Encoder` runs: text by the recipe's pooling over
  the text tower (``model``: the model's own ``get_text_features``; otherwise
  the token states pooled, then the model's text projection), images by the
  model's ``get_image_features``.

Example:
    >>> inspect_towers("/path/to/clip-vit-base-patch32")  # doctest: +SKIP
    TowerInfo(model_type='clip', dimension=512, max_tokens=77, processor={...})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError
from ..registry import Generation
from .folders import read_model_json

if TYPE_CHECKING:
    import torch

__all__ = [
    "TWO_TOWER_TYPES",
    "TowerInfo",
    "image_features",
    "inspect_towers",
    "load_image_processor",
    "processor_config",
    "text_features",
]

#: ``model_type`` values of transformers' two-tower (contrastive image-text) models.
TWO_TOWER_TYPES: frozenset[str] = frozenset(
    {
        "align",
        "altclip",
        "chinese_clip",
        "clip",
        "metaclip_2",
        "siglip",
        "siglip2",
        "vision-text-dual-encoder",
    }
)
#: Keys of an image processor's configuration that do not change its pixels.
_VOLATILE_KEYS = ("processor_class", "_processor_class", "image_processor_type")


@dataclass(frozen=True)
class TowerInfo:
    """What a two-tower folder's config files say (``None``: they are silent)."""

    model_type: str
    dimension: int | None = None
    max_tokens: int | None = None
    processor: dict[str, Any] | None = field(default=None)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def inspect_towers(folder: str | Path) -> TowerInfo | None:
    """The two-tower facts of ``folder``, or ``None`` when it is not a two-tower model."""
    root = Path(folder)
    config = read_model_json(root / "config.json")
    if not isinstance(config, dict) or config.get("model_type") not in TWO_TOWER_TYPES:
        return None
    found = config.get("text_config")
    text: dict[str, Any] = found if isinstance(found, dict) else {}
    dimension = _positive(config.get("projection_dim"))
    if dimension is None and config.get("model_type") in ("siglip", "siglip2"):
        dimension = _positive(text.get("hidden_size"))  # SigLIP has no projection: its width
    processor = read_model_json(root / "preprocessor_config.json")
    if not isinstance(processor, dict):
        combined = read_model_json(root / "processor_config.json")
        inner = combined.get("image_processor") if isinstance(combined, dict) else None
        processor = inner if isinstance(inner, dict) else None
    return TowerInfo(
        model_type=str(config["model_type"]),
        dimension=dimension,
        max_tokens=_positive(text.get("max_position_embeddings")),
        processor=processor,
    )


def processor_config(processor: Any) -> dict[str, Any]:
    """An image processor's configuration as a generation records it (JSON-ready)."""
    data = json.loads(processor.to_json_string())
    return {k: v for k, v in sorted(data.items()) if k not in _VOLATILE_KEYS}


def load_image_processor(folder: str | Path, generation: Generation | None = None) -> Any:
    """The model's own image processor (transformers, PIL backend).

    With ``generation``, its configuration must be the one the generation's
    image recipe recorded (else :class:`ModelLoadError`: the images would be
    prepared another way than when it was pinned).
    """
    try:
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(str(folder), backend="pil")  # type: ignore[no-untyped-call]
    except ImportError as exc:
        raise ModelLoadError(
            f"cannot load the image processor of {folder}: {exc}",
            "install Pillow (pip install 'embedreg[images]')",
        ) from None
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"cannot load the image processor of {folder}: {first}",
            "the folder needs the image processor's config (preprocessor_config.json)",
        ) from None
    if generation is not None:
        recipe = generation.image_recipe
        if recipe is None:
            raise ModelLoadError(
                f"generation {generation.name!r} has no image recipe",
                "register the model again with 'embedreg gen add' so that its image processor is recorded",
            )
        if processor_config(processor) != recipe.processor:
            raise ModelLoadError(
                f"the image processor in {folder} is not the one generation {generation.name!r} "
                "recorded",
                "restore the folder's preprocessor configuration, or register it as a new generation",
            )
    return processor


def _features(out: Any) -> torch.Tensor:
    """The vectors of a ``get_*_features`` call (a tensor, or an output's pooled features)."""
    if hasattr(out, "pooler_output") and out.pooler_output is not None:
        return out.pooler_output  # type: ignore[no-any-return]
    if hasattr(out, "image_embeds") and out.image_embeds is not None:
        return out.image_embeds  # type: ignore[no-any-return]
    return out if not isinstance(out, tuple) else out[0]  # type: ignore[no-any-return]


def text_features(
    model: Any, inputs: dict[str, torch.Tensor], pooling: str, pool: Any
) -> torch.Tensor:
    """A two-tower model's text vectors (before normalisation) by the recipe's pooling."""
    if pooling == "model":
        return _features(model.get_text_features(**inputs)).float()
    tower = getattr(model, "text_model", model)
    states = tower(**inputs).last_hidden_state.float()
    pooled: torch.Tensor = pool(states, inputs["attention_mask"], pooling)
    projection = getattr(model, "text_projection", None)
    return projection(pooled).float() if projection is not None else pooled


def image_features(model: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """A model's image vectors (before normalisation): ``get_image_features``, or its pooled output."""
    if hasattr(model, "get_image_features"):
        return _features(model.get_image_features(pixel_values=pixel_values)).float()
    return _features(model(pixel_values=pixel_values)).float()
