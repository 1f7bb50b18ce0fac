"""Issue 26: `upgrade rollback` and `upgrade finalize` killed after each of their file events.

After every kill, ``upgrade status`` must tell the truth (the upgrade still
applied, a rollback/finalize under way, or none left), the gallery must load
verified, and running the command again must finish the job with no file of
either version left that no manifest names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from embedreg import Registry
from embedreg.gallery import Gallery, storage
from embedreg.upgrade import apply, status

import crashkit  # type: ignore[import-not-found]
from planted import planted_world  # type: ignore[import-not-found]

pytestmark = pytest.mark.slow


def _prepared(root: Path) -> tuple[Path, str, str]:
    """A planted world whose gallery was upgraded to v2 (promoted): (folder, old hash, new hash)."""
    world = planted_world(root)
    folder = world["folder"]
    assert isinstance(folder, Path)
    before = str(Gallery.load(folder).manifest()["content_hash"])
    apply(world["reg"], folder, "v2", "forward", promote="production")  # type: ignore[arg-type]
    return folder, before, str(Gallery.load(folder).manifest()["content_hash"])


def _orphans(folder: Path) -> set[str]:
    manifest = storage.read_manifest(folder)
    named = {manifest["items_file"], *(s["index_file"] for s in manifest["segments"].values())}
    kept = {p.name for p in folder.iterdir() if p.suffix in (".faiss", ".jsonl")}
    retained = folder / ".retained"
    for extra in retained.glob("*.json") if retained.is_dir() else []:
        m = json.loads(extra.read_text())
        named |= {m["items_file"], *(s["index_file"] for s in m["segments"].values())}
    return kept - named


def _kill_everywhere(
    tmp_path: Path, command: str, truthful: Callable[[Path, str, str, str], None]
) -> int:
    hook = crashkit.hook_dir(tmp_path)

    def args(root: Path) -> list[str]:
        return ["--registry", str(root / "reg"), "upgrade", command, str(root / "gallery")]

    n = crashkit.events(args, _prepared, hook=hook, tmp=tmp_path)
    assert n >= 3
    for k in range(1, n + 1):
        work = tmp_path / f"kill-{k}"
        folder, before, after = _prepared(work)
        killed = crashkit.run(args(work), hook=hook, roots=[work], kill_at=k)
        assert killed.returncode == -9, (k, killed.stderr)
        Gallery.load(folder)  # verified: a whole version, whichever
        st = status(folder)
        truthful(folder, st.state, before, after)
        shown = crashkit.run(["upgrade", "status", str(folder)], hook=hook, roots=[])
        assert shown.returncode == 0 and "internal error" not in shown.stderr, (k, shown.stderr)
        rerun = crashkit.run(args(work), hook=hook, roots=[work])
        if st.state == "none":  # the kill came after the journal went: nothing left to do
            assert rerun.returncode == 1 and "no upgrade" in rerun.stderr, (k, rerun.stderr)
        else:
            assert rerun.returncode == 0, (k, rerun.stderr)
        assert status(folder).state == "none", k
        assert _orphans(folder) == set(), k
        assert crashkit.stale_temps(work / "reg", folder) == [], k
        reg = Registry.open(work / "reg")
        if command == "rollback":
            assert Gallery.load(folder).manifest()["content_hash"] == before, k
            assert reg.aliases()["production"] == "v1", k
            assert reg.gallery("g").generation == "v1", k
        else:
            assert Gallery.load(folder).manifest()["content_hash"] == after, k
            assert reg.gallery("g").generation == "v2", k
    return n


def test_rollback_killed_at_every_instant(tmp_path: Path) -> None:
    def truthful(folder: Path, state: str, before: str, after: str) -> None:
        live = Gallery.load(folder).manifest()["content_hash"]
        if state == "done":  # nothing committed yet: the upgrade is still what is live
            assert live == after
        else:
            assert state in ("rolling-back", "none"), state
            if state == "none":
                assert live == before

    assert _kill_everywhere(tmp_path, "rollback", truthful) >= 3


def test_finalize_killed_at_every_instant(tmp_path: Path) -> None:
    def truthful(folder: Path, state: str, before: str, after: str) -> None:
        assert Gallery.load(folder).manifest()["content_hash"] == after
        assert state in ("done", "finalizing", "none"), state
        if state == "done":  # nothing deleted yet: the kept version is whole
            retained = json.loads((folder / ".retained" / "previous.json").read_text())
            for name in (
                retained["items_file"],
                *(s["index_file"] for s in retained["segments"].values()),
            ):
                assert (folder / name).is_file(), name

    assert _kill_everywhere(tmp_path, "finalize", truthful) >= 3
