"""Small real registries for the Hub tests: synthetic generations and a measured adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.synthetic import planted_pairs
from embedreg.training import train_adapter

#: The adapter :func:`small_registry` trains.
ADAPTER = "v2-to-v1.affine"


def upload_model(
    hub: Any, folder: Path, stem: str = "minilm", owner: str = "team"
) -> tuple[str, str]:
    """Upload a model folder to a new repo on the test Hub: ``(repo_id, commit)``."""
    from huggingface_hub import HfApi

    repo = hub.repo_name(stem, owner=owner)
    api = HfApi()
    api.create_repo(repo)
    info = api.upload_folder(repo_id=repo, folder_path=str(folder), commit_message="the model")
    return repo, str(info.oid)


def one_line_error(result: Any) -> str:
    """The single ``Error: …; …`` line of a failed command (exit 1)."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "; " in lines[0], result.stderr
    return lines[0]


def small_registry(root: Path, *, family: str = "affine") -> Registry:
    """v1 (16-d, org/one) and v2 (24-d, org/two, child of v1) and a measured v2 → v1 adapter."""
    reg = Registry.open(root)
    reg.init()
    reg.add_generation(Generation("v1", HubSource("org/one", "1" * 40, "main"), Recipe(), 16))
    reg.add_generation(
        Generation(
            "v2", HubSource("org/two", "2" * 40, "v2.0"), Recipe(max_tokens=128), 24, parent="v1"
        )
    )
    pairs = planted_pairs(400, 24, 16, kind="affine", noise=0.05, n_classes=4, seed=0).pairs
    train_adapter(reg, "v2", "v1", pairs, family=family)
    return reg
