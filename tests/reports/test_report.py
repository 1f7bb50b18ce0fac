"""Reports on real models (v1, v2, v2-cls over BBC News): files, figures, plots, a real browser."""

from __future__ import annotations

import html.parser
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedreg import Registry
from embedreg.errors import ReportExists
from embedreg.models import EncodeOptions
from embedreg.reports import EvalSet, backfill, compatibility_matrix, write_report
from embedreg.routing import RoutingPolicy
from embedreg.routing.kinds import resolve_kind
from embedreg.routing.policy import PathKind
from embedreg.training import train_adapter, training_pairs

import browser

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, small_chain) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("reports")
    reg = Registry.open(small_chain.copy(root / "registry"))
    for new, old, family in (("v2", "v1", "affine"), ("v2-cls", "v2", "procrustes")):
        pairs = training_pairs(reg, new, old, texts=small_chain.inputs)  # from the cache
        train_adapter(reg, new, old, pairs, family=family)
    return {"reg": reg, "data": EvalSet.from_texts(small_chain.inputs), "root": root}


class Refs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_matrix_over_three_generations(world) -> None:
    steps: list[tuple[int, int]] = []
    m = compatibility_matrix(
        world["reg"],
        ["v1", "v2", "v2-cls"],
        world["data"],
        encode=EncodeOptions(device="cpu"),
        step=lambda done, total: steps.append((done, total)),
    )
    # the progress starts at 0, so a summary counts all six cells (it said five)
    assert steps[0] == (0, 6) and steps[-1] == (6, 6)
    assert m.metric == "cmc@1" and m.queries == 500
    for t in range(3):
        for j in range(3):
            assert (m.values[t][j] is None) == (j > t), (t, j)
    assert m.paths[2][0] == ["v2-cls-to-v2.procrustes", "v2-to-v1.affine"]
    assert 0.8 < m.values[1][1] < 1.0  # v2's own leave-one-out CMC@1 on these texts
    assert m.ac == sum(m.values[t][j] > m.values[j][j] for t, j in ((1, 0), (2, 0), (2, 1))) / 3
    lower = [m.values[t][j] for t in range(3) for j in range(t + 1)]
    assert m.am == pytest.approx(np.mean(lower))
    for t, j in ((0, 0), (1, 0), (2, 1)):
        ci = m.intervals[t][j]
        assert ci is not None and ci.low <= m.values[t][j] <= ci.high
    # the adapters were trained on these texts: every cell through one is flagged
    trained = world["reg"].adapter("v2-to-v1.affine").provenance.training_data.train
    assert set(m.overlaps) == {"v2-to-v1.affine", "v2-cls-to-v2.procrustes"}
    flag = m.to_dict()["training_overlap"]["v2-to-v1.affine"]
    assert (flag["items"], flag["of"], flag["basis"]) == (trained, 500, "ids") and trained < 500
    assert [m.optimistic(t, j) for t, j in ((0, 0), (1, 0), (2, 0), (2, 2))] == [
        False,
        True,
        True,
        False,
    ]
    # each cell goes through the kind serving would take; two hops have only a map
    assert [m.kinds[t][t] for t in range(3)] == [None, None, None] and m.kinds[2][0] == "map"
    for t, j in ((1, 0), (2, 1)):
        routed = resolve_kind(
            world["reg"], m.generations[t], m.generations[j], RoutingPolicy(), texts=True,
            model_status=lambda _: (None, None),
        )  # fmt: skip
        assert m.kinds[t][j] == routed.chosen.label()
    assert m.to_dict()["kinds"] == m.kinds


def test_matrix_through_maps_only_or_any_kind(world) -> None:
    """The v2 → v1 cell through its fused or cascade variant beats the map it builds on."""
    only_maps = RoutingPolicy(kinds=frozenset({PathKind.MAP}))
    encode = EncodeOptions(device="cpu")
    maps = compatibility_matrix(
        world["reg"], ["v1", "v2"], world["data"], policy=only_maps, encode=encode
    )
    assert maps.kinds[1][0] == "map"
    best = compatibility_matrix(world["reg"], ["v1", "v2"], world["data"], encode=encode)
    assert best.values[0][0] == maps.values[0][0] and best.values[1][1] == maps.values[1][1]
    # measured here: the affine map 0.85, a cascade K=20 over it 0.89 (old/old 0.84)
    assert best.kinds[1][0] != "map", best.kinds
    assert best.values[1][0] >= maps.values[1][0], (best.kinds, best.values, maps.values)


def test_backfill_curve_from_gallery_to_new_generation(world) -> None:
    points: list[tuple[int, int]] = []
    result = backfill(
        world["reg"],
        "v1",
        "v2",
        world["data"],
        steps=4,
        encode=EncodeOptions(device="cpu"),
        step=lambda done, total: points.append((done, total)),
    )
    assert points[0] == (0, 15) and points[-1] == (15, 15)  # three orders of five points
    assert result.betas == [0.0, 0.25, 0.5, 0.75, 1.0] and result.via == ["v2-to-v1.affine"]
    assert set(result.curves) == {"random", "worst-first", "predicted"}
    ends = {round(c[-1], 6) for c in result.curves.values()}
    starts = {round(c[0], 6) for c in result.curves.values()}
    assert len(ends) == 1 and len(starts) == 1  # every order starts and ends at the same gallery
    assert result.to_dict()["gains"].keys() == {"worst-first", "predicted"}
    assert result.to_dict()["training_overlap"]["v2-to-v1.affine"]["basis"] == "ids"


def test_report_files_and_a_real_browser(world, tmp_path: Path) -> None:
    out = tmp_path / "report"
    rep = write_report(
        world["reg"],
        "v2-to-v1.affine",
        out,
        data=world["data"],
        chain=["v1", "v2", "v2-cls"],
        encode=EncodeOptions(device="cpu"),
    )
    assert rep.images == ["cmc.png", "backfill.png", "matrix.png"]
    for name in rep.images:
        assert (out / name).read_bytes().startswith(PNG)
    page = (out / "report.html").read_text(encoding="utf-8")
    twin = (out / "report.md").read_text(encoding="utf-8")
    for text in (page, twin):
        assert "v2-to-v1.affine" in text and "Compatibility matrix" in text
        assert "Backfill curve" in text and "positive flips" in text and "95 % interval" in text
    refs = Refs()
    refs.feed(page)
    assert sorted(refs.refs) == sorted(rep.images)  # nothing but the PNGs beside it
    assert all("](" + name + ")" in twin for name in rep.images)
    assert rep.figures.retention_basis == "cmc@1" and rep.figures.retention_interval
    assert rep.to_dict()["training_overlap"]["adapter"] == "v2-to-v1.affine"
    for text in (page, twin):  # the headline says first that these are training data
        assert "Measured on training data (" in text and "): optimistic. Retention" in text
    with pytest.raises(ReportExists):
        write_report(
            world["reg"],
            "v2-to-v1.affine",
            out,
            data=world["data"],
            encode=EncodeOptions(device="cpu"),
        )
    again = tmp_path / "again"
    shutil.copytree(out, again)
    redo = write_report(
        world["reg"],
        "v2-to-v1.affine",
        again,
        data=world["data"],
        encode=EncodeOptions(device="cpu"),
        overwrite=True,
    )
    assert redo.images == ["cmc.png", "backfill.png"]  # no chain: the old matrix.png is gone
    assert sorted(p.name for p in again.iterdir()) == sorted(
        [*redo.images, "report.html", "report.md"]
    )

    if browser.chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")
    shown, log = browser.load(out / "report.html")
    assert "error" not in shown, shown
    assert shown["title"] == "embedreg report: v2-to-v1.affine" and shown["external"] == 0
    assert [i["src"] for i in shown["images"]] == rep.images
    for image in shown["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
    assert "ERR_FILE_NOT_FOUND" not in log
    # the check sees a missing image: the same page without one of its files
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "matrix.png").unlink()
    shown, log = browser.load(broken / "report.html")
    missing = [i["src"] for i in shown["images"] if not (i["complete"] and i["width"])]
    assert missing == ["matrix.png"]


@pytest.mark.slow
def test_matrix_over_the_real_chain_v1_v2_v3(v3_chain, tmp_path: Path) -> None:
    """The upgrade chain of the test bed: v3 (768-d) needs an adapter to reach v2 and v1.

    A 768 → 384 map needs 962 pairs with a fifth held out: 1100 documents here, embedded
    by v1, v2 and v3 once per run (``v3_chain``).
    """
    inputs = v3_chain.inputs
    reg = Registry.open(v3_chain.copy(tmp_path / "registry"))
    for new, old, family in (("v2", "v1", "affine"), ("v3", "v2", "procrustes")):
        pairs = training_pairs(reg, new, old, texts=inputs)
        train_adapter(reg, new, old, pairs, family=family)
    m = compatibility_matrix(reg, ["v1", "v2", "v3"], EvalSet.from_texts(inputs))
    assert m.paths[2][0] == ["v3-to-v2.procrustes", "v2-to-v1.affine"]
    assert all(m.values[t][j] is not None for t in range(3) for j in range(t + 1))
    assert m.values[2][2] > m.values[0][0]  # v3 is the better model on its own gallery
    assert 0.0 <= m.ac <= 1.0 and m.am > 0.8
