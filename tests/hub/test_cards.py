"""Card templates, rendered through huggingface_hub's ModelCard, and the numpy-only snippet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from embedreg.adapters import Adapter
from embedreg.adapters.affine import AffineAdapter
from embedreg.adapters.identity import IdentityAdapter
from embedreg.adapters.lambda_orth import LambdaOrthAdapter, LambdaOrthConfig
from embedreg.adapters.lowrank import LowRankAdapter
from embedreg.adapters.mlp import ResidualMLPAdapter
from embedreg.adapters.persistence import adapter_files
from embedreg.hub import AdapterFacts, EndFacts, card_template, card_template_names, render_card
from embedreg.hub.adapter_card import numpy_snippet
from embedreg.registry import Provenance, Recipe
from huggingface_hub import ModelCard, ModelCardData


@pytest.mark.parametrize("name", card_template_names())
def test_templates_are_jinja_with_front_matter(name: str) -> None:
    assert card_template(name).startswith("---\n{{ card_data }}\n---")


def test_unknown_template() -> None:
    with pytest.raises(ValueError):
        card_template("nope.md")


def test_a_registry_card_renders_and_parses() -> None:
    card = render_card(
        "registry_card.md",
        ModelCardData(library_name="embedreg", tags=["embedreg"]),
        title="t",
        repo_id="alice/r",
        lineages=["v2 → v1"],
        generations=[],
        adapters=[],
        aliases={"latest": "v2"},
    )
    again = ModelCard(str(card))
    assert again.data.library_name == "embedreg" and "- v2 → v1" in again.text
    assert "- `latest` → v2" in again.text


def _adapters(rng: np.random.Generator) -> list[Adapter]:
    def m(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32) * 0.3

    return [
        AffineAdapter(m(6, 8), m(6)),
        LambdaOrthAdapter(m(6, 8), m(6), config=LambdaOrthConfig(lam=0.5)),
        LowRankAdapter(m(6, 8), m(6, 2), m(8, 2), m(6)),
        ResidualMLPAdapter(m(6, 8), m(6), m(5, 8), m(5), m(6, 5)),
    ]


_BLOCK_IMPORTS = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("embedreg", "safetensors", "torch", "huggingface_hub"):
            raise ImportError(f"{name} may not be used")
sys.meta_path.insert(0, Blocker())
"""


@pytest.mark.parametrize("normalize", [True, False])
def test_the_numpy_snippet_applies_every_builtin_family_with_numpy_alone(
    tmp_path: Path, normalize: bool
) -> None:
    rng = np.random.default_rng(0)
    candidates = [*_adapters(rng), IdentityAdapter(8)]
    for adapter in candidates:
        out_dim = adapter.output_dim
        facts = AdapterFacts(
            adapter_id="a",
            family=adapter.family,
            direction="backward",
            source=EndFacts("new", "sha256:" + "1" * 64, Recipe(), 8),
            target=EndFacts("old", "org/old@" + "2" * 40, Recipe(normalize=normalize), out_dim),
            training={},
            files={},
        )
        weights = adapter_files(adapter, Provenance())["model.safetensors"]
        snippet = numpy_snippet(adapter, facts, weights)
        assert snippet is not None, adapter.family
        folder = tmp_path / adapter.family
        folder.mkdir(exist_ok=True)
        (folder / "model.safetensors").write_bytes(weights)
        x = rng.standard_normal((5, 8)).astype(np.float32)
        code = (
            _BLOCK_IMPORTS
            + f"new_vectors = {json.dumps(x.tolist())}\n"
            + snippet
            + "\nimport json as _j; print(_j.dumps(y.tolist()))\n"
        )
        run = subprocess.run(
            [sys.executable, "-I", "-c", code],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        got = np.array(json.loads(run.stdout), dtype=np.float32)
        want = adapter.transform(x)
        if normalize:
            want = want / np.linalg.norm(want, axis=1, keepdims=True)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_family_without_a_numpy_recipe_gets_none() -> None:
    class Plugin(AffineAdapter):
        family = "someone-elses"
        numpy_map = None

    class Inherits(AffineAdapter):  # a linear family's storage: its recipe, once verified
        family = "inherits"

    class Skewed(AffineAdapter):  # the recipe it inherits does not reproduce its transform
        family = "skewed"

        def transform(self, x: np.ndarray) -> np.ndarray:
            return super().transform(x) * 2.0

    w, b = np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32)
    end = EndFacts("a", "sha256:" + "1" * 64, Recipe(normalize=False), 2)
    facts = AdapterFacts("x", "someone-elses", "backward", end, end, {}, {})
    weights = adapter_files(AffineAdapter(w, b), Provenance())["model.safetensors"]
    assert numpy_snippet(Plugin(w, b), facts, weights) is None
    assert numpy_snippet(Inherits(w, b), facts, weights) is not None
    assert numpy_snippet(Skewed(w, b), facts, weights) is None
