"""Killed at every file instant, then every command accepts the state and a rerun succeeds (issue 14).

Each scenario runs its command once to count the file events (files and
folders created, renamed, removed) under the registry and gallery folders,
then, for each event k, starts from the same state again, SIGKILLs the
command right after its k-th event (``tests/crashkit.py``), checks that the
registry and what it points to load and verify, and reruns the command,
which must succeed and leave no temporary file of a dead writer behind.
The generations are Hub repos that are never fetched: the commands read
embeddings files, so no model loads and each run takes a second or two.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from embedreg.adapters import load_registered_adapter
from embedreg.data.embeddings import save_embeddings
from embedreg.data.synthetic import planted_pairs
from embedreg.registry import Generation, HubSource, Recipe, Registry

import crashkit  # type: ignore[import-not-found]

pytestmark = pytest.mark.slow


def make_world(root: Path) -> None:
    """A registry with v1 (16-d) and v2 (24-d, child of v1) and paired embeddings files."""
    reg = Registry.open(root / "reg")
    reg.init()
    reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 16))
    reg.add_generation(Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 24, parent="v1"))
    data = planted_pairs(600, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    for name, side in (("v2", data.source), ("v1", data.target)):
        save_embeddings(
            root / f"{name}.safetensors",
            side,
            generation=reg.generation(name),
            role="query",
            ids=data.ids,
            labels=data.labels,
        )


def registry_accepted(root: Path) -> list[str]:
    """The registry parses and every adapter it lists loads with its sha256 checked."""
    reg = Registry.open(root / "reg")
    ids = [a.id for a in reg.adapters()]
    for adapter_id in ids:
        load_registered_adapter(reg, adapter_id)
    return ids


def kill_everywhere(
    tmp_path: Path,
    args: Callable[[Path], list[str]],
    prepare: Callable[[Path], None],
    accepted: Callable[[Path], object],
    finished: Callable[[Path], object] | None = None,
) -> int:
    """Kill ``embedreg ARGS`` after each of its file events; check the state, rerun, check again."""
    hook = crashkit.hook_dir(tmp_path)
    pristine = tmp_path / "pristine"
    prepare(pristine)
    n = crashkit.events(args, lambda root: shutil.copytree(pristine, root), hook=hook, tmp=tmp_path)
    assert n >= 3
    for k in range(1, n + 1):
        work = tmp_path / f"kill-{k}"
        shutil.copytree(pristine, work)
        killed = crashkit.run(args(work), hook=hook, roots=[work], kill_at=k)
        assert killed.returncode == -9, (k, killed.returncode, killed.stderr)
        accepted(work)  # every command accepts what the kill left
        rerun = crashkit.run(args(work), hook=hook, roots=[work])
        assert rerun.returncode == 0, (k, rerun.stderr)
        (finished or accepted)(work)
        assert crashkit.stale_temps(work / "reg", work / "gal") == [], k
        shutil.rmtree(work)
    return n


def train_args(root: Path, *extra: str) -> list[str]:
    return [
        "--registry", str(root / "reg"), "adapter", "train", "v2", "v1",
        "--pairs", str(root / "v2.safetensors"), str(root / "v1.safetensors"),
        "--family", "affine", *extra,
    ]  # fmt: skip


def test_adapter_train_killed_at_every_instant(tmp_path: Path) -> None:
    def accepted(root: Path) -> None:
        assert registry_accepted(root) in ([], ["v2-to-v1.affine"])

    n = kill_everywhere(tmp_path, train_args, make_world, accepted)
    assert n >= 4


def test_adapter_train_replace_killed_at_every_instant(tmp_path: Path) -> None:
    def prepare(root: Path) -> None:
        make_world(root)
        done = crashkit.run(
            train_args(root, "--heldout", "0.3"), hook=crashkit.hook_dir(tmp_path), roots=[]
        )
        assert done.returncode == 0, done.stderr

    def accepted(root: Path) -> None:
        assert registry_accepted(root) == ["v2-to-v1.affine"]  # the old one or the new one, whole

    kill_everywhere(tmp_path, lambda root: train_args(root, "--replace"), prepare, accepted)


def gallery_world(root: Path) -> None:
    """A registry with v1, and two embeddings files of v1: 40 items, then 20 more."""
    import numpy as np

    reg = Registry.open(root / "reg")
    reg.init()
    reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 16))
    x = np.random.default_rng(0).standard_normal((60, 16)).astype(np.float32)
    ids = [f"item-{i}" for i in range(60)]
    v1 = reg.generation("v1")
    save_embeddings(
        root / "first.safetensors", x[:40], generation=v1, role="document", ids=ids[:40]
    )
    save_embeddings(root / "more.safetensors", x[40:], generation=v1, role="document", ids=ids[40:])


def gallery_accepted(root: Path, counts: tuple[int, ...]) -> None:
    """The registry parses, every registered gallery loads and verifies, and holds a whole state."""
    from embedreg.gallery import Gallery

    reg = Registry.open(root / "reg")
    for record in reg.galleries():  # (a copied registry still points to the first folder)
        if Path(record.location).is_relative_to(root):
            assert len(Gallery.load(record.location)) in counts
    folder = root / "gal"
    if (folder / "gallery.json").exists():
        assert len(Gallery.load(folder)) in counts


def test_gallery_build_killed_at_every_instant(tmp_path: Path) -> None:
    def args(root: Path) -> list[str]:
        return ["--registry", str(root / "reg"), "gallery", "build", "v1",
                str(root / "first.safetensors"), "-o", str(root / "gal")]  # fmt: skip

    def accepted(root: Path) -> None:
        gallery_accepted(root, (40,))

    kill_everywhere(tmp_path, args, gallery_world, accepted)


def test_gallery_add_killed_at_every_instant(tmp_path: Path) -> None:
    def prepare(root: Path) -> None:
        gallery_world(root)
        built = crashkit.run(
            ["--registry", str(root / "reg"), "gallery", "build", "v1",
             str(root / "first.safetensors"), "-o", str(root / "gal")],
            hook=crashkit.hook_dir(tmp_path), roots=[],
        )  # fmt: skip
        assert built.returncode == 0, built.stderr

    def args(root: Path) -> list[str]:
        return ["--registry", str(root / "reg"), "gallery", "add", str(root / "gal"),
                str(root / "more.safetensors")]  # fmt: skip

    def accepted(root: Path) -> None:
        gallery_accepted(root, (40, 60))

    def finished(root: Path) -> None:
        gallery_accepted(root, (60,))

    kill_everywhere(tmp_path, args, prepare, accepted, finished)
