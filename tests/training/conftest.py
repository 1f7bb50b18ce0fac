"""Fixtures of the training tests: a registry with two planted generations."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedreg import Generation, HubSource, Recipe, Registry


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    """A fresh registry holding v1 (16-d) and its successor v2 (24-d), both Hub-pinned."""
    registry = Registry.open(tmp_path / "reg")
    registry.init()
    registry.add_generation(Generation("v1", HubSource("org/one", "1" * 40), Recipe(), 16))
    registry.add_generation(
        Generation("v2", HubSource("org/two", "2" * 40), Recipe(), 24, parent="v1")
    )
    return registry
