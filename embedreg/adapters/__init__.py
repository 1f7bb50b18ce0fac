"""Adapters: maps between generations' spaces, one family per module, and their files.

Built-in families (entry points in the ``embedreg.adapters`` group, found
exactly as a plugin's are): ``identity``, ``procrustes``, ``affine``,
``lambda-orth``, ``lowrank``, ``mlp``.  Each family is an :class:`Adapter`
subclass with its own :class:`~embedreg.adapters.config.FamilyConfig`.

Example:
    >>> from embedreg.adapters import families, family_class
    >>> "lambda-orth" in families()
    True
    >>> [o.name for o in family_class("lowrank").config_class.options()][0]
    'rank'
    >>> defect([[1.0, 0.0], [0.0, 1.0]])   # the orthogonality defect ‖WWᵀ − I‖_F
    0.0
"""

from __future__ import annotations

from .base import Adapter, AffineMap, affine_families, fact_labels, families, family_class
from .config import FamilyConfig, OptionInfo
from .linear import defect
from .persistence import LoadedAdapter, load_adapter, save_adapter
from .registered import (
    adapter_id,
    artifact_key,
    load_registered_adapter,
    register_files,
    store_adapter,
)
from .trainable import GradientConfig, TrainableAdapter

__all__ = [
    "Adapter",
    "AffineMap",
    "FamilyConfig",
    "GradientConfig",
    "LoadedAdapter",
    "OptionInfo",
    "TrainableAdapter",
    "adapter_id",
    "affine_families",
    "artifact_key",
    "defect",
    "fact_labels",
    "families",
    "family_class",
    "load_adapter",
    "load_registered_adapter",
    "register_files",
    "save_adapter",
    "store_adapter",
]
