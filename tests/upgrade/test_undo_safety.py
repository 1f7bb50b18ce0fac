"""Issue 26 #12, #13: after a killed rollback or finalize, status tells the truth; a rerun finishes.

The kills here are exceptions raised at one chosen step (fast); tests/cli/test_crash_upgrade.py
kills real processes after every file event.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from embedreg.gallery import Gallery
from embedreg.upgrade import apply, finalize, rollback, status
from embedreg.upgrade import history as history_module


class Killed(BaseException):
    """Stands for a SIGKILL at one step (BaseException: nothing catches it)."""


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".faiss", ".jsonl")}


def _named(folder: Path) -> set[str]:
    from embedreg.gallery import storage

    manifest = storage.read_manifest(folder)
    names = {manifest["items_file"]}
    names |= {s["index_file"] for s in manifest["segments"].values()}
    return names


def test_a_rollback_killed_after_the_manifest_was_restored(
    planted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, folder = planted["reg"], planted["folder"]
    assert isinstance(folder, Path)
    before = Gallery.load(folder).manifest()["content_hash"]
    apply(reg, folder, "v2", "forward", promote="production")  # type: ignore[arg-type]

    def kill(*_: object, **__: object) -> None:
        raise Killed

    monkeypatch.setattr(history_module.retention, "release", kill)
    with pytest.raises(Killed):
        rollback(reg, folder)  # type: ignore[arg-type]
    monkeypatch.undo()
    st = status(folder)
    assert st.state == "rolling-back" and "was interrupted" in st.message
    assert "switched to version" not in st.message
    back = rollback(reg, folder)  # type: ignore[arg-type]
    assert back.action == "restored" and "interrupted rollback was finished" in back.notes[0]
    assert Gallery.load(folder).manifest()["content_hash"] == before
    assert _files(folder) == _named(folder)  # the upgrade's version left no orphans
    assert status(folder).state == "none"
    assert reg.aliases()["production"] == "v1" and reg.gallery("g").generation == "v1"  # type: ignore[attr-defined]


def test_a_finalize_killed_before_its_journal_went(
    planted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, folder = planted["reg"], planted["folder"]
    assert isinstance(folder, Path)
    old = _files(folder)
    apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]

    def kill(*_: object, **__: object) -> None:
        raise Killed

    monkeypatch.setattr(history_module.storage, "remove_stale", kill)
    with pytest.raises(Killed):
        finalize(folder)
    monkeypatch.undo()
    st = status(folder)
    assert st.state == "finalizing" and "upgrade finalize" in st.message
    with pytest.raises(Exception, match="finalize"):
        rollback(reg, folder)  # type: ignore[arg-type]
    done = finalize(folder)
    assert done.action == "finalized"
    assert not old & _files(folder) and _files(folder) == _named(folder)
    assert status(folder).state == "none"


def test_rollback_after_the_target_generation_was_removed_says_what_it_restored(
    planted: dict[str, object],
) -> None:
    """#13: apply --promote, gen rm --force, rollback: the record and alias come back, or it says why."""
    reg, folder = planted["reg"], planted["folder"]
    apply(reg, folder, "v2", "forward", promote="production")  # type: ignore[arg-type]
    removal = reg.remove_generation("v2", force=True)  # type: ignore[attr-defined]
    assert removal.galleries == ["g"] and "production" in removal.aliases
    back = rollback(reg, folder, force=True)  # type: ignore[arg-type]
    assert back.action == "restored"
    assert any("registered again" in n for n in back.notes), back.notes
    assert any("'production' → v1 again" in n for n in back.notes), back.notes
    assert reg.gallery("g").generation == "v1" and reg.aliases()["production"] == "v1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: [],
        lambda d: {**d, "counts": []},
        lambda d: {**d, "restore": "x"},
        lambda d: {**d, "base_version": "2"},
        lambda d: {**d, "state": 5},
        lambda d: {**d, "target": {"name": "v2"}},
    ],
)
def test_a_tampered_journal_is_one_typed_error(planted: dict[str, object], edit: object) -> None:
    """Every field read from job.json is type-checked: status, rollback, finalize say it is damaged."""
    import json

    from embedreg.errors import GalleryError

    reg, folder = planted["reg"], planted["folder"]
    assert isinstance(folder, Path)
    apply(reg, folder, "v2", "forward")  # type: ignore[arg-type]
    path = folder / ".upgrade" / "job.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))  # type: ignore[operator]
    for command in (
        lambda: status(folder),
        lambda: rollback(reg, folder),
        lambda: finalize(folder),
    ):  # type: ignore[arg-type]
        with pytest.raises(GalleryError, match=r"upgrade journal .* is damaged"):
            command()
