"""``embedreg eval``, ``embedreg compatible`` and ``--require-compatible`` as a user runs them.

Real models (v1, v2, v2-cls over 500 BBC News documents, from the session's
small chain), real FAISS galleries, real PNG files, matplotlib present and
hidden.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


def one_line_error(result: Any) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, small_chain) -> dict[str, Any]:
    """The small chain with adapters v2 → v1 (affine) and v2-cls → v2 (Procrustes), a v1 gallery.

    Set up through the library (what ``adapter train --texts`` and ``gallery
    build`` run, tested elsewhere), from the session's cached embeddings.
    """
    from embedreg import Registry
    from embedreg.gallery import build_gallery
    from embedreg.training import train_adapter, training_pairs

    tmp = tmp_path_factory.mktemp("eval-cli")
    reg = Registry.open(small_chain.copy(tmp / "registry"))
    for new, old, family in (("v2", "v1", "affine"), ("v2-cls", "v2", "procrustes")):
        pairs = training_pairs(reg, new, old, texts=small_chain.inputs)
        train_adapter(reg, new, old, pairs, family=family)
    lines = small_chain.inputs.read_text(encoding="utf-8").splitlines()
    (tmp / "gallery.jsonl").write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    build_gallery(reg, "v1", tmp / "gallery.jsonl", tmp / "news", device="cpu")
    return {
        "tmp": tmp,
        "env": {"EMBEDREG_REGISTRY": str(tmp / "registry")},
        "inputs": str(small_chain.inputs),
    }


@pytest.fixture
def cli(world: dict[str, Any]) -> Any:
    from conftest import run_cli  # type: ignore[import-not-found]

    return lambda *args, env=None: run_cli(*args, env={**world["env"], **(env or {})})


def test_matrix_over_three_generations(cli: Any, world: dict[str, Any]) -> None:
    plot = world["tmp"] / "matrix.png"
    run = cli(
        "eval",
        "matrix",
        "v1",
        "v2",
        "v2-cls",
        "--texts",
        world["inputs"],
        "--json",
        "--plot",
        str(plot),
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    matrix = data["matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    for t in range(3):
        for j in range(3):
            assert (matrix[t][j] is None) == (j > t)  # lower-triangular, every pair has a path
    assert data["generations"] == ["v1", "v2", "v2-cls"] and data["metric"] == "cmc@1"
    assert 0.0 <= data["ac"] <= 1.0 and 0.5 < data["am"] < 1.0
    assert data["paths"][2][0] == ["v2-cls-to-v2.procrustes", "v2-to-v1.affine"]
    blob = plot.read_bytes()
    assert blob.startswith(PNG) and len(blob) > 5000
    from matplotlib import image

    assert image.imread(str(plot)).shape[2] in (3, 4)  # a real image, not only a header
    human = cli("eval", "matrix", "v1", "v2", "v2-cls", "--texts", world["inputs"])
    assert human.returncode == 0 and human.stdout == ""
    assert "AC " in human.stderr and "AM " in human.stderr and "v2-cls" in human.stderr
    # cells through a fused path or a cascade say so (the JSON names every cell's kind)
    names = data["generations"]
    through = [
        f"{names[t]} → {names[j]}: through {kind}"
        for t, row in enumerate(data["kinds"])
        for j, kind in enumerate(row)
        if kind and kind != "map"
    ]
    assert through and all(line in human.stderr for line in through), human.stderr


def test_matrix_without_matplotlib_still_gives_json_and_says_how_to_plot(
    cli: Any, world: dict[str, Any]
) -> None:
    hide = world["tmp"] / "hide-matplotlib"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['matplotlib'] = None\n")
    env = {"PYTHONPATH": str(hide)}
    run = cli(
        "eval", "matrix", "v1", "v2", "--texts", world["inputs"], "--json", "--paths", "map",
        env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert len(data["matrix"]) == 2 and data["kinds"] == [[None, None], ["map", None]]
    assert "pip install 'embedreg[plots]'" in run.stderr
    line = one_line_error(
        cli("eval", "matrix", "v1", "v2", "--texts", world["inputs"], "--plot", "m.png", env=env)
    )
    assert "matplotlib" in line and "embedreg[plots]" in line
    out = world["tmp"] / "report-noplots"
    run = cli(
        "eval", "report", "v2-to-v1.affine", "--texts", world["inputs"], "-o", str(out), env=env
    )
    assert run.returncode == 0, run.stderr
    assert not list(out.glob("*.png")) and "embedreg[plots]" in (out / "report.html").read_text()


def test_backfill(cli: Any, world: dict[str, Any]) -> None:
    plot = world["tmp"] / "backfill.png"
    run = cli(
        "eval",
        "backfill",
        "v1",
        "v2",
        "--texts",
        world["inputs"],
        "--steps",
        "5",
        "--order",
        "worst-first",
        "--json",
        "--plot",
        str(plot),
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["betas"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and data["via"] == ["v2-to-v1.affine"]
    assert set(data["curves"]) == {"random", "worst-first"}
    assert data["gains"]["worst-first"] == pytest.approx(
        data["areas"]["worst-first"] - data["areas"]["random"]
    )
    assert plot.read_bytes().startswith(PNG)
    table = cli("eval", "backfill", "v1", "v2", "--texts", world["inputs"], "--steps", "2").stderr
    assert "queries; the rest searched through the map v2-to-v1.affine" in table
    line = one_line_error(
        cli("eval", "backfill", "v1", "v2", "--texts", world["inputs"], "--rest", "forward")
    )
    assert "'v1' to 'v2'" in line and "--direction forward" in line


def test_report(cli: Any, world: dict[str, Any]) -> None:
    out = world["tmp"] / "report"
    run = cli(
        "eval",
        "report",
        "v2-to-v1.affine",
        "--texts",
        world["inputs"],
        "--chain",
        "v1,v2,v2-cls",
        "-o",
        str(out),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["images"] == ["cmc.png", "backfill.png", "matrix.png"]
    assert Path(data["html"]).is_file() and Path(data["markdown"]).is_file()
    assert data["matrix"]["generations"] == ["v1", "v2", "v2-cls"]
    again = one_line_error(
        cli("eval", "report", "v2-to-v1.affine", "--texts", world["inputs"], "-o", str(out))
    )
    assert "exists already" in again and "--overwrite" in again
    usage = cli("eval", "report", "v2-to-v1.affine", "-o", str(out))
    assert usage.returncode == 2 and "--texts" in usage.stderr


def test_compatible_lists_galleries_and_generations(cli: Any, world: dict[str, Any]) -> None:
    run = cli("compatible", "v2-cls", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    (news,) = data["galleries"]
    assert news["name"] == "news" and news["generation"] == "v1"
    assert Path(news["folder"]) == (world["tmp"] / "news").resolve()
    assert news["adapters"] == ["v2-cls-to-v2.procrustes", "v2-to-v1.affine"]
    assert news["basis"] == "cmc@1" and news["criterion"] == "fail"  # see the next test
    assert news["interval"] and 0 < news["quality"] <= 1
    assert [g["generation"] for g in data["generations"]] == ["v2-cls", "v2", "v1"]
    human = cli("compatible", "v2-cls")
    assert (
        human.returncode == 0 and "news" in human.stderr and "generations reachable" in human.stderr
    )


def test_require_compatible_on_resolve_and_search(cli: Any, world: dict[str, Any]) -> None:
    # CLS-pooled queries through an orthogonal map do far worse on mean-pooled v2 than v2's
    # own queries (CMC@1 about 0.5 against 0.85 here): the map fails the criterion, and says so
    # (a fused or cascade path passes: --paths any, the default, takes one)
    best = json.loads(cli("resolve", "v2-cls", "v2", "--json").stdout)
    assert best["criterion"] == "pass" and best["kind"] != "map", best
    path = json.loads(cli("resolve", "v2-cls", "v2", "--json", "--paths", "map").stdout)
    assert path["criterion"] == "fail" and path["compatible"] is False and path["warning"]
    assert path["hops"][0]["criterion"] is False and path["basis"] == "cmc@1"
    human = cli("resolve", "v2-cls", "v2", "--paths", "map")
    assert human.returncode == 0 and "Warning: path v2-cls → v2" in human.stderr
    assert "criterion FAIL" in human.stderr
    line = one_line_error(cli("resolve", "v2-cls", "v2", "--require-compatible", "--paths", "map"))
    assert "compatibility is required" in line and "v2-cls-to-v2.procrustes failed it" in line
    news = str(world["tmp"] / "news")
    loose = cli(
        "gallery",
        "search",
        news,
        "--gen",
        "v2-cls",
        "interest rates rise",
        "--json",
        "--paths",
        "map",
    )
    assert loose.returncode == 0, loose.stderr
    found = json.loads(loose.stdout)
    assert found["warnings"] and found["paths"]["v1"]["criterion"] == "fail"
    assert "Warning: path v2-cls → v1" in loose.stderr
    strict = cli(
        "gallery",
        "search",
        news,
        "--gen",
        "v2-cls",
        "rates",
        "--require-compatible",
        "--paths",
        "map",
    )
    assert "compatibility is required" in one_line_error(strict)


def test_judged_queries_give_ndcg_retention(cli: Any, world: dict[str, Any], bbc_news) -> None:
    """BEIR files: 30 queries (openings of documents outside the corpus), same-topic items relevant."""
    tmp = world["tmp"]
    rows = [json.loads(line) for line in Path(world["inputs"]).read_text().splitlines()]
    inside = {row["id"] for row in rows}
    corpus = rows[:120]
    outside = [i for i, ident in enumerate(bbc_news.ids) if ident not in inside][:30]
    with open(tmp / "queries.jsonl", "w", encoding="utf-8") as fh:
        for i in outside:
            text = " ".join(bbc_news.texts[i].split())[:120]
            fh.write(json.dumps({"_id": f"q{i}", "text": text}) + "\n")
    with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for row in corpus:
            fh.write(json.dumps({"_id": row["id"], "title": "", "text": row["text"]}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    for i in outside:
        lines += [f"q{i}\t{r['id']}\t1" for r in corpus if r["label"] == bbc_news.labels[i]]
    (tmp / "qrels.tsv").write_text("\n".join(lines) + "\n")
    judged = [
        "--qrels",
        str(tmp / "qrels.tsv"),
        "--queries",
        str(tmp / "queries.jsonl"),
        "--corpus",
        str(tmp / "corpus.jsonl"),
    ]
    run = cli("eval", "matrix", "v1", "v2", *judged, "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["metric"] == "ndcg@10" and data["queries"] == 30
    assert all(0 < v <= 1 for row in data["matrix"] for v in row if v is not None)
    out = tmp / "judged-report"
    run = cli("eval", "report", "v2-to-v1.affine", *judged, "-o", str(out), "--json")
    assert run.returncode == 0, run.stderr
    figs = json.loads(run.stdout)["figures"]
    assert figs["retention.basis"] == "ndcg@10" and figs["queries"] == 30
    assert figs["retention"] == pytest.approx(figs["ndcg@10"] / figs["target.ndcg@10"])
    assert "recall@10.retention" in figs and isinstance(figs["criterion"], bool)
    assert (out / "backfill.png").is_file() and "nDCG@10" in (out / "report.md").read_text()
    usage = cli("eval", "matrix", "v1", "v2", "--qrels", str(tmp / "qrels.tsv"))
    assert usage.returncode == 2 and "--queries and --corpus" in usage.stderr
