"""Upgrade jobs without a model: the forward strategy on planted spaces, and the journal's recovery.

Two generations see the same labelled items through different random linear
views; a backward and a forward adapter are fitted and measured between
them.  Forward upgrades need no encoder, so the job machinery (switch,
rollback, finalize, refusals, recovery from a crash at each step) is
exercised here in seconds.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import ConflictError, NotFound, ValidationError
from embedreg.gallery import Gallery, build_gallery, storage
from embedreg.registry import GalleryRecord
from embedreg.training import train_adapter
from embedreg.upgrade import apply, finalize, plan, resume, rollback, status

N, CLASSES = 600, 6


@pytest.fixture
def world(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLASSES, 10)).astype(np.float32)
    labels = rng.integers(0, CLASSES, N)
    z = centres[labels] + 0.6 * rng.standard_normal((N, 10)).astype(np.float32)
    vecs = {}
    for name, dim in (("v1", 12), ("v2", 16)):
        x = z @ rng.standard_normal((10, dim)).astype(np.float32)
        x += 0.05 * rng.standard_normal(x.shape).astype(np.float32)
        vecs[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    v1 = reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 12))
    reg.add_generation(Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 16, parent="v1"))
    ids = [f"i{n}" for n in range(N)]
    train_adapter(
        reg,
        "v2",
        "v1",
        PairedEmbeddings(
            ids[:400], vecs["v2"][:400], vecs["v1"][:400], [str(x) for x in labels[:400]]
        ),
        family="affine",
        direction="both",
    )
    folder = tmp_path / "gallery"
    g = Gallery.create(v1, name="g")
    g.add(vecs["v1"][400:], ids[400:], generation=v1)
    g.save(folder)
    reg.add_gallery(GalleryRecord(name="g", location=str(folder.resolve()), generation="v1"))
    reg.set_alias("production", "v1")
    return {"reg": reg, "folder": folder, "vecs": vecs, "ids": ids}


def content_hash(folder: Path) -> str:
    return str(storage.read_manifest(folder)["content_hash"])


def test_plan_lists_the_four_strategies_and_what_is_missing(world: dict[str, object]) -> None:
    reg, folder = world["reg"], world["folder"]
    p = plan(reg, folder, "v2", sample=0)  # type: ignore[arg-type]
    assert [r.strategy for r in p.rows] == ["adapt-queries", "forward", "partial", "reembed"]
    adapt, fwd, part, full = p.rows
    assert adapt.available and adapt.seconds == 0 and adapt.query_us and adapt.query_us > 0
    assert adapt.quality.value == pytest.approx(reg.adapter("v2-to-v1.affine").figures["retention"])  # type: ignore[attr-defined]
    assert (
        adapt.quality.low is not None
        and adapt.quality.low <= adapt.quality.value <= adapt.quality.high
    )  # type: ignore[operator]
    assert fwd.available and fwd.seconds is not None and fwd.seconds > 0 and fwd.disk_bytes
    assert fwd.quality.basis == "estimate" and fwd.quality.value
    # vectors only (no texts): re-embedding needs the original inputs, and says how
    assert any("embedreg gallery build v2 INPUT" in need for need in full.needs)
    assert part.quality.basis == "estimate" and "straight line" in part.quality.detail
    assert full.seconds is None  # --sample 0: the model's rate was not measured
    data = json.loads(json.dumps(p.to_dict()))
    assert data["recommendation"] in ("none", "adapt-queries", "forward", "partial", "reembed")
    assert p.reason


def test_forward_upgrade_promote_rollback_exactly(world: dict[str, object]) -> None:
    reg, folder, vecs = world["reg"], world["folder"], world["vecs"]
    before = content_hash(folder)  # type: ignore[arg-type]
    result = apply(reg, folder, "v2", "forward", promote="production")  # type: ignore[arg-type]
    assert result.state == "done" and result.segments == {"v2": 200} and result.mapped == 200
    g = Gallery.load(folder)  # type: ignore[arg-type]
    adapter = reg.adapter("v1-to-v2.affine")  # type: ignore[attr-defined]
    from embedreg.adapters import load_registered_adapter

    fwd = load_registered_adapter(reg, adapter.id).adapter  # type: ignore[arg-type]
    expected = fwd.transform(vecs["v1"][400:405])  # type: ignore[index]
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(g.vectors(world["ids"][400:405]), expected, atol=1e-5)  # type: ignore[index]
    assert reg.aliases()["production"] == "v2" and reg.gallery("g").generation == "v2"  # type: ignore[attr-defined]
    st = status(folder)  # type: ignore[arg-type]
    assert st.state == "done" and st.previous and st.previous["content_hash"] == before
    with pytest.raises(ConflictError, match="kept for rollback"):
        apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]

    back = rollback(reg, folder)  # type: ignore[arg-type]
    assert back.action == "restored" and content_hash(folder) == before  # type: ignore[arg-type]
    assert Gallery.load(folder).generations == ["v1"]  # type: ignore[arg-type]
    assert reg.aliases()["production"] == "v1" and reg.gallery("g").generation == "v1"  # type: ignore[attr-defined]
    names = {p.name for p in folder.iterdir()}  # type: ignore[attr-defined]
    assert not any(n.startswith("v2.") for n in names)  # the upgrade's files are gone
    assert status(folder).state == "none"  # type: ignore[arg-type]


def test_finalize_deletes_the_previous_version(world: dict[str, object]) -> None:
    reg, folder = world["reg"], world["folder"]
    old_files = {p.name for p in folder.iterdir() if p.suffix in (".faiss", ".jsonl")}  # type: ignore[attr-defined]
    apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]
    with Gallery.edit(folder) as g:  # type: ignore[arg-type]
        g.remove(["i400"])  # a later save must not delete the kept version's files
    assert old_files <= {p.name for p in folder.iterdir()}  # type: ignore[attr-defined]
    done = finalize(folder)  # type: ignore[arg-type]
    assert done.action == "finalized"
    assert not old_files & {p.name for p in folder.iterdir()}  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        rollback(reg, folder)  # type: ignore[arg-type]
    assert Gallery.load(folder).generations == ["v2"]  # type: ignore[arg-type]


def test_rollback_refuses_a_gallery_changed_since_unless_forced(world: dict[str, object]) -> None:
    reg, folder = world["reg"], world["folder"]
    before = content_hash(folder)  # type: ignore[arg-type]
    apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]
    with Gallery.edit(folder) as g:  # type: ignore[arg-type]
        g.remove(["i401"])
    with pytest.raises(ConflictError, match="changed since the upgrade"):
        rollback(reg, folder)  # type: ignore[arg-type]
    rollback(reg, folder, force=True)  # type: ignore[arg-type]
    assert content_hash(folder) == before  # type: ignore[arg-type]


def test_a_crash_before_the_switch_resumes_and_one_after_it_never_switches_twice(
    world: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, folder = world["reg"], world["folder"]
    before = content_hash(folder)  # type: ignore[arg-type]

    class Killed(BaseException):
        pass

    def die(*_a: object, **_k: object) -> None:
        raise Killed

    # killed between the journal's "switching" step and the manifest write
    monkeypatch.setattr(Gallery, "save", die)
    with pytest.raises(Killed):
        apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]
    monkeypatch.undo()
    assert content_hash(folder) == before and Gallery.load(folder).generations == ["v1"]  # type: ignore[arg-type]
    assert status(folder).state == "interrupted"  # type: ignore[arg-type]
    with pytest.raises(ConflictError, match="interrupted"):
        apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]

    # killed after the manifest switched, before the registry and journal caught up
    apply_module = importlib.import_module(
        "embedreg.upgrade.apply"
    )  # the name `apply` is the function
    monkeypatch.setattr(apply_module, "after_switch", die)
    with pytest.raises(Killed):
        resume(reg, folder)  # type: ignore[arg-type]
    monkeypatch.undo()
    switched_version = storage.read_manifest(folder)["version"]  # type: ignore[arg-type]
    assert Gallery.load(folder).generations == ["v2"]  # type: ignore[arg-type]
    result = resume(reg, folder)  # type: ignore[arg-type]
    assert result.state == "done" and result.version == switched_version
    assert storage.read_manifest(folder)["version"] == switched_version  # type: ignore[arg-type]
    assert reg.gallery("g").generation == "v2"  # type: ignore[attr-defined]
    rollback(reg, folder)  # type: ignore[arg-type]
    assert content_hash(folder) == before  # type: ignore[arg-type]


def test_refusals(world: dict[str, object], tmp_path: Path) -> None:
    reg, folder = world["reg"], world["folder"]
    with pytest.raises(ValidationError, match="adapt-queries leaves"):
        apply(reg, folder, "v2", "adapt-queries", promote="production")  # type: ignore[arg-type]
    unchanged = apply(reg, folder, "v2", "adapt-queries")  # type: ignore[arg-type]
    assert unchanged.state == "unchanged" and "v2-to-v1.affine" in unchanged.notes[0]
    with pytest.raises(ValidationError, match="already embedded by v1"):
        apply(reg, folder, "v1", "forward")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no text to re-embed"):
        apply(reg, folder, "v2", "reembed")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no upgrade job"):
        resume(reg, folder)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        status(tmp_path / "nowhere")
    assert status(folder).state == "none"  # type: ignore[arg-type]
    assert build_gallery  # the gallery room's builder is what tests with models use
