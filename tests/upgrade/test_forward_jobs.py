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
import re
from pathlib import Path

import numpy as np
import pytest
from embedreg.errors import ConflictError, NotFound, ValidationError
from embedreg.gallery import Gallery, storage
from embedreg.upgrade import apply, finalize, plan, resume, rollback, status


def content_hash(folder: Path) -> str:
    return str(storage.read_manifest(folder)["content_hash"])


def test_plan_lists_the_four_strategies_and_what_is_missing(planted: dict[str, object]) -> None:
    reg, folder = planted["reg"], planted["folder"]
    p = plan(reg, folder, "v2", sample=0)  # type: ignore[arg-type]
    assert [r.strategy for r in p.rows] == [
        "adapt-queries", "forward", "partial", "reembed",
        "adapt-queries:fused", "adapt-queries:cascade",
    ]  # fmt: skip
    adapt, fwd, part, full, fused, cascade = p.rows
    # the planted v1 is a Hub generation never downloaded; the gallery keeps no texts
    assert not fused.available and "not in the local Hugging Face cache" in fused.needs[0]
    assert not cascade.available and "no texts" in cascade.needs[0]
    assert adapt.available and adapt.seconds == 0 and adapt.query_us and adapt.query_us > 0
    assert adapt.quality.value == pytest.approx(reg.adapter("v2-to-v1.affine").figures.retention)  # type: ignore[attr-defined]
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


def test_forward_upgrade_promote_rollback_exactly(planted: dict[str, object]) -> None:
    reg, folder, vecs = planted["reg"], planted["folder"], planted["vecs"]
    before = content_hash(folder)  # type: ignore[arg-type]
    result = apply(reg, folder, "v2", "forward", promote="production")  # type: ignore[arg-type]
    assert result.state == "done" and result.segments == {"v2": 200} and result.mapped == 200
    g = Gallery.load(folder)  # type: ignore[arg-type]
    adapter = reg.adapter("v1-to-v2.affine")  # type: ignore[attr-defined]
    from embedreg.adapters import load_registered_adapter

    fwd = load_registered_adapter(reg, adapter.id).adapter  # type: ignore[arg-type]
    expected = fwd.transform(vecs["v1"][400:405])  # type: ignore[index]
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(g.vectors(planted["ids"][400:405]), expected, atol=1e-5)  # type: ignore[index]
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


def test_finalize_deletes_the_previous_version(planted: dict[str, object]) -> None:
    reg, folder = planted["reg"], planted["folder"]
    old_files = {p.name for p in folder.iterdir() if p.suffix in (".faiss", ".jsonl")}  # type: ignore[attr-defined]
    apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]
    with Gallery.edit(folder) as g:  # type: ignore[arg-type]
        g.remove(["i400"])  # a later save must not delete the kept version's files
    assert old_files <= {p.name for p in folder.iterdir()}  # type: ignore[attr-defined]
    done = finalize(folder)  # type: ignore[arg-type]
    assert done.action == "finalized"
    # the space it freed, in the units the plan uses ("1.5 MB"), not a raw byte count
    assert re.fullmatch(r"version \d+ deleted \(\d+(\.\d)? (B|kB|MB|GB|TB) freed\)", done.notes[0])
    assert not old_files & {p.name for p in folder.iterdir()}  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        rollback(reg, folder)  # type: ignore[arg-type]
    assert Gallery.load(folder).generations == ["v2"]  # type: ignore[arg-type]


def test_rollback_refuses_a_gallery_changed_since_unless_forced(planted: dict[str, object]) -> None:
    reg, folder = planted["reg"], planted["folder"]
    before = content_hash(folder)  # type: ignore[arg-type]
    apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]
    with Gallery.edit(folder) as g:  # type: ignore[arg-type]
        g.remove(["i401"])
    with pytest.raises(ConflictError, match="changed since the upgrade"):
        rollback(reg, folder)  # type: ignore[arg-type]
    rollback(reg, folder, force=True)  # type: ignore[arg-type]
    assert content_hash(folder) == before  # type: ignore[arg-type]


def test_a_crash_before_the_switch_resumes_and_one_after_it_never_switches_twice(
    planted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, folder = planted["reg"], planted["folder"]
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


def test_refusals(planted: dict[str, object], tmp_path: Path) -> None:
    reg, folder = planted["reg"], planted["folder"]
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


def test_require_compatible_refuses_a_path_that_fails_the_criterion(
    planted: dict[str, object],
) -> None:
    from dataclasses import replace

    from embedreg.errors import NoCompatiblePath
    from embedreg.routing import RoutingPolicy

    reg, folder = planted["reg"], planted["folder"]
    back = next(a for a in reg.adapters() if a.source == "v2" and a.target == "v1")  # type: ignore[attr-defined]
    reg.add_adapter(replace(back, figures=replace(back.figures, criterion=False)), replace=True)  # type: ignore[attr-defined]
    lenient = plan(reg, folder, "v2", sample=0)  # type: ignore[arg-type]
    assert lenient.row("adapt-queries").available
    strict = plan(reg, folder, "v2", sample=0, policy=RoutingPolicy(require_compatible=True))  # type: ignore[arg-type]
    needs = strict.row("adapt-queries").needs
    assert not strict.row("adapt-queries").available
    assert any("fails the compatibility criterion" in n for n in needs), needs
    with pytest.raises(NoCompatiblePath, match=r"criterion|failed"):
        apply(reg, folder, "v2", "adapt-queries", policy=RoutingPolicy(require_compatible=True))  # type: ignore[arg-type]
