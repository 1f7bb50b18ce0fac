"""``embedreg adapter`` as a user runs it: real processes, registry, safetensors files."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from embedreg import Registry
from embedreg.data.embeddings import save_embeddings
from embedreg.data.synthetic import planted_pairs

Cli = Callable[..., subprocess.CompletedProcess[str]]
V1 = "1" * 40
V2 = "2" * 40


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture
def files(cli: Cli, registry_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    assert cli("init").returncode == 0
    assert (
        cli(
            "gen", "add", "v1", "org/one", "--revision", V1, "--dim", "16", "--no-fingerprint"
        ).returncode
        == 0
    )
    added = cli(
        "gen",
        "add",
        "v2",
        "org/two",
        "--revision",
        V2,
        "--dim",
        "24",
        "--parent",
        "v1",
        "--no-fingerprint",
    )
    assert added.returncode == 0, added.stderr
    reg = Registry.open(registry_dir)
    pairs = planted_pairs(600, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    new, old = tmp_path / "v2.safetensors", tmp_path / "v1.safetensors"
    save_embeddings(
        new,
        pairs.source,
        generation=reg.generation("v2"),
        role="query",
        ids=pairs.ids,
        labels=pairs.labels,
    )
    save_embeddings(
        old,
        pairs.target,
        generation=reg.generation("v1"),
        role="query",
        ids=pairs.ids,
        labels=pairs.labels,
    )
    return new, old


def test_train_list_show_eval_rm(cli: Cli, files, registry_dir: Path) -> None:
    new, old = files
    trained = cli(
        "adapter",
        "train",
        "v2",
        "v1",
        "--pairs",
        str(new),
        str(old),
        "--family",
        "lambda-orth",
        "--device",
        "cpu",
        "--epochs",
        "3",
        "-o",
        "lam=2.5",
        "--json",
    )
    assert trained.returncode == 0, trained.stderr
    (rec,) = json.loads(trained.stdout)
    assert rec["id"] == "v2-to-v1.lambda-orth" and rec["direction"] == "backward"
    assert rec["figures"]["lambda"] == 2.5 and rec["figures"]["defect"] <= 2.5
    assert "Registered adapter v2-to-v1.lambda-orth" in trained.stderr

    listed = json.loads(cli("adapter", "list", "--json").stdout)
    assert [a["id"] for a in listed] == ["v2-to-v1.lambda-orth"]
    table = cli("adapter", "list")
    assert "v2-to-v1.lambda-orth" in table.stderr and table.stdout == ""
    shown = json.loads(cli("adapter", "show", "v2-to-v1.lambda-orth", "--json").stdout)
    assert shown["provenance"]["source"]["pin"] == f"org/two@{V2}"
    assert shown["provenance"]["hyperparameters"]["lam"] == 2.5

    evaluated = cli(
        "adapter", "eval", "v2-to-v1.lambda-orth", "--pairs", str(new), str(old), "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    figs = json.loads(evaluated.stdout)["figures"]
    assert figs["heldout"] == 600 and 0 <= figs["recall@1"] <= 1

    removed = cli("adapter", "rm", "v2-to-v1.lambda-orth")
    assert removed.returncode == 0 and not list(
        (registry_dir / "artifacts" / "adapters").glob("v2-to-v1.lambda-orth*")
    )
    assert json.loads(cli("adapter", "list", "--json").stdout) == []


def test_auto_is_the_default_and_show_lists_its_candidates(cli: Cli, files) -> None:
    new, old = files
    pairs = ("--pairs", str(new), str(old), "--device", "cpu")
    trained = cli("adapter", "train", "v2", "v1", *pairs, "-o", "families=procrustes,affine")
    assert trained.returncode == 0, trained.stderr
    shown = cli("adapter", "show", "v2-to-v1.auto")
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stderr.splitlines() if "procrustes" in line or "affine" in line]
    assert "Δ BEST, 95%" in shown.stderr and "(chosen by auto)" in shown.stderr
    assert sum("✓" in r for r in rows) == 1, shown.stderr  # exactly one chosen candidate
    data = json.loads(cli("adapter", "show", "v2-to-v1.auto", "--json").stdout)
    selection = data["provenance"]["selection"]
    assert {c["family"] for c in selection["candidates"]} == {"procrustes", "affine"}
    assert data["family"] == next(
        c["family"] for c in selection["candidates"] if c["label"] == selection["chosen"]
    )


def test_both_directions_and_compare(cli: Cli, files) -> None:
    new, old = files
    both = cli(
        "adapter",
        "train",
        "v2",
        "v1",
        "--pairs",
        str(new),
        str(old),
        "--family",
        "affine",
        "--direction",
        "both",
        "--json",
    )
    assert both.returncode == 0, both.stderr
    assert [r["id"] for r in json.loads(both.stdout)] == ["v2-to-v1.affine", "v1-to-v2.affine"]
    compared = cli(
        "adapter",
        "compare",
        "v2",
        "v1",
        "--pairs",
        str(new),
        str(old),
        "--families",
        "procrustes,affine,lambda-orth",
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--json",
    )
    assert compared.returncode == 0, compared.stderr
    rows = json.loads(compared.stdout)
    assert [r["family"] for r in rows] == ["procrustes", "affine", "lambda-orth"]
    assert all(r["error"] is None and r["figures"]["heldout"] == 120 for r in rows)
    table = cli(
        "adapter",
        "compare",
        "v2",
        "v1",
        "--pairs",
        str(new),
        str(old),
        "--families",
        "identity,procrustes",
    )
    assert table.returncode == 0, table.stderr
    assert "procrustes" in table.stderr and "identity: not applicable" in table.stderr


def test_errors_are_one_line(cli: Cli, files, registry_dir: Path) -> None:
    new, old = files
    swapped = one_line_error(cli("adapter", "train", "v2", "v1", "--pairs", str(old), str(new)))
    assert "made by generation 'v1'" in swapped
    assert (
        cli(
            "adapter", "train", "v2", "v1", "--pairs", str(new), str(old), "--family", "procrustes"
        ).returncode
        == 0
    )
    again = cli(
        "adapter", "train", "v2", "v1", "--pairs", str(new), str(old), "--family", "procrustes"
    )
    assert again.returncode == 0 and "registered already, from the same data" in again.stderr
    dup = one_line_error(
        cli(
            "adapter",
            "train",
            "v2",
            "v1",
            "--pairs",
            str(new),
            str(old),
            "--family",
            "procrustes",
            "--heldout",
            "0.3",
        )
    )
    assert "already taken" in dup and "--replace" in dup
    (folder,) = (registry_dir / "artifacts" / "adapters").glob("v2-to-v1.procrustes@*")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    tampered = one_line_error(
        cli("adapter", "eval", "v2-to-v1.procrustes", "--pairs", str(new), str(old))
    )
    assert "failed verification" in tampered
    unknown = one_line_error(cli("adapter", "show", "nope"))
    assert "unknown adapter 'nope'" in unknown and "did you mean" not in unknown
    typo = one_line_error(cli("adapter", "show", "v2-to-v1.procrustse"))
    assert "did you mean 'v2-to-v1.procrustes'?" in typo
    pairs = ["--pairs", str(new), str(old), "--family", "lambda-orth"]
    auto_option = one_line_error(
        cli("adapter", "train", "v2", "v1", "--pairs", str(new), str(old), "-o", "lam=1")
    )
    assert "unknown option 'lam' for adapter family 'auto'" in auto_option
    both = one_line_error(
        cli("adapter", "train", "v2", "v1", *pairs, "-o", "lam=1", "-o", "lam_per_dim=1")
    )
    assert "both absolutely (lam) and per dimension" in both
    unknown_option = one_line_error(
        cli("adapter", "train", "v2", "v1", *pairs[:3], "--family", "affine", "-o", "rank=4")
    )
    assert "unknown option 'rank' for adapter family 'affine' (known: ridge)" in unknown_option
    typo_option = one_line_error(
        cli("adapter", "train", "v2", "v1", *pairs[:3], "--family", "affine", "-o", "rigde=1")
    )
    assert "did you mean 'ridge'?" in typo_option
    bad_value = one_line_error(cli("adapter", "train", "v2", "v1", *pairs, "-o", "lam=big"))
    assert "lam='big'" in bad_value and "not a number" in bad_value
    unknown_family = one_line_error(
        cli("adapter", "train", "v2", "v1", *pairs[:3], "--family", "x")
    )
    assert (
        "no adapter family plugin named 'x'" in unknown_family and "lambda-orth" in unknown_family
    )
    malformed = cli("adapter", "train", "v2", "v1", *pairs, "-o", "lam")
    assert malformed.returncode == 2 and "KEY=VALUE" in malformed.stderr
    neither = cli("adapter", "train", "v2", "v1")
    assert neither.returncode == 2 and "--pairs" in neither.stderr
    # issue 14 #15: the wrong order is refused before the texts are embedded (the generations
    # are Hub repos that cannot be fetched here: embedding first would fail another way)
    texts = registry_dir.parent / "t.txt"
    texts.write_text("a\nb\n")
    backwards = one_line_error(cli("adapter", "train", "v1", "v2", "--texts", str(texts)))
    assert "'v1' is an ancestor of 'v2'" in backwards
    assert json.loads(cli("adapter", "list", "--json").stdout)[0]["id"] == "v2-to-v1.procrustes"
