"""Adapters in the registry's store: never mixed, never half-replaced, bound to their generations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from embedreg.adapters import load_registered_adapter
from embedreg.data.embeddings import save_embeddings
from embedreg.data.pairs import PairedEmbeddings, load_pairs
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import ConflictError, DuplicateName
from embedreg.registry import Generation, HubSource, Recipe, Registry
from embedreg.training import TrainConfig, train_adapter

FAST = TrainConfig(device="cpu", epochs=2)


def gen(name: str, dim: int, commit: str = "1", parent: str | None = None) -> Generation:
    return Generation(name, HubSource(f"org/{name}", commit * 40), Recipe(), dim, parent=parent)


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    registry = Registry.open(tmp_path / "reg")
    registry.init()
    registry.add_generation(gen("v1", 16))
    registry.add_generation(gen("v2", 24, parent="v1"))
    return registry


@pytest.fixture(scope="module")
def pairs():
    return planted_pairs(600, 24, 16, kind="affine", noise=0.1, seed=0).pairs


def adapter_dirs(reg: Registry) -> list[str]:
    root = Path(reg.location).parent / "artifacts" / "adapters"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_a_second_writer_of_the_same_id_cannot_spoil_the_first(reg, pairs) -> None:
    """Issue 14 #2: the refused writer's files never replace the registered adapter's."""
    (first,) = train_adapter(reg, "v2", "v1", pairs, family="affine")
    other = planted_pairs(600, 24, 16, kind="affine", noise=0.1, seed=1).pairs
    with pytest.raises(DuplicateName):
        train_adapter(reg, "v2", "v1", other, family="affine")
    loaded = load_registered_adapter(reg, first.record.id)
    assert loaded.sha256 == first.record.sha256
    assert adapter_dirs(reg) == [Path(first.record.location).name]  # nothing left behind


def test_replace_switches_whole_and_removes_the_old_files(reg, pairs) -> None:
    (old,) = train_adapter(reg, "v2", "v1", pairs, family="affine")
    other = planted_pairs(600, 24, 16, kind="affine", noise=0.1, seed=1).pairs
    (new,) = train_adapter(reg, "v2", "v1", other, family="affine", replace_existing=True)
    assert new.record.location != old.record.location
    assert load_registered_adapter(reg, "v2-to-v1.affine").sha256 == new.record.sha256
    assert adapter_dirs(reg) == [Path(new.record.location).name]


def test_replace_interrupted_before_the_switch_keeps_the_old_adapter(reg, pairs, monkeypatch):
    """Issue 14 #3: new files in place, registry not yet updated: the old adapter still loads."""
    (old,) = train_adapter(reg, "v2", "v1", pairs, family="affine")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies right before the registry update

    monkeypatch.setattr(Registry, "put_adapter", killed)
    other = planted_pairs(600, 24, 16, kind="affine", noise=0.1, seed=1).pairs
    with pytest.raises(KeyboardInterrupt):
        train_adapter(reg, "v2", "v1", other, family="affine", replace_existing=True)
    monkeypatch.undo()
    assert load_registered_adapter(reg, "v2-to-v1.affine").sha256 == old.record.sha256


def save_pair_files(reg: Registry, data: PairedEmbeddings, folder: Path) -> None:
    """``v2.st`` and ``v1.st`` in ``folder``: the pairs' two sides as each generation's file."""
    for name, side in (("v2", data.source), ("v1", data.target)):
        save_embeddings(
            folder / f"{name}.st", side, generation=reg.generation(name), role="query", ids=data.ids
        )


def test_a_generation_replaced_during_training_refuses_the_record(reg, tmp_path) -> None:
    """Issue 14 #6: gen rm + gen add of the source while training: the adapter is not bound to it."""
    data = planted_pairs(600, 24, 16, kind="affine", noise=0.1, seed=0).pairs
    save_pair_files(reg, data, tmp_path)
    pairs = load_pairs(reg, "v2", "v1", tmp_path / "v2.st", tmp_path / "v1.st")

    def swap_v2(stage: str) -> None:  # called as fitting starts
        reg.remove_generation("v2", force=True)
        reg.add_generation(gen("v2", 24, commit="9", parent="v1"))

    with pytest.raises(ConflictError, match=r"generation 'v2' changed while adapter"):
        train_adapter(reg, "v2", "v1", pairs, family="affine", on_stage=swap_v2)
    assert reg.adapters() == [] and adapter_dirs(reg) == []
    with pytest.raises(ConflictError, match="made by another model or recipe under that name"):
        train_adapter(reg, "v2", "v1", pairs, family="affine")  # the files' pins say so too


def test_concurrent_trainings_of_one_id_leave_a_loadable_adapter(tmp_path: Path) -> None:
    """Two processes train the same id at once: one wins, the other is refused, it loads."""
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    reg.add_generation(gen("v1", 16))
    reg.add_generation(gen("v2", 24, parent="v1"))
    data = planted_pairs(600, 24, 16, kind="affine", noise=0.1, seed=0).pairs
    save_pair_files(reg, data, tmp_path)
    exe = Path(sys.executable).with_name("embedreg")
    args = [str(exe), "--registry", str(tmp_path / "reg"), "adapter", "train", "v2", "v1"]
    args += ["--pairs", str(tmp_path / "v2.st"), str(tmp_path / "v1.st"), "--family", "lambda-orth"]
    args += ["--epochs", "3", "--device", "cpu", "--json"]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 1], [0, 0]), results  # [0, 0]: the second started after the first ended
    if codes == [0, 1]:
        loser = next(err for code, _, err in results if code == 1)
        assert "already taken" in loser
    record = reg.adapter("v2-to-v1.lambda-orth")
    assert load_registered_adapter(reg, record.id).sha256 == record.sha256
    assert json.loads(next(out for code, out, _ in results if code == 0))[0]["id"] == record.id
