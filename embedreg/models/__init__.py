"""Models: pinning a model as a generation, loading it as pinned, encoding, fingerprints.

Example:
    >>> from embedreg.models import Encoder, pin_model
    >>> gen = pin_model("v2", "/path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> Encoder(gen).encode(["a query"], role="query").shape  # doctest: +SKIP
    (1, 384)

Importing this subpackage loads no torch or transformers; an :class:`Encoder` does.
"""

from __future__ import annotations

from .embed import EmbedResult, embed_inputs, embed_pairs, embeddings_cache_dir
from .encoder import PRECISIONS, Encoder, ProgressCallback
from .fingerprint import (
    PROBE_SET,
    PROBE_TEXTS,
    TOLERANCES,
    VerifyReport,
    compute_fingerprint,
    record_fingerprint,
    verify_generation,
)
from .folders import (
    ModelDirInfo,
    hub_snapshot,
    inspect_model_dir,
    model_folder,
    resolve_hub_revision,
)
from .images import embed_images
from .options import EncodeOptions
from .pinning import pin_model, register_model
from .towers import TWO_TOWER_TYPES, TowerInfo, inspect_towers, load_image_processor
from .updates import UpdateCheck, check_updates

__all__ = [
    "PRECISIONS",
    "PROBE_SET",
    "PROBE_TEXTS",
    "TOLERANCES",
    "TWO_TOWER_TYPES",
    "EmbedResult",
    "EncodeOptions",
    "Encoder",
    "ModelDirInfo",
    "ProgressCallback",
    "TowerInfo",
    "UpdateCheck",
    "VerifyReport",
    "check_updates",
    "compute_fingerprint",
    "embed_images",
    "embed_inputs",
    "embed_pairs",
    "embeddings_cache_dir",
    "hub_snapshot",
    "inspect_model_dir",
    "inspect_towers",
    "load_image_processor",
    "model_folder",
    "pin_model",
    "record_fingerprint",
    "register_model",
    "resolve_hub_revision",
    "verify_generation",
]
