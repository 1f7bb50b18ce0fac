"""Adapter families: maps between generations' spaces (see :mod:`.base`).

Built-in families (entry points in the ``embedreg.adapters`` group):
``identity``, ``procrustes``, ``affine``, ``lambda-orth``, ``lowrank``, ``mlp``.
"""

from __future__ import annotations

from .base import Adapter, AffineMap, families, family_class

__all__ = ["Adapter", "AffineMap", "families", "family_class"]
