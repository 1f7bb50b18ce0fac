"""Adapter families: maps between generations' spaces (see :mod:`.base`)."""

from __future__ import annotations

from .base import Adapter, AffineMap, families, family_class

__all__ = ["Adapter", "AffineMap", "families", "family_class"]
