"""Issue 26 #5, #8: pulled adapters are checked against their card and generations, field by field.

Each variant is a real repo on the test Hub whose card's sha256s were updated
to the tampered files, so the hash check alone passes; what must refuse it is
the cross-check of dimensions, pins and types.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.adapters.persistence import load_adapter, save_adapter
from embedreg.adapters.procrustes import ProcrustesAdapter
from embedreg.errors import AdapterIntegrityError
from embedreg.hub import HubAdapter, pull_adapter
from embedreg.registry.provenance import GenerationPin
from huggingface_hub import HfApi, ModelCard

from hub.helpers import ADAPTER, small_registry

FILES = ("config.json", "model.safetensors")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three files of a genuine published adapter (v2 24-d → v1 16-d)."""
    root = tmp_path_factory.mktemp("genuine")
    reg = small_registry(root / "reg")
    return HubAdapter.from_registry(reg, ADAPTER).save_to(root / "files", "alice/genuine")


def _publish(hub: Any, published: Path, tmp: Path, mutate: Callable[[Path], None]) -> str:
    folder = tmp / "tampered"
    folder.mkdir()
    for name in (*FILES, "README.md"):
        (folder / name).write_bytes((published / name).read_bytes())
    mutate(folder)
    card = ModelCard.load(folder / "README.md")
    section = dict(card.data.embedreg)
    section["files"] = {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in FILES
    }  # the forger updates the card's hashes too
    card.data.embedreg = section
    card.save(str(folder / "README.md"))
    repo = hub.repo_name("tampered")
    HfApi().create_repo(repo)
    HfApi().upload_folder(repo_id=repo, folder_path=str(folder), commit_message="forged")
    return repo


def _rewrite_adapter(folder: Path, *, dim: int | None = None, **meta: str) -> None:
    """Replace the adapter files: another shape, or raw metadata values (keeping the pins)."""
    genuine = load_adapter(folder)
    if dim is not None:
        adapter = ProcrustesAdapter(np.eye(dim, dtype=np.float32), np.zeros(dim, np.float32))
        save_adapter(adapter, folder, provenance=genuine.provenance, figures=genuine.figures)
        return
    from safetensors.numpy import load, save

    data = (folder / "model.safetensors").read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    metadata = dict(header["__metadata__"])
    metadata.update(meta)
    (folder / "model.safetensors").write_bytes(save(load(data), metadata=metadata))
    config = json.loads((folder / "config.json").read_text())
    for key, value in meta.items():
        config[key.removeprefix("embedreg.")] = json.loads(value)
    (folder / "config.json").write_text(json.dumps(config))


def _card(**changes: Any) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        card = ModelCard.load(folder / "README.md")
        section = dict(card.data.embedreg)
        for path, value in changes.items():
            end, key = path.split("__")
            section[end] = {**section[end], key: value}
        card.data.embedreg = section
        card.save(str(folder / "README.md"))

    return mutate


def _without_pins(folder: Path) -> None:
    genuine = load_adapter(folder)
    provenance = replace(genuine.provenance, source=GenerationPin(), target=GenerationPin())
    save_adapter(genuine.adapter, folder, provenance=provenance, figures=genuine.figures)


VARIANTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "weights 10 → 10": (lambda f: _rewrite_adapter(f, dim=10), "maps 10 → 10"),
    "no pins in the weights": (_without_pins, "records no source generation"),
    "card dimension 999999999999": (_card(source__dimension=999999999999), "not between 1"),
    "card dimension a string": (_card(target__dimension="16"), "not an integer"),
    "provenance a list": (
        lambda f: _rewrite_adapter(f, **{"embedreg.provenance": "[]"}),
        "embedreg.provenance in model.safetensors is not an object",
    ),
    "figures a list": (
        lambda f: _rewrite_adapter(f, **{"embedreg.figures": "[1]"}),
        "embedreg.figures in model.safetensors is not an object",
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_tampered_adapters_are_refused(
    hub: Any, published: Path, tmp_path: Path, variant: str, cli: Any
) -> None:
    mutate, message = VARIANTS[variant]
    repo = _publish(hub, published, tmp_path, mutate)
    with pytest.raises(AdapterIntegrityError, match=message):
        HubAdapter.from_pretrained(repo)
    local = small_registry(tmp_path / "local")
    before = Path(local.location).read_bytes()
    result = cli("--registry", str(tmp_path / "local"), "adapter", "pull", repo, "--name", "x")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "internal error" not in lines[0]
    assert Path(local.location).read_bytes() == before


def test_an_adapter_contradicting_the_local_generations_is_refused(
    hub: Any, published: Path, tmp_path: Path
) -> None:
    """The card and weights agree (10 → 10) but the local generations of those pins do not."""

    def both(folder: Path) -> None:
        _rewrite_adapter(folder, dim=10)
        _card(source__dimension=10)(folder)
        _card(target__dimension=10)(folder)

    repo = _publish(hub, published, tmp_path, both)
    local = small_registry(tmp_path / "local")
    with pytest.raises(Exception, match=r"maps 10 → 10|10-d") as exc:
        pull_adapter(local, repo, name="x")
    assert type(exc.value).__name__ in ("GenerationNotMatched", "AdapterIntegrityError")
    assert [a.id for a in Registry.open(tmp_path / "local").adapters()] == [ADAPTER]
