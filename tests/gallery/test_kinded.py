"""Fused and cascade paths on a real gallery (v2 queries, v1 gallery, BBC News), write-back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import embedreg
import numpy as np
import pytest
from embedreg import Registry
from embedreg.errors import NoCompatiblePath
from embedreg.evaluation.paths import slerp
from embedreg.gallery import Gallery, search_gallery
from embedreg.gallery.kinded import route_kinds, search_routed
from embedreg.models import Encoder
from embedreg.routing.kinds import resolve_kind
from embedreg.routing.policy import PathKind, RoutingPolicy
from embedreg.training import train_adapter, training_pairs

QUERIES = ["shares fell on the stock market", "the striker scored twice in the final"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, small_chain: Any) -> dict[str, Any]:
    """v2 → v1 procrustes trained on 500 labelled items (100 held out); a v1 gallery of 100 of
    them (texts kept)."""
    root = tmp_path_factory.mktemp("kinded")
    reg_dir = small_chain.copy(root / "registry")
    reg = Registry.open(reg_dir)
    pairs = training_pairs(reg, "v2", "v1", texts=small_chain.inputs, device="cpu")
    rows = [json.loads(line) for line in Path(small_chain.inputs).read_text().splitlines()]
    text = {r["id"]: r["text"] for r in rows}
    train_adapter(reg, "v2", "v1", pairs, family="procrustes")
    rest = pairs.subset(np.arange(400, 500))
    folder = root / "gallery"
    v1 = reg.generation("v1")
    g = Gallery.create(v1, name="news")
    g.add(rest.target, rest.ids, generation=v1, texts=[text[i] for i in rest.ids])
    g.save(folder)
    return {"reg": reg, "reg_dir": reg_dir, "folder": folder, "ids": rest.ids}


def test_adapter_carries_fitted_paths(world: dict[str, Any]) -> None:
    rec = world["reg"].adapter("v2-to-v1.procrustes")
    paths = rec.provenance.paths
    assert paths is not None and paths.fitted and paths.t is not None and 0.0 <= paths.t <= 1.0
    kinds = sorted({str(v.kind) for v in paths.variants})
    assert kinds == ["cascade", "fused", "map"]


def test_resolve_kind_by_policy(world: dict[str, Any]) -> None:
    reg = world["reg"]
    fused = resolve_kind(reg, "v2", "v1", RoutingPolicy(kinds=frozenset({PathKind.FUSED})))
    assert fused.kind is PathKind.FUSED and fused.chosen.cost == 1
    assert fused.chosen.memory_bytes and fused.chosen.memory_bytes > 1_000_000  # v1's weights
    assert "fused t=" in fused.note()
    only_map = resolve_kind(reg, "v2", "v1", RoutingPolicy(kinds=frozenset({PathKind.MAP})))
    assert only_map.kind is PathKind.MAP
    cheap = resolve_kind(reg, "v2", "v1", RoutingPolicy(max_query_cost=1))
    assert cheap.chosen.cost <= 1
    best = resolve_kind(reg, "v2", "v1", RoutingPolicy())
    allowed = [o for o, why in best.options if why is None or o is best.chosen]
    assert best.quality >= max(o.quality for o in allowed) - 0.005
    data = best.to_dict()
    assert data["kind"] == best.kind.value and data["options"]


def test_fused_unavailable_without_the_old_weights(world: dict[str, Any]) -> None:
    reg = world["reg"]

    def gone(gen: Any) -> tuple[str | None, int | None]:
        return f"the model folder of generation {gen.name!r} does not exist", None

    route = resolve_kind(reg, "v2", "v1", RoutingPolicy(), model_status=gone)
    assert route.kind is not PathKind.FUSED and route.chosen.first != "fused"
    with pytest.raises(NoCompatiblePath, match="does not exist"):
        resolve_kind(
            reg, "v2", "v1", RoutingPolicy(kinds=frozenset({PathKind.FUSED})), model_status=gone
        )
    no_texts = resolve_kind(reg, "v2", "v1", RoutingPolicy(), texts=False)
    assert no_texts.kind is not PathKind.CASCADE


def test_fused_search_is_slerp_of_both_queries(world: dict[str, Any]) -> None:
    reg = world["reg"]
    g = Gallery.load(world["folder"])
    v2 = reg.generation("v2")
    policy = RoutingPolicy(kinds=frozenset({PathKind.FUSED}))
    routes = route_kinds(g, v2, reg, policy)
    route = routes["v1"]
    assert route is not None and route.kind is PathKind.FUSED
    hits = search_routed(g, QUERIES, 5, routes, generation=v2, registry=reg, device="cpu")
    own = Encoder(v2, device="cpu").encode(QUERIES, role="query")
    theirs = Encoder(reg.generation("v1"), device="cpu").encode(QUERIES, role="query")
    fused = slerp(theirs, route.map_path.apply(own), float(route.chosen.t or 0))
    _scores, fids = g._index("v1").search(fused, 5)
    assert hits.ids == [[g._items[int(f)][0] for f in row] for row in fids]
    assert hits.to_dict()["kinds"]["v1"]["kind"] == "fused"
    # the Python API: Gallery.search with a policy takes the same path
    api = g.search(QUERIES, 5, generation="v2", registry=reg, policy=policy, device="cpu")
    assert api.ids == hits.ids and api.kinds["v1"].kind is PathKind.FUSED
    only_maps = RoutingPolicy(kinds=frozenset({PathKind.MAP}))
    maps = g.search(QUERIES, 5, generation="v2", registry=reg, device="cpu", policy=only_maps)
    assert maps.kinds == {} and set(maps.paths) == {"v1"}


def test_library_routes_by_kind_as_the_cli(world: dict[str, Any], cli: Any) -> None:
    """search_gallery and embedreg.resolve take the CLI's default (--paths any); a policy of
    maps alone gives the compiled map."""
    reg, folder = world["reg"], world["folder"]
    shown = cli(
        "gallery", "search", str(folder), *QUERIES, "--gen", "v2", "-k", "5", "--device", "cpu",
        "--json", env={"EMBEDREG_REGISTRY": str(world["reg_dir"])},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    kind = data["kinds"]["v1"]["kind"]
    assert kind in {"fused", "cascade"}  # measured better than the map on held-out pairs
    hits = search_gallery(reg, folder, QUERIES, generation="v2", k=5, device="cpu")
    assert hits.kinds["v1"].kind.value == kind
    assert hits.kinds["v1"].chosen.label() == data["kinds"]["v1"]["path"]["label"]
    assert hits.ids == [[row["id"] for row in rows] for rows in data["results"]]
    for target in (folder, "v1", Gallery.load(folder)):
        assert embedreg.resolve("v2", target, registry=reg).kind.value == kind
    maps = RoutingPolicy(kinds=frozenset({PathKind.MAP}))
    only = search_gallery(reg, folder, QUERIES, generation="v2", k=5, device="cpu", policy=maps)
    assert only.kinds == {} and only.paths["v1"].adapter_ids == ["v2-to-v1.procrustes"]
    mapped = embedreg.resolve("v2", folder, registry=reg, policy=maps)
    assert mapped.kind is PathKind.MAP
    assert mapped.map_path.adapter_ids == ["v2-to-v1.procrustes"]
    own = Encoder(reg.generation("v2"), device="cpu").encode(QUERIES, role="query")
    g = Gallery.load(folder)
    by_map = g.search_vectors(own, 5, generation=reg.generation("v2"), registry=reg)
    assert only.ids == by_map.ids


def test_cascade_write_back_moves_each_item_once(world: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    reg = world["reg"]
    folder = tmp_path / "g"
    shutil.copytree(world["folder"], folder)
    v2 = reg.generation("v2")
    policy = RoutingPolicy(kinds=frozenset({PathKind.CASCADE}), max_query_cost=20)
    g = Gallery.load(folder)
    routes = route_kinds(g, v2, reg, policy)
    assert routes["v1"] is not None and routes["v1"].chosen.k == 20
    hits = search_routed(
        g, QUERIES, 5, routes, generation=v2, registry=reg, device="cpu", write_back=3
    )
    assert 3 <= hits.written <= 6
    after = Gallery.load(folder)
    assert len(after) == 100 and sorted(after.ids()) == sorted(world["ids"])
    assert len(after.ids("v2")) == hits.written
    assert {s.get("kind") for s in after.sources} >= {"write-back"}
    # the moved items are v2's own vectors of their texts: searched again, nothing moves twice
    routes = route_kinds(after, v2, reg, policy)
    again = search_routed(
        after, QUERIES, 5, routes, generation=v2, registry=reg, device="cpu", write_back=3
    )
    final = Gallery.load(folder)
    assert len(final) == 100 and len(final.ids("v2")) == hits.written + again.written
    # the top hits come from both segments, scored in v2's space
    assert set(hits.ids[0]) <= set(world["ids"])


def test_merge_modes_on_fused_and_cascade_routes(world: dict[str, Any], tmp_path: Path) -> None:
    """--merge reaches searches that take a fused path or a cascade (it was ignored there)."""
    import shutil

    from embedreg.errors import ValidationError
    from embedreg.gallery.search import RRF_K

    reg = world["reg"]
    folder = tmp_path / "mixed"
    shutil.copytree(world["folder"], folder)
    v2 = reg.generation("v2")
    cascade = RoutingPolicy(kinds=frozenset({PathKind.CASCADE}), max_query_cost=20)
    g = Gallery.load(folder)
    search_routed(
        g, QUERIES, 5, route_kinds(g, v2, reg, cascade), generation=v2, registry=reg,
        device="cpu", write_back=5,
    )  # fmt: skip
    mixed = Gallery.load(folder)
    assert set(mixed.generations) == {"v1", "v2"}  # v2's own segment beside the v1 one
    for policy in (cascade, RoutingPolicy(kinds=frozenset({PathKind.FUSED}))):
        routes = route_kinds(mixed, v2, reg, policy)
        by_score = search_routed(
            mixed, QUERIES, 8, routes, generation=v2, registry=reg, device="cpu", merge="score"
        )
        by_rank = search_routed(
            mixed, QUERIES, 8, routes, generation=v2, registry=reg, device="cpu", merge="rrf"
        )
        for row in range(len(QUERIES)):
            scores = by_rank.scores[row]
            assert scores == sorted(scores, reverse=True)
            ranks = [round(1.0 / s - RRF_K) for s in scores]  # 1/(60 + rank in its segment)
            assert all(
                abs(1.0 / (RRF_K + r) - s) < 1e-6 for r, s in zip(ranks, scores, strict=True)
            )
            for seg in set(by_rank.segments[row]):  # each segment's hits: ranks 1, 2, … in order
                mine = [r for r, s in zip(ranks, by_rank.segments[row], strict=True) if s == seg]
                assert mine == list(range(1, len(mine) + 1))
            assert set(by_rank.segments[row]) == {"v1", "v2"}
            assert by_score.scores[row] != by_rank.scores[row]
        if policy is cascade:  # a cascade scores in v2's own space: nothing to calibrate
            same = search_routed(
                mixed, QUERIES, 8, routes, generation=v2, registry=reg, device="cpu",
                merge="calibrated",
            )  # fmt: skip
            assert same.ids == by_score.ids and same.scores == by_score.scores
        else:  # a fused path scores in v1's space, and this gallery holds no calibration
            with pytest.raises(ValidationError, match="calibration"):
                search_routed(
                    mixed, QUERIES, 5, routes, generation=v2, registry=reg, device="cpu",
                    merge="calibrated",
                )  # fmt: skip
    # the library entry passes it on
    api = mixed.search(
        QUERIES, 8, generation="v2", registry=reg, policy=cascade, device="cpu", merge="rrf"
    )
    assert api.scores[0][0] == pytest.approx(1.0 / (RRF_K + 1))


def test_write_back_under_concurrent_writers_and_kills(
    world: dict[str, Any], tmp_path: Path, small_chain: Any
) -> None:
    """One process searches with write-back, one adds items, others are SIGKILLed mid-search:
    every item ends present once, and the v2 segment grew."""
    import random
    import shutil
    import subprocess
    import sys

    import crashkit  # type: ignore[import-not-found]
    from conftest import run_cli

    folder = tmp_path / "g"
    shutil.copytree(world["folder"], folder)
    reg_path = str(world["reg_dir"])
    rows = [json.loads(line) for line in Path(small_chain.inputs).read_text().splitlines()]
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        "".join(json.dumps({"id": f"new-{r['id']}", "text": r["text"]}) + "\n" for r in rows[:30])
    )
    script = str(Path(__file__).with_name("writeback_search.py"))
    hook = crashkit.hook_dir(tmp_path)
    searcher = subprocess.Popen(
        [sys.executable, script, reg_path, str(folder), "6"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    rng = random.Random(0)
    killed = []
    for _ in range(2):
        env = {
            **__import__("os").environ,
            "PYTHONPATH": str(hook),
            "EMBEDREG_KILL_ROOTS": str(folder),
            "EMBEDREG_KILL_AT": str(rng.randint(1, 12)),
        }
        killed.append(subprocess.Popen(
            [sys.executable, script, reg_path, str(folder), "4"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ))  # fmt: skip
    added = run_cli(
        "--registry", reg_path, "gallery", "add", str(folder), str(extra), "--gen", "v1"
    )
    assert added.returncode == 0, added.stderr
    out, err = searcher.communicate(timeout=600)
    assert searcher.returncode == 0, err
    codes = [p.wait(timeout=600) for p in killed]
    assert all(c in (0, -9) for c in codes), [p.stderr.read() for p in killed if p.stderr]
    final = Gallery.load(folder)  # verifies every file and the counts
    expected = sorted([*world["ids"], *(f"new-{r['id']}" for r in rows[:30])])
    assert sorted(final.ids()) == expected  # every item once, none lost
    moved = final.ids("v2")
    assert moved and sum(int(line.split()[1]) for line in out.splitlines()) <= len(moved)
    info = run_cli("--registry", reg_path, "gallery", "info", str(folder), "--json")
    assert json.loads(info.stdout)["segments"]["v2"]["count"] == len(moved)
    plain = run_cli("--registry", reg_path, "gallery", "info", str(folder)).stderr
    assert (
        f"write-back, {len(moved)} item(s) moved into segment v2" in plain and "None" not in plain
    )
    status = run_cli("--registry", reg_path, "upgrade", "status", str(folder), "--json")
    (progress,) = json.loads(status.stdout)["write_back"]
    assert progress["generation"] == "v2" and progress["segment"] == len(moved)
    assert progress["total"] == len(expected) and progress["written"] == len(moved)


def test_cli_resolve_and_search_name_the_path_kind(world: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    from conftest import run_cli

    reg = str(world["reg_dir"])
    done = run_cli("--registry", reg, "resolve", "v2", "v1", "--paths", "any", "--json")
    assert done.returncode == 0, done.stderr
    path = json.loads(done.stdout)
    assert path["kind"] in ("map", "fused", "cascade") and path["reason"]
    fused = run_cli("--registry", reg, "resolve", "v2", "v1", "--paths", "fused", "--json")
    assert json.loads(fused.stdout)["kind"] == "fused"
    found = run_cli(
        "--registry", reg, "gallery", "search", str(world["folder"]), "--gen", "v2",
        "--paths", "fused", "-k", "3", "--json", QUERIES[0],
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["kinds"]["v1"]["kind"] == "fused"
    assert "segment v1: path v2 → v1: fused t=" in found.stderr
    # the old generation's weights gone: fused is not offered, and --paths fused says why
    gone = tmp_path / "registry"
    shutil.copytree(world["reg_dir"], gone)
    doc = json.loads((gone / "registry.json").read_text())
    doc["generations"]["v1"]["source"]["path"] = str(tmp_path / "no-such-model")
    (gone / "registry.json").write_text(json.dumps(doc))
    fallback = run_cli(
        "--registry", str(gone), "gallery", "search", str(world["folder"]), "--gen", "v2",
        "--paths", "map,fused", "-k", "3", "--json", QUERIES[0],
    )  # fmt: skip
    assert fallback.returncode == 0, fallback.stderr
    assert json.loads(fallback.stdout)["kinds"]["v1"]["kind"] == "map"
    notes = [line for line in fallback.stderr.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and "no-such-model" in notes[0]
    refused = run_cli("--registry", str(gone), "resolve", "v2", "v1", "--paths", "fused")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "no-such-model" in lines[0]


def test_fused_and_cascade_paths_on_a_database_gallery_match_the_folder(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """The same items in Qdrant's local mode: fused and cascade searches return the folder's ids."""
    from embedreg.errors import ValidationError
    from embedreg.gallery.database import DatabaseGallery

    from conftest import run_cli

    pytest.importorskip("qdrant_client")
    reg = world["reg"]
    folder = Gallery.load(world["folder"])
    v1, v2 = reg.generation("v1"), reg.generation("v2")
    ids = folder.ids("v1")
    url = f"qdrant://{tmp_path / 'qdrant'}?collection=news"
    with DatabaseGallery.create(url, v1) as db:
        db.add(folder.vectors(ids), ids, generation=v1, texts=[folder.item(i).text for i in ids])
        db.state = {}
        db.save()
    for kind in (PathKind.FUSED, PathKind.CASCADE):
        policy = RoutingPolicy(kinds=frozenset({kind}))
        want = search_routed(
            folder, QUERIES, 5, route_kinds(folder, v2, reg, policy), generation=v2,
            registry=reg, device="cpu",
        )  # fmt: skip
        with DatabaseGallery.open(url) as db:
            routes = route_kinds(db, v2, reg, policy)
            assert routes["v1"] is not None and routes["v1"].kind is kind
            got = search_routed(db, QUERIES, 5, routes, generation=v2, registry=reg, device="cpu")
            assert got.ids == want.ids and np.allclose(got.scores, want.scores, atol=1e-4)
            with pytest.raises(ValidationError, match="write-back needs a gallery folder"):
                search_routed(
                    db, QUERIES, 5, routes, generation=v2, registry=reg, device="cpu", write_back=1
                )
    found = run_cli(
        "--registry", str(world["reg_dir"]), "gallery", "search", url, "--gen", "v2",
        "--paths", "cascade", "-k", "3", "--json", QUERIES[0],
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["kinds"]["v1"]["kind"] == "cascade"
    resolved = run_cli(
        "--registry", str(world["reg_dir"]), "resolve", "v2", "--gallery", url,
        "--paths", "fused", "--json",
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["segments"]["v1"]["kind"] == "fused"
