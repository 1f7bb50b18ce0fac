"""Real models: a pair of the chain (v2 → v1) over BBC News, embedded with ``--texts``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from embedreg import Registry
from embedreg.adapters import load_registered_adapter
from embedreg.models import pin_model
from embedreg.models.embed import embed_pairs
from embedreg.training import compare_families, train_adapter

import testbed

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def chain(
    tmp_path_factory: pytest.TempPathFactory, v1_dir: Path, v2_dir: Path, bbc_news
) -> tuple[Registry, Path]:
    """A registry with v1 and v2 (128 tokens) and 742 BBC News documents as JSON lines."""
    root = tmp_path_factory.mktemp("chain")
    reg = Registry.open(root / "registry")
    reg.init()
    reg.add_generation(
        pin_model("v1", v1_dir, **{**testbed.V1_RECIPE, "max_tokens": 128}, fingerprint=False)
    )
    reg.add_generation(pin_model("v2", v2_dir, max_tokens=128, parent="v1", fingerprint=False))
    inputs = root / "bbc.jsonl"
    with open(inputs, "w", encoding="utf-8") as fh:
        for i in range(0, len(bbc_news), 3):
            fh.write(
                json.dumps(
                    {"id": bbc_news.ids[i], "text": bbc_news.texts[i], "label": bbc_news.labels[i]}
                )
                + "\n"
            )
    return reg, inputs


def test_texts_are_embedded_once_then_served_from_the_cache(chain) -> None:
    reg, inputs = chain
    cached: list[str] = []
    first = embed_pairs(reg, "v2", "v1", inputs, device="cpu")
    again = embed_pairs(
        reg, "v2", "v1", inputs, device="cpu", on_cached=lambda g, p: cached.append(g)
    )
    assert cached == ["v2", "v1"]
    assert len(first) == 742 and first.source_dim == first.target_dim == 384
    assert first.labels is not None and set(first.labels) == {
        "business",
        "entertainment",
        "politics",
        "sports",
        "tech",
    }
    assert np.array_equal(first.source, again.source) and np.array_equal(first.target, again.target)
    assert not np.allclose(first.source, first.target, atol=1e-3)  # two real models, two spaces
    # neither recipe has prefixes: the document role (a forward adapter's) gets the same vectors
    cached.clear()
    docs = embed_pairs(
        reg,
        "v2",
        "v1",
        inputs,
        role="document",
        device="cpu",
        on_cached=lambda g, p: cached.append(g),
    )
    assert cached == ["v2", "v1"]
    assert np.array_equal(first.source, docs.source) and np.array_equal(first.target, docs.target)


def test_a_role_with_its_own_prefix_is_embedded_again(chain, v2_dir: Path) -> None:
    reg, inputs = chain
    if "v2q" not in [g.name for g in reg.generations()]:
        reg.add_generation(
            pin_model("v2q", v2_dir, max_tokens=128, query_prefix="query: ", fingerprint=False)
        )
    few = inputs.parent / "few.jsonl"
    few.write_text("".join(inputs.read_text(encoding="utf-8").splitlines(True)[:4]), "utf-8")
    cached: list[str] = []
    queries = embed_pairs(reg, "v2q", "v1", few, role="query", device="cpu")
    docs = embed_pairs(
        reg,
        "v2q",
        "v1",
        few,
        role="document",
        device="cpu",
        on_cached=lambda g, p: cached.append(g),
    )
    assert cached == ["v1"]  # v1 has no prefixes; v2q's document role has none, its query role has
    assert np.array_equal(queries.target, docs.target)
    assert not np.allclose(queries.source, docs.source, atol=1e-4)


def test_lambda_orth_adapter_on_the_real_pair(chain) -> None:
    reg, inputs = chain
    pairs = embed_pairs(reg, "v2", "v1", inputs, device="cpu")
    (run,) = train_adapter(reg, "v2", "v1", pairs, family="lambda-orth", config=None)
    figs = run.figures
    rows = {
        r.family: r.figures for r in compare_families(pairs, families=["identity", "procrustes"])
    }
    # v1 and v2 share ancestry: the identity already retrieves, but the adapter does clearly better
    assert figs.cmc_at_1 > rows["identity"].cmc_at_1 + 0.05
    assert figs.agreement_at_10 > rows["identity"].agreement_at_10 + 0.1
    assert figs.criterion is True  # measured: 0.89 against v1/v1 0.82 on 148 held-out documents
    assert figs.retention > 0.95 and figs.geometry > -0.02
    assert figs.defect <= figs.setting("lambda")
    loaded = load_registered_adapter(reg, run.record.id)
    assert loaded.provenance.source.pin == reg.generation("v2").pin
    assert np.array_equal(
        loaded.adapter.transform(pairs.source[:3]), run.adapter.transform(pairs.source[:3])
    )


def test_cli_train_with_texts(chain, cli: Cli) -> None:
    reg, inputs = chain
    location = str(Path(reg.location).parent)
    out = cli(
        "adapter",
        "train",
        "v2",
        "v1",
        "--texts",
        str(inputs),
        "--family",
        "procrustes",
        "--device",
        "cpu",
        "--json",
        "--registry",
        location,
    )
    assert out.returncode == 0, out.stderr
    (rec,) = json.loads(out.stdout)
    assert rec["id"] == "v2-to-v1.procrustes" and rec["figures"]["labels"] is True
    assert "from the cache" in out.stderr
