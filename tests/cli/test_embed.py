"""``embedreg embed``: real models, real BBC News documents, real embeddings files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.data.embeddings import load_embeddings
from embedreg.errors import GenerationMismatch
from embedreg.models import Encoder


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
def test_embed_500_bbc_documents_with_v2(
    cli: Any, registry_dir: Path, tmp_path: Path, v2_dir: Path, bbc_news: Any
) -> None:
    """Acceptance: 500 BBC News documents → 500 x 384 vectors whose metadata pins v2."""
    assert cli("init").returncode == 0
    added = cli("gen", "add", "v2", str(v2_dir))
    assert added.returncode == 0, added.stderr
    docs = [one_line(t) for t in bbc_news.texts[::4][:500]]
    (tmp_path / "docs.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    run = cli("embed", "v2", "docs.txt", "-o", "e.safetensors", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["count"], summary["dimension"], summary["generation"]) == (500, 384, "v2")
    assert "items/s" in run.stderr

    v2 = Registry.open(registry_dir).generation("v2")
    emb = load_embeddings(tmp_path / "e.safetensors", generation=v2)
    assert emb.vectors.shape == (500, 384) and emb.vectors.dtype == np.float32
    assert (emb.meta.generation, emb.meta.pin, emb.meta.recipe_hash) == (
        "v2",
        v2.pin,
        v2.recipe.hash,
    )
    assert emb.meta.role == "document" and emb.ids == [str(i) for i in range(1, 501)]
    # the file holds what the encoder gives for those documents, in input order
    sample = [0, 137, 499]
    direct = Encoder(v2, device="cpu").encode([docs[i] for i in sample])
    np.testing.assert_allclose(emb.vectors[sample], direct, atol=1e-4)


def test_embed_jsonl_queries_with_labels(
    cli: Any, registry_dir: Path, tmp_path: Path, v1_dir: Path, bbc_news: Any
) -> None:
    cli("init")
    flags = ["--pooling", "mean", "--normalize", "--max-tokens", "128", "--no-fingerprint"]
    assert cli("gen", "add", "v1", str(v1_dir), *flags).returncode == 0
    lines = [
        json.dumps({"text": one_line(t)[:200], "id": i, "label": lab})
        for i, t, lab in zip(
            bbc_news.ids[:40], bbc_news.texts[:40], bbc_news.labels[:40], strict=True
        )
    ]
    (tmp_path / "q.jsonl").write_text("\n".join(lines) + "\n")
    run = cli(
        "embed",
        "v1",
        "q.jsonl",
        "-o",
        "out/q.safetensors",
        "--role",
        "query",
        "--shard-rows",
        "16",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    emb = load_embeddings(tmp_path / "out" / "q.safetensors")
    assert (tmp_path / "out" / "q.safetensors" / "index.json").is_file()  # 40 rows, 3 shards
    assert emb.meta.role == "query" and emb.vectors.shape == (40, 384)
    assert emb.ids == bbc_news.ids[:40] and emb.labels == bbc_news.labels[:40]


def test_embed_errors_are_one_line(
    cli: Any, registry_dir: Path, tmp_path: Path, v1_dir: Path
) -> None:
    cli("init")
    cli("gen", "add", "v1", str(v1_dir), "--max-tokens", "128", "--no-fingerprint")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    run = cli("embed", "v1", str(bad), "-o", str(tmp_path / "e.safetensors"))
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"Error: {bad}, line 2: missing field 'text'; fix the input file and run again"
    )
    assert not (tmp_path / "e.safetensors").exists()
    unknown = cli("embed", "v9", str(bad), "-o", str(tmp_path / "e.safetensors"))
    assert unknown.returncode == 1 and "unknown generation 'v9'" in unknown.stderr


@pytest.mark.slow
def test_v3_file_read_as_v2_is_refused(
    cli: Any, registry_dir: Path, tmp_path: Path, v2_dir: Path, v3_dir: Path
) -> None:
    """Acceptance: a v3 embeddings file read as v2 is refused, naming both generations."""
    cli("init")
    assert cli("gen", "add", "v2", str(v2_dir), "--no-fingerprint").returncode == 0
    assert (
        cli("gen", "add", "v3", str(v3_dir), "--parent", "v2", "--no-fingerprint").returncode == 0
    )
    (tmp_path / "few.txt").write_text("A man is eating food.\nStocks fell sharply.\n")
    run = cli("embed", "v3", "few.txt", "-o", "v3.safetensors", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    reg = Registry.open(registry_dir)
    assert load_embeddings(
        tmp_path / "v3.safetensors", generation=reg.generation("v3")
    ).vectors.shape == (2, 768)
    with pytest.raises(GenerationMismatch) as info:
        load_embeddings(tmp_path / "v3.safetensors", generation=reg.generation("v2"))
    message = str(info.value)
    assert "generation 'v3'" in message and "not by 'v2'" in message


def test_embed_never_overwrites_unasked_and_checks_inputs_before_loading(
    cli: Any, registry_dir: Path, tmp_path: Path
) -> None:
    """Issue 14 #1 and #15: these refusals come before any model loads.

    The generation is a Hub repo that cannot be fetched here, so a refusal that
    came after loading would be a model-load error instead of these.
    """
    cli("init")
    hub = ["org/none", "--revision", "0" * 40, "--dim", "8", "--no-fingerprint"]
    assert cli("gen", "add", "v9", *hub).returncode == 0
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "keep me"}\n')
    kept = corpus.read_bytes()

    def error(*args: str) -> str:
        run = cli("embed", "v9", *args)
        assert run.returncode == 1, run
        (line,) = run.stderr.strip().splitlines()
        return line

    assert "is the input file" in error(str(corpus), "-o", str(corpus))
    assert "is the input file" in error(str(corpus), "-o", str(corpus), "--force")
    assert corpus.read_bytes() == kept
    taken = tmp_path / "taken.safetensors"
    taken.write_bytes(b"someone's file")
    assert "exists; choose another path, or pass --force" in error(str(corpus), "-o", str(taken))
    assert taken.read_bytes() == b"someone's file"
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty.txt: holds no items" in error(str(empty), "-o", str(tmp_path / "x.st"))
    odd = tmp_path / "docs.md"
    odd.write_text("# hello\n")
    assert "unsupported input type '.md'" in error(str(odd), "-o", str(tmp_path / "x.st"))


def test_embed_force_replaces_its_own_output(
    cli: Any, registry_dir: Path, tmp_path: Path, v1_dir: Path
) -> None:
    cli("init")
    cli("gen", "add", "v1", str(v1_dir), "--max-tokens", "32", "--no-fingerprint")
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.txt").write_text("three\n")
    out = tmp_path / "e.safetensors"
    assert cli("embed", "v1", str(tmp_path / "a.txt"), "-o", str(out)).returncode == 0
    assert cli("embed", "v1", str(tmp_path / "b.txt"), "-o", str(out)).returncode == 1
    assert load_embeddings(out).vectors.shape[0] == 2
    assert cli("embed", "v1", str(tmp_path / "b.txt"), "-o", str(out), "--force").returncode == 0
    assert load_embeddings(out).vectors.shape[0] == 1
