"""A family from another package, installed for the test, works end to end like a built-in.

The package (a module and its ``.dist-info`` with an ``embedreg.adapters``
entry point) is written to a temporary folder put on the path of the CLI
processes only: embedreg finds it exactly as it would a pip-installed one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]

PLUGIN = '''
from dataclasses import dataclass, field

import numpy as np
from embedreg.adapters import FamilyConfig, TrainableAdapter
from embedreg.adapters.linear import LinearAdapter, moments, procrustes_from_moments


@dataclass(frozen=True)
class CentredConfig(FamilyConfig):
    shrink: float = field(default=0.0, metadata={"help": "pull the map towards the identity"})


class CentredProcrustes(LinearAdapter):
    """Procrustes on mean-centred pairs, the means restored as a bias."""

    family = "centred"
    config_class = CentredConfig

    @classmethod
    def fit(cls, source, target, config):  # no device argument: embedreg copes
        cfg = cls.make_config(config)
        m = moments(source, target, "cpu")
        cxy = m.xy - m.count * np.outer(m.mean_x, m.mean_y)
        w = procrustes_from_moments(type(m)(m.count, m.sum_x, m.sum_y, m.xx, cxy))
        if cfg.shrink and w.shape[0] == w.shape[1]:
            w = (1 - cfg.shrink) * w + cfg.shrink * np.eye(w.shape[0])
        b = m.mean_y - w @ m.mean_x
        return cls(w.astype(np.float32), b.astype(np.float32), shrink=cfg.shrink)

    def card_facts(self):  # its headline setting, on `adapter show` and its card
        return {"shrink": float(self.settings.get("shrink", 0.0))}


@dataclass(frozen=True)
class ScaledConfig(FamilyConfig):  # no loss weights of its own: the defaults apply
    scale: float = field(default=1.0, metadata={"help": "initial scale of the map"})


class ScaledAffine(LinearAdapter, TrainableAdapter):
    """An affine map trained by the embedreg trainer from a scaled Procrustes start."""

    family = "scaled"
    fitting = "gradient"
    config_class = ScaledConfig

    @classmethod
    def build_module(cls, init, config):
        from embedreg.adapters import AffineMap
        from embedreg.adapters.torch_modules import AffineModule

        return AffineModule(AffineMap(init.W * config.scale, init.b))

    @classmethod
    def from_module(cls, module, config, **extra):
        from embedreg.adapters.torch_modules import to_numpy

        return cls(to_numpy(module.weight), to_numpy(module.bias), scale=config.scale)
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "embedreg_centred.py").write_text(PLUGIN)
    dist = site / "embedreg_centred-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: embedreg-centred\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[embedreg.adapters]\n"
        "centred = embedreg_centred:CentredProcrustes\n"
        "scaled = embedreg_centred:ScaledAffine\n"
    )
    return site


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_plugin_family_trains_lists_compares_and_checks_options(
    cli: Cli, registry_dir: Path, tmp_path: Path, plugin_path: Path, bbc_news: Any, v2_dir: Path
) -> None:
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args, env=env)

    texts = tmp_path / "texts.jsonl"
    rows = [
        {"id": str(i), "text": " ".join(t.split())[:200], "label": label}
        for i, (t, label) in enumerate(zip(bbc_news.texts[::4], bbc_news.labels[::4], strict=True))
    ][:520]
    texts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run("init").returncode == 0
    for name, tokens, extra in (("v2", "64", []), ("v2-short", "16", ["--parent", "v2"])):
        added = run(
            "gen", "add", name, str(v2_dir), "--max-tokens", tokens, *extra, "--no-fingerprint"
        )
        assert added.returncode == 0, added.stderr

    families = json.loads(run("adapter", "families", "--json").stdout)
    centred = next(f for f in families if f["family"] == "centred")
    assert centred["module"] == "embedreg_centred" and centred["options"][0]["name"] == "shrink"
    assert "centred" in run("adapter", "train", "--help").stdout

    trained = run(
        "adapter", "train", "v2-short", "v2", "--texts", str(texts),
        "--family", "centred", "-o", "shrink=0.1", "--json",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    (record,) = json.loads(trained.stdout)
    assert record["id"] == "v2-short-to-v2.centred" and record["family"] == "centred"
    assert record["provenance"]["hyperparameters"] == {"shrink": 0.1}
    assert record["provenance"]["settings"] == {"shrink": 0.1}
    shown = run("adapter", "show", "v2-short-to-v2.centred")
    assert shown.returncode == 0, shown.stderr
    assert "shrink=0.1" in shown.stderr.replace(" ", "")
    card = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from embedreg import Registry\n"
            "from embedreg.hub import HubAdapter\n"
            "hub = HubAdapter.from_registry(Registry.open(sys.argv[1]), sys.argv[2])\n"
            "card = hub.card('alice/centred')\n"
            "print(card.data.embedreg['settings'], card.text.count('shrink = 0.1000'))\n",
            str(registry_dir),
            "v2-short-to-v2.centred",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert card.returncode == 0, card.stderr
    assert card.stdout.split() == ["{'shrink':", "0.1}", "1"], card.stdout
    assert 0 < record["figures"]["retention"] <= 1.5

    listed = run("adapter", "list")
    assert "v2-short-to-v2.centred" in listed.stderr
    routed = json.loads(run("resolve", "v2-short", "v2", "--json", "--min-quality", "0").stdout)
    assert routed["adapters"] == ["v2-short-to-v2.centred"]

    compared = run(
        "adapter", "compare", "v2-short", "v2", "--texts", str(texts),
        "--families", "procrustes,centred,scaled", "-o", "centred.shrink=0.2",
        "-o", "scale=0.9", "--epochs", "2", "--json",
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    assert [r["family"] for r in json.loads(compared.stdout)] == ["procrustes", "centred", "scaled"]

    refused = one_line_error(
        run(
            "adapter",
            "train",
            "v2-short",
            "v2",
            "--texts",
            str(texts),
            "--family",
            "centred",
            "-o",
            "lam=3",
        )
    )
    assert "unknown option 'lam' for adapter family 'centred' (known: shrink)" in refused
    nobody = one_line_error(
        run(
            "adapter",
            "compare",
            "v2-short",
            "v2",
            "--texts",
            str(texts),
            "--families",
            "centred",
            "-o",
            "rank=3",
        )
    )
    assert "no compared family takes option 'rank'" in nobody


def test_gradient_plugin_family_in_the_trainer(plugin_path: Path) -> None:
    """The Python side: the trainer fits a plugin's gradient family by name, with its options."""
    code = textwrap.dedent(
        """
        from embedreg.data.synthetic import planted_pairs
        from embedreg.training import AdapterTrainer, TrainConfig
        data = planted_pairs(800, 8, 8, kind="rotation", noise=0.05, seed=0).pairs
        result = AdapterTrainer(TrainConfig(device="cpu", epochs=3)).fit(
            "scaled", data.source, data.target, options={"scale": "0.5"})
        print(result.family, result.options.scale, result.epochs_run, result.adapter.affine().W.shape)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["scaled", "0.5", "3", "(8,", "8)"]
