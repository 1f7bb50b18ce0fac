"""Fixtures of the registry tests: a registry.json as training writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.synthetic import planted_pairs
from embedreg.training import TrainConfig, train_adapter

FAST = TrainConfig(device="cpu", epochs=3)


@pytest.fixture(scope="session")
def stored_registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A registry.json as training writes it: auto with labels and paths, λ-orth, unlabelled affine."""
    root = tmp_path_factory.mktemp("stored") / "reg"
    reg = Registry.open(root)
    reg.init()
    reg.add_generation(Generation("v1", HubSource("org/one", "1" * 40), Recipe(), 16))
    reg.add_generation(Generation("v2", HubSource("org/two", "2" * 40), Recipe(), 24, parent="v1"))
    pairs = planted_pairs(400, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    train_adapter(reg, "v2", "v1", pairs, options={"families": "procrustes,affine"}, config=FAST)
    train_adapter(reg, "v2", "v1", pairs, family="lambda-orth", config=FAST, fit_paths=False)
    few = planted_pairs(
        60, 24, 16, kind="affine", noise=0.1, seed=1
    ).pairs  # no labels, 12 held out
    train_adapter(reg, "v2", "v1", few, family="affine", name="few", direction="both")
    return json.loads((root / "registry.json").read_text(encoding="utf-8"))
