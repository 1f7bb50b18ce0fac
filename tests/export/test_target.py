"""What an export may carry, refused before any model loads; the output folder's rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from embedreg import Registry
from embedreg.errors import (
    ExportExists,
    ExportRefused,
    NoCompatiblePath,
    UnknownAdapter,
    ValidationError,
)
from embedreg.export import UNEXPORTABLE_KINDS, export_plan
from embedreg.export.folder import check_output
from embedreg.export.verify import compare
from embedreg.routing import QueryPath

from hub.helpers import ADAPTER, one_line_error, small_registry


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """v1 ← v2 with an affine adapter (synthetic, Hub-pinned generations: nothing loads)."""
    return small_registry(tmp_path_factory.mktemp("planted") / "reg")


def test_an_adapter_and_a_resolved_path_are_planned(planted: Registry) -> None:
    plan = export_plan(planted, ADAPTER)
    assert (plan.source.name, plan.target.name, plan.role, plan.adapter_id) == (
        "v2",
        "v1",
        "query",
        ADAPTER,
    )
    (affine,) = plan.maps
    assert (affine.input_dim, affine.output_dim) == (24, 16)
    routed = export_plan(planted, "v2:v1", role="document")
    assert routed.path.adapter_ids == [ADAPTER] and routed.role == "document"
    assert routed.adapter_id is None
    same = export_plan(planted, "v1:v1")
    assert same.maps == [] and same.label == "v1 → v1 (same space)"


@pytest.mark.parametrize("kind", sorted(UNEXPORTABLE_KINDS))
def test_paths_that_need_two_models_are_refused_with_the_reason(
    planted: Registry, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Keyed on the path's kind: issue 23's fused and cascade paths need two models."""
    monkeypatch.setattr(QueryPath, "kind", kind, raising=False)
    with pytest.raises(ExportRefused, match=rf"is a {kind} path: .*(two models|one model)"):
        export_plan(planted, "v2:v1")


def test_an_unknown_kind_is_refused_too(planted: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QueryPath, "kind", "telepathic", raising=False)
    with pytest.raises(ExportRefused, match="kind 'telepathic' are not exportable"):
        export_plan(planted, ADAPTER)


def test_a_non_affine_adapter_is_refused(tmp_path: Path) -> None:
    reg = small_registry(tmp_path / "reg", family="mlp")
    with pytest.raises(ExportRefused, match="family mlp, which is not an affine map"):
        export_plan(reg, "v2-to-v1.mlp")


def test_bad_names_are_refused(planted: Registry) -> None:
    with pytest.raises(UnknownAdapter):
        export_plan(planted, "v9-to-v1.affine")
    with pytest.raises(ValidationError, match="is not NEW:OLD"):
        export_plan(planted, "v2:v1:v0")
    with pytest.raises(NoCompatiblePath):
        export_plan(planted, "v1:v2")  # only a backward adapter exists
    with pytest.raises(ValidationError, match="role must be"):
        export_plan(planted, ADAPTER, role="passage")


def test_the_output_folder_is_never_taken_from_another_tool(tmp_path: Path) -> None:
    check_output(tmp_path / "new", force=False)  # missing: fine
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty", force=False)  # empty: nothing to lose
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "README.md").write_text("# my notes\n")
    with pytest.raises(ExportExists, match="no embedreg export wrote"):
        check_output(foreign, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportExists, match="not a folder"):
        check_output(tmp_path / "file", force=True)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "README.md").write_text(
        "---\nlibrary_name: sentence-transformers\nembedreg:\n  format: embedreg.st-export/1\n---\n"
    )
    with pytest.raises(ExportExists, match=r"holds an earlier export.*--force"):
        check_output(earlier, force=False)
    check_output(earlier, force=True)


def test_compare_finds_the_worst_text() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 8)).astype(np.float32)
    b = a.copy()
    b[3] += 0.2 * rng.standard_normal(8).astype(np.float32)
    found = compare(a, b)
    assert found.worst == 3 and found.min_cosine < 0.9999 and not found.passed
    assert compare(a, a * 1.0005).passed is True  # within 0.1 % of the norm
    assert compare(a, a * 1.01).passed is False  # a cosine of 1, but the norm is off


def test_cli_refusals_are_one_line_and_write_nothing(tmp_path: Path, cli) -> None:
    reg = tmp_path / "reg"
    small_registry(reg, family="mlp")
    out = tmp_path / "st"
    line = one_line_error(
        cli(
            "--registry",
            str(reg),
            "export",
            "sentence-transformers",
            "v2-to-v1.mlp",
            "-o",
            str(out),
        )
    )
    assert "not an affine map" in line and not out.exists()
    both = cli("--registry", str(reg), "export", "sentence-transformers", "v2-to-v1.mlp")
    assert both.returncode == 2 and "give either -o DIR or --repo OWNER/NAME" in both.stderr
