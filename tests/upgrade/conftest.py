"""Fixtures of the upgrade tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from planted import planted_world  # type: ignore[import-not-found]


@pytest.fixture
def planted(tmp_path: Path) -> dict[str, object]:
    """v1 (12-d) and v2 (16-d) views of 600 labelled items; affine adapters both ways; a v1 gallery."""
    world: dict[str, object] = planted_world(tmp_path)
    return world
