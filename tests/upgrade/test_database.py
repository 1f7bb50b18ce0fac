"""Upgrades of database galleries (issue 24): partial upgrades SIGKILLed and resumed, rollback.

Real models (v1 → v2 of the session's small chain over BBC News), real
databases (Qdrant's local mode, PostgreSQL with pgvector), the real CLI in
subprocesses, killed with SIGKILL at random moments (a few per backend).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

KILLS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, small_chain) -> dict[str, Any]:
    """A registry with v1, v2 and an affine adapter v2 → v1; 80 BBC items with their texts."""
    from embedreg import Registry
    from embedreg.training import train_adapter, training_pairs

    tmp = tmp_path_factory.mktemp("db-upgrades")
    reg = Registry.open(small_chain.copy(tmp / "registry"))
    pairs = training_pairs(reg, "v2", "v1", texts=small_chain.inputs)
    train_adapter(reg, "v2", "v1", pairs, family="affine")
    rows = [json.loads(line) for line in small_chain.inputs.read_text().splitlines()][:80]
    docs = tmp / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {
        "tmp": tmp,
        "reg": reg,
        "pairs": pairs,
        "docs": docs,
        "env": {"EMBEDREG_REGISTRY": str(tmp / "registry")},
    }


def _url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    name = f"up{uuid.uuid4().hex[:8]}"
    if backend == "qdrant":
        return f"qdrant://{tmp / 'qdrant'}?collection={name}"
    uri = request.getfixturevalue("pg_uri")
    return f"{uri}{'&' if '?' in uri else '?'}table={name}"


def _cli(*args: str, env: dict[str, str]) -> list[str]:
    exe = Path(sys.executable).with_name("embedreg")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "embedreg_cli"]
    return [*cmd, *args]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **env}, timeout=600
    )


def _snapshot(url: str) -> dict[str, dict[str, Any]]:
    from embedreg.gallery.database import DatabaseGallery

    with DatabaseGallery.open(url) as g:
        return {s: dict(zip(g.ids(s), g.vectors(g.ids(s)), strict=True)) for s in g.generations}


def _same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    assert {s: sorted(v) for s, v in a.items()} == {s: sorted(v) for s, v in b.items()}
    for s in a:
        for item_id, vec in a[s].items():
            assert np.allclose(vec, b[s][item_id], atol=1e-5), (s, item_id)


@pytest.mark.parametrize("backend", ["qdrant", "pgvector"])
def test_partial_upgrade_killed_and_resumed_ends_as_an_unkilled_one_and_rolls_back(
    backend: str, world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from embedreg.gallery import build_gallery

    reg, env = world["reg"], world["env"]
    plain, killed = _url(backend, tmp_path, request), _url(backend, tmp_path, request)
    for url in (plain, killed):
        build_gallery(reg, "v1", world["docs"], url, device="cpu", register=False)
    before = _snapshot(plain)
    apply = ["upgrade", "apply", "--to", "v2", "--strategy", "partial", "--fraction", "0.5"]
    done = _run(_cli(*apply, plain, "--device", "cpu", env=env), env)
    assert done.returncode == 0, done.stderr
    unkilled = _snapshot(plain)
    assert sorted(unkilled) == ["v1", "v2"] and len(unkilled["v2"]) == 40
    from embedreg.gallery.database import DatabaseGallery

    with DatabaseGallery.open(plain) as g:
        assert "v2" in g.calibration["v1"]  # the routed segment merges on the calibrated scale
        item_id, vector = next(iter(unkilled["v2"].items()))
        hits = g.search_vectors(vector[None, :], 10, generation=reg.generation("v2"), registry=reg)
        assert hits.ids[0][0] == item_id and len(hits.ids[0]) == 10
        assert set(hits.paths) == {"v1"}  # the old segment was searched through the adapter

    rng = random.Random(f"{backend}-{uuid.uuid4()}")
    kills = 0
    while True:
        state = json.loads(_run(_cli("upgrade", "status", killed, "--json", env=env), env).stdout)
        if state["state"] == "switched":
            break
        args = [*apply, killed] if state["state"] == "none" else ["upgrade", "resume", killed]
        proc = subprocess.Popen(
            _cli(*args, "--device", "cpu", env=env),
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kills < KILLS:
            try:
                proc.wait(timeout=rng.uniform(1.0, 8.0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                time.sleep(0.2)
                continue
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    _same(_snapshot(killed), unkilled)

    # rollback restores the previous collections; finalize drops the replaced ones
    back = _run(_cli("upgrade", "rollback", plain, "--json", env=env), env)
    assert back.returncode == 0, back.stderr
    _same(_snapshot(plain), before)
    final = _run(_cli("upgrade", "finalize", killed, "--json", env=env), env)
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["dropped"]
    _same(_snapshot(killed), unkilled)


def _killed_at(module: str, name: str) -> str:
    """A CLI process that sends itself SIGKILL when ``module.name`` is called (and never runs it)."""
    owner, _, attr = name.rpartition(".")
    return (
        "import importlib, os, runpy, signal, sys\n"
        f"target = importlib.import_module({module!r})\n"
        + (f"target = target.{owner}\n" if owner else "")
        + f"setattr(target, {attr!r}, lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))\n"
        "sys.argv = ['embedreg', *sys.argv[1:]]\n"
        "runpy.run_module('embedreg_cli', run_name='__main__')\n"
    )


# the switch is written, the alias not moved yet
_KILLED_AT_ALIAS = _killed_at("embedreg.gallery.database", "DatabaseGallery.finish_alias")


def _alias_target(backend: str, url: str, request: pytest.FixtureRequest) -> str | None:
    """Where the gallery's alias points, as a plain client (no embedreg) sees it."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if backend == "qdrant":
        from qdrant_client import QdrantClient

        name = parse_qs(parts.query)["collection"][0]
        client = QdrantClient(path=parts.path)
        try:
            found = [
                a.collection_name for a in client.get_aliases().aliases if a.alias_name == name
            ]
        finally:
            client.close()
        return found[0] if found else None
    import psycopg

    name = parse_qs(parts.query)["table"][0]
    with psycopg.connect(request.getfixturevalue("pg_uri")) as conn:
        row = conn.execute(
            "SELECT definition FROM pg_views WHERE viewname = %s", (name,)
        ).fetchone()
    if row is None:
        return None
    return str(row[0]).split("FROM", 1)[1].strip().rstrip(";").strip().strip('"')


@pytest.mark.parametrize("backend", ["qdrant", "pgvector"])
def test_a_kill_between_the_switch_and_the_alias_move_is_finished_by_the_next_command(
    backend: str, world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from embedreg.gallery import build_gallery
    from embedreg.gallery.backend import backend_for

    reg, env = world["reg"], world["env"]
    url = _url(backend, tmp_path, request)
    build_gallery(reg, "v1", world["docs"], url, device="cpu", register=False)
    before = _alias_target(backend, url, request)
    assert before is not None
    apply = ["upgrade", "apply", "--to", "v2", "--strategy", "partial", "--fraction", "0.5"]
    killed = _run([sys.executable, "-c", _KILLED_AT_ALIAS, *apply, url, "--device", "cpu"], env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    raw = backend_for(url)
    try:
        manifest = raw.read_manifest()
    finally:
        raw.close()
    assert manifest is not None and manifest["state"]["upgrade"]["phase"] == "switched"
    moved_to = manifest["state"]["alias_move"]
    assert manifest["alias"] == moved_to != before
    assert _alias_target(backend, url, request) == before  # stale for every other client

    state = _run(_cli("upgrade", "status", url, "--json", env=env), env)
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout)["state"] == "switched"
    assert _alias_target(backend, url, request) == moved_to  # the next command moved it
    raw = backend_for(url)
    try:
        manifest = raw.read_manifest()
    finally:
        raw.close()
    assert manifest is not None and "alias_move" not in manifest["state"]


def test_a_reembed_promotes_the_alias_and_the_record_and_rollback_puts_them_back(
    world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from embedreg.errors import ValidationError
    from embedreg.gallery import build_gallery
    from embedreg.upgrade import JobOptions, PartialChoice, database

    reg = world["reg"]
    url = _url("pgvector", tmp_path, request)
    name, alias = f"g{uuid.uuid4().hex[:8]}", f"prod-{uuid.uuid4().hex[:6]}"
    build_gallery(reg, "v1", world["docs"], url, device="cpu", name=name)
    reg.set_alias(alias, "v1")
    with pytest.raises(ValidationError, match="partial upgrade"):
        database.apply(reg, url, "v2", "partial", promote=alias)
    done = database.apply(
        reg,
        url,
        "v2",
        "reembed",
        partial=PartialChoice(),
        job=JobOptions(device="cpu"),
        promote=alias,
    )
    assert done["segments"] == {"v2": 80}
    assert reg.aliases()[alias] == "v2"
    assert reg.document().galleries[name].generation == "v2"
    back = database.rollback(url, reg)
    assert back["action"] == "switched back to the previous collections"
    assert reg.aliases()[alias] == "v1"
    assert reg.document().galleries[name].generation == "v1"
    reg.remove_alias(alias)


def test_the_worst_order_and_the_forward_strategy_use_the_forward_path(
    world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import shutil

    from embedreg import Registry
    from embedreg.gallery import build_gallery
    from embedreg.gallery.database import DatabaseGallery
    from embedreg.routing import Resolver
    from embedreg.training import train_adapter
    from embedreg.upgrade import JobOptions, PartialChoice, database
    from embedreg.upgrade.selection import round_trip

    reg = Registry.open(shutil.copytree(world["tmp"] / "registry", tmp_path / "registry"))
    train_adapter(reg, "v2", "v1", world["pairs"], family="affine", direction="forward")
    url = _url("pgvector", tmp_path, request)
    build_gallery(reg, "v1", world["docs"], url, device="cpu", register=False)
    with DatabaseGallery.open(url) as g:
        ids = g.ids("v1")
        resolver = Resolver(reg)
        scores = round_trip(
            g.vectors(ids), resolver.resolve("v1", "v2"), resolver.resolve("v2", "v1")
        )
        stored = g.vectors(ids[:1])
    worst = {ids[i] for i in np.argsort(scores, kind="stable")[:20].tolist()}
    done = database.apply(
        reg,
        url,
        "v2",
        "partial",
        partial=PartialChoice(fraction=0.25, order="worst"),
        job=JobOptions(device="cpu"),
    )
    assert done["segments"] == {"v1": 60, "v2": 20}
    with DatabaseGallery.open(url) as g:
        assert set(g.ids("v2")) == worst
    database.rollback(url, reg)
    # forward: every stored vector mapped by the forward path, no model run, one segment left
    alias = f"fwd-{uuid.uuid4().hex[:6]}"
    done = database.apply(reg, url, "v2", "forward", promote=alias)
    assert done["segments"] == {"v2": 80} and done["embedded"] == 0
    assert reg.aliases()[alias] == "v2"
    with DatabaseGallery.open(url) as g:
        assert g.generations == ["v2"] and len(g) == 80
        want = resolver.resolve("v1", "v2").apply(stored)
        assert np.allclose(g.vectors(ids[:1]), want, atol=1e-5)


def test_a_kill_before_the_registry_update_is_finished_by_resume(
    world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import shutil

    from embedreg import Registry
    from embedreg.gallery import build_gallery

    reg_dir = shutil.copytree(world["tmp"] / "registry", tmp_path / "registry")
    reg, env = Registry.open(reg_dir), {"EMBEDREG_REGISTRY": str(reg_dir)}
    url = _url("pgvector", tmp_path, request)
    build_gallery(reg, "v1", world["docs"], url, device="cpu", name="killed-news")
    killer = _killed_at("embedreg.upgrade.database", "after_switch")  # before the registry
    apply = ["upgrade", "apply", "--to", "v2", "--strategy", "reembed", "--promote", "prod"]
    killed = _run([sys.executable, "-c", killer, *apply, url, "--device", "cpu"], env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "prod" not in Registry.open(reg_dir).aliases()  # switched, the registry not yet
    assert Registry.open(reg_dir).document().galleries["killed-news"].generation == "v1"
    done = _run(_cli("upgrade", "resume", url, "--json", env=env), env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["registry"]
    after = Registry.open(reg_dir)
    assert after.aliases()["prod"] == "v2"
    assert after.document().galleries["killed-news"].generation == "v2"
    assert (
        json.loads(_run(_cli("upgrade", "status", url, "--json", env=env), env).stdout)["state"]
        == "switched"
    )
