"""Gallery upgrades as a user runs them, with real models (v1 → v2) on BBC News.

A v1 gallery of 200 documents, and a measured backward (v2 → v1) and
forward (v1 → v2) adapter.  The kill test runs ``embedreg upgrade apply``
in a subprocess, searches the live gallery and tries a second apply while
the job runs, SIGKILLs it mid-way, adds items, resumes, and compares the
result with a gallery built directly with v2; then rolls back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import ConflictError
from embedreg.gallery import Gallery, add_to_gallery, build_gallery, storage
from embedreg.models import Encoder, pin_model
from embedreg.models.processes import free_port
from embedreg.training import train_adapter
from embedreg.upgrade import JobOptions, PartialChoice, apply, status

N_PAIRS, N_DOCS, N_EXTRA = 500, 200, 6
RECIPE: dict[str, Any] = {"pooling": "mean", "normalize": True, "max_tokens": 128}


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cli_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("embedreg")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "embedreg_cli"]


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, v1_dir: Path, v2_dir: Path, bbc_news: Any
) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("upgrade")
    reg = Registry.open(tmp / "registry")
    reg.init()
    v1 = reg.add_generation(pin_model("v1", v1_dir, fingerprint=False, **RECIPE))
    v2 = reg.add_generation(pin_model("v2", v2_dir, parent="v1", fingerprint=False, **RECIPE))
    order = np.random.default_rng(0).permutation(len(bbc_news.texts)).tolist()
    rows = [
        {
            "id": f"bbc-{i}",
            "text": " ".join(bbc_news.texts[i].split())[:240],
            "label": bbc_news.labels[i],
        }
        for i in order[: N_PAIRS + N_DOCS + N_EXTRA + 8]
    ]
    pairs, docs = rows[:N_PAIRS], rows[N_PAIRS : N_PAIRS + N_DOCS]
    extra, queries = rows[N_PAIRS + N_DOCS : -8], rows[-8:]
    e1 = Encoder(v1, device="cpu", batch_size=64)
    e2 = Encoder(v2, device="cpu", batch_size=64)
    texts = [r["text"] for r in pairs]
    train_adapter(
        reg,
        "v2",
        "v1",
        PairedEmbeddings(
            [r["id"] for r in pairs],
            e2.encode(texts),
            e1.encode(texts),
            labels=[r["label"] for r in pairs],
        ),
        family="affine",
        direction="both",
    )
    docs_file = write_jsonl(tmp / "docs.jsonl", [{"id": r["id"], "text": r["text"]} for r in docs])
    extra_file = write_jsonl(
        tmp / "extra.jsonl", [{"id": r["id"], "text": r["text"]} for r in extra]
    )
    write_jsonl(tmp / "all.jsonl", [{"id": r["id"], "text": r["text"]} for r in docs + extra])
    build_gallery(reg, "v1", docs_file, tmp / "pristine", device="cpu", name="pristine")
    qtexts = [r["text"] for r in queries]
    return {
        "tmp": tmp,
        "reg": reg,
        "env": {**os.environ, "EMBEDREG_REGISTRY": str(tmp / "registry")},
        "docs": docs_file,
        "extra": extra_file,
        "q1": e1.encode(qtexts, role="query"),
        "q2": e2.encode(qtexts, role="query"),
    }


def copy_of_pristine(world: dict[str, Any], name: str) -> Path:
    out = world["tmp"] / name
    shutil.copytree(world["tmp"] / "pristine", out)
    return out


def cli(world: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_cmd(), *args], capture_output=True, text=True, env=world["env"], timeout=600
    )


def chunks(folder: Path) -> int:
    path = folder / ".upgrade" / "work" / "chunks"
    return len(list(path.glob("chunk-*.safetensors"))) if path.is_dir() else 0


def same_gallery(a: Gallery, b: Gallery, q: np.ndarray, gen: Any) -> None:
    assert a.ids() == b.ids()
    assert a.generations == b.generations == [gen.name]
    diff = np.abs(a.vectors(a.ids()) - b.vectors(a.ids())).max()
    assert diff <= 1e-5, diff
    assert (
        a.search_vectors(q, k=10, generation=gen).ids
        == b.search_vectors(q, k=10, generation=gen).ids
    )


def test_plan_table_and_json(world: dict[str, Any]) -> None:
    folder = world["tmp"] / "pristine"
    run = cli(world, "upgrade", "plan", str(folder), "--to", "v2", "--sample", "16", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    rows = {r["strategy"]: r for r in data["strategies"]}
    assert sorted(rows) == [
        "adapt-queries",
        "adapt-queries:cascade",
        "adapt-queries:fused",
        "forward",
        "partial",
        "reembed",
    ]
    for name, row in rows.items():
        assert row["available"], (name, row["needs"])
        assert row["seconds"] is not None and row["disk_bytes"] is not None
        assert row["quality"]["value"] is not None and row["quality"]["basis"]
    assert rows["reembed"]["seconds"] > rows["forward"]["seconds"] > 0
    assert rows["adapt-queries"]["seconds"] == 0
    assert rows["reembed"]["quality"]["basis"] == "measured"
    assert rows["partial"]["quality"]["basis"] == "estimate"
    assert data["rates"]["encode"]["sample"] == 16 and data["recommendation"] and data["reason"]
    table = cli(world, "upgrade", "plan", str(folder), "--to", "v2", "--sample", "8")
    assert table.returncode == 0 and table.stdout == "", table.stderr
    for word in ("adapt-queries", "forward", "partial", "reembed", "Recommendation:"):
        assert word in table.stderr


def test_kill_mid_job_then_resume_equals_a_direct_build_and_rollback_is_exact(
    world: dict[str, Any],
) -> None:
    reg, tmp = world["reg"], world["tmp"]
    folder = copy_of_pristine(world, "killed")
    v1, v2 = reg.generation("v1"), reg.generation("v2")
    before = Gallery.load(folder).search_vectors(world["q1"], k=5, generation=v1)
    job = subprocess.Popen(
        [*cli_cmd(), "upgrade", "apply", str(folder), "--to", "v2", "--strategy", "reembed",
         "--chunk-size", "5", "--device", "cpu"],
        env=world["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while chunks(folder) < 3 and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.poll() is None, job.stderr.read() if job.stderr else ""
        # while the job runs, the gallery answers from its current version
        during = Gallery.load(folder).search_vectors(world["q1"], k=5, generation=v1)
        assert during.ids == before.ids and during.scores == before.scores
        with pytest.raises(ConflictError, match="is running"):
            apply(reg, folder, "v2", "reembed")
        assert status(folder).state == "running"
        os.kill(job.pid, signal.SIGKILL)
    finally:
        job.kill()
        job.wait()
    st = status(folder)
    assert st.state == "interrupted" and 0 < st.done < st.total == N_DOCS, st
    assert Gallery.load(folder).generations == ["v1"]
    # items added while the job was down are not lost: the switch embeds them too
    add_to_gallery(reg, folder, world["extra"], device="cpu")
    replaced = storage.read_manifest(folder)["content_hash"]
    shown = cli(world, "upgrade", "status", str(folder))
    assert shown.returncode == 0 and "interrupted" in shown.stderr
    resumed = cli(world, "upgrade", "resume", str(folder), "--device", "cpu", "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["state"] == "done" and result["segments"] == {"v2": N_DOCS + N_EXTRA}
    assert 0 < result["embedded"] < N_DOCS  # only what the kill left

    direct = build_gallery(
        reg, "v2", tmp / "all.jsonl", tmp / "direct", device="cpu", register=False
    )
    same_gallery(Gallery.load(folder), direct, world["q2"], v2)

    back = cli(world, "upgrade", "rollback", str(folder))
    assert back.returncode == 0, back.stderr
    assert storage.read_manifest(folder)["content_hash"] == replaced
    assert (
        Gallery.load(folder).generations == ["v1"] and len(Gallery.load(folder)) == N_DOCS + N_EXTRA
    )


def test_partial_leaves_two_segments_searched_together(world: dict[str, Any]) -> None:
    reg = world["reg"]
    folder = copy_of_pristine(world, "partial")
    v2 = reg.generation("v2")
    result = apply(
        reg,
        folder,
        "v2",
        "partial",
        partial=PartialChoice(fraction=0.5, order="random"),
        job=JobOptions(chunk_size=25, device="cpu"),
    )
    assert result.segments == {"v1": N_DOCS // 2, "v2": N_DOCS // 2}
    g = Gallery.load(folder)
    assert set(g.calibration) == {"v1", "v2"}  # each segment, for the other's queries
    seen: set[str] = set()
    for merge in ("auto", "score", "rrf"):
        hits = g.search_vectors(world["q2"], k=10, generation=v2, registry=reg, merge=merge)
        assert hits.paths["v1"].adapter_ids == ["v2-to-v1.affine"]
        seen |= {s for row in hits.segments for s in row}
        assert all(len(row) == 10 for row in hits.ids)
    assert seen == {"v1", "v2"}
    calibrated = g.search_vectors(world["q2"], k=10, generation=v2, registry=reg)
    both = [set(row) for row in calibrated.segments]
    assert sum(s == {"v1", "v2"} for s in both) >= len(both) // 2, both


def test_two_accelerate_processes_give_the_same_gallery_as_one(world: dict[str, Any]) -> None:
    one, two = copy_of_pristine(world, "one"), copy_of_pristine(world, "two")
    args = ["upgrade", "apply", "--to", "v2", "--strategy", "reembed", "--chunk-size", "20"]
    single = cli(world, *args[:2], str(one), *args[2:], "--device", "cpu")
    assert single.returncode == 0, single.stderr
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), "-m", "embedreg_cli", *args[:2], str(two), *args[2:],
        "--device", "cpu", "--json",
    ]  # fmt: skip
    double = subprocess.run(launch, capture_output=True, text=True, env=world["env"], timeout=600)
    assert double.returncode == 0, double.stderr[-3000:]
    report = json.loads(double.stdout)  # only the main process prints
    assert report["processes"] == 2 and report["state"] == "done"
    a, b = Gallery.load(one), Gallery.load(two)
    same_gallery(a, b, world["q2"], world["reg"].generation("v2"))
    assert a.manifest()["content_hash"] == b.manifest()["content_hash"]


def test_embed_on_two_processes_equals_one(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    from embedreg.data.embeddings import load_embeddings

    common = ["embed", "v2", str(world["docs"]), "--chunk-size", "40", "--device", "cpu"]
    assert cli(world, *common, "-o", str(tmp / "one.safetensors")).returncode == 0
    run = cli(world, *common, "-o", str(tmp / "two.safetensors"), "--num-processes", "2", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["processes"] == 2
    a, b = load_embeddings(tmp / "one.safetensors"), load_embeddings(tmp / "two.safetensors")
    assert a.ids == b.ids and np.abs(a.vectors - b.vectors).max() <= 1e-5
    assert not (tmp / ".two.safetensors.work").exists()


def test_gallery_add_with_gen_starts_a_segment(world: dict[str, Any]) -> None:
    folder = copy_of_pristine(world, "mixed")
    run = cli(world, "gallery", "add", str(folder), str(world["extra"]), "--gen", "v2")
    assert run.returncode == 0, run.stderr
    g = Gallery.load(folder)
    assert {s: seg.count for s, seg in g.segments.items()} == {"v1": N_DOCS, "v2": N_EXTRA}
    hits = g.search_vectors(
        world["q2"],
        k=N_DOCS + N_EXTRA,
        generation=world["reg"].generation("v2"),
        registry=world["reg"],
    )
    assert {s for row in hits.segments for s in row} == {"v1", "v2"}
