"""Galleries in vector databases (issue 24): the same BBC gallery in FAISS and in each database.

Real models (v1, v2 of the session's small chain over BBC News), a real
affine adapter v2 → v1, real databases: Qdrant's local mode, Milvus Lite,
and a PostgreSQL server with pgvector started for the session
(``tests/gallery/dbservers.py``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BACKENDS = ("qdrant", "milvus", "pgvector")


def one_line_error(result: Any) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, small_chain) -> dict[str, Any]:
    """A registry with v1, v2 and an affine adapter v2 → v1; 150 items embedded by v1 once."""
    from embedreg import Registry
    from embedreg.data.embeddings import save_embeddings
    from embedreg.models import Encoder
    from embedreg.training import train_adapter, training_pairs

    tmp = tmp_path_factory.mktemp("db-galleries")
    reg = Registry.open(small_chain.copy(tmp / "registry"))
    pairs = training_pairs(reg, "v2", "v1", texts=small_chain.inputs)
    train_adapter(reg, "v2", "v1", pairs, family="affine")
    rows = [json.loads(line) for line in small_chain.inputs.read_text().splitlines()]
    items, queries = rows[:150], [r["text"] for r in rows[400:412]]
    docs = tmp / "gallery.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    vectors = Encoder(reg.generation("v1"), device="cpu").encode(
        [r["text"] for r in items], role="document"
    )
    emb = save_embeddings(
        tmp / "v1.safetensors",
        vectors,
        generation=reg.generation("v1"),
        role="document",
        ids=[r["id"] for r in items],
    )
    qv2 = Encoder(reg.generation("v2"), device="cpu").encode(queries, role="query")
    return {
        "tmp": tmp,
        "reg": reg,
        "env": {"EMBEDREG_REGISTRY": str(tmp / "registry")},
        "docs": docs,
        "emb": emb,
        "ids": [r["id"] for r in items],
        "queries": queries,
        "qv2": qv2,
    }


@pytest.fixture
def url_for(request: pytest.FixtureRequest) -> Any:
    """``url_for(backend, tmp, name)``: a new gallery's URL in that backend (unique names)."""

    def make(backend: str, tmp: Path, name: str) -> str:
        unique = f"{name}{uuid.uuid4().hex[:8]}"
        if backend == "qdrant":
            return f"qdrant://{tmp / 'qdrant'}?collection={unique}"
        if backend == "milvus":
            return f"milvus://{tmp / 'milvus.db'}?collection={unique}"
        if backend == "pgvector":
            uri = request.getfixturevalue("pg_uri")
            return f"{uri}{'&' if '?' in uri else '?'}table={unique}"
        raise AssertionError(backend)

    return make


@pytest.mark.parametrize("backend", BACKENDS)
def test_build_search_add_rm_info_register_in_a_database(
    backend: str, world: dict[str, Any], tmp_path: Path, url_for: Any
) -> None:
    from embedreg.gallery import add_to_gallery, build_gallery, remove_from_gallery, search_gallery
    from embedreg.gallery.database import DatabaseGallery

    reg = world["reg"]
    url = url_for(backend, tmp_path, "news")
    build_gallery(reg, "v1", world["docs"], url, device="cpu", name=f"news-{backend}")
    folder = build_gallery(reg, "v1", world["emb"], tmp_path / "faiss", register=False)
    routed = search_gallery(reg, url, world["qv2"], generation="v2", k=10)
    same = folder.search_vectors(world["qv2"], 10, generation=reg.generation("v2"), registry=reg)
    assert routed.ids == same.ids  # exact indexes: the same top-10 through the same path
    assert np.allclose(routed.scores, same.scores, atol=1e-4)
    assert set(routed.paths) == {"v1"} and routed.paths["v1"].adapter_ids

    with DatabaseGallery.open(url) as g:
        assert len(g) == 150 and g.generations == ["v1"]
        first = world["ids"][0]
        assert g.item(first).text and g.item(first).segment == "v1"
        assert np.allclose(g.vectors([first]), folder.vectors([first]), atol=1e-5)
    # a rerun of the finished build finds it
    again = build_gallery(reg, "v1", world["docs"], url, device="cpu", name=f"news-{backend}")
    assert again.name == f"news-{backend}"
    assert world["reg"].document().galleries[f"news-{backend}"].location == url
    assert remove_from_gallery(url, [world["ids"][0], world["ids"][1]]) == 2
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"id": "new-1", "text": "shares rise on profit news"}) + "\n")
    assert add_to_gallery(reg, url, extra, device="cpu") == 1
    assert add_to_gallery(reg, url, extra, device="cpu") == 0  # a rerun finds it done
    with DatabaseGallery.open(url) as g:
        assert len(g) == 149 and "new-1" in g and world["ids"][0] not in g


@pytest.fixture(scope="module")
def faiss_cli(world: dict[str, Any]) -> list[list[str]]:
    """The reference: the same v1 vectors in a FAISS folder, built and searched (the first three
    queries as v2, ``--paths map``) through the CLI once; the top-10 ids of each query."""
    from conftest import run_cli  # type: ignore[import-not-found]

    env, folder = world["env"], world["tmp"] / "faiss-cli"
    built = run_cli(
        "gallery", "build", "v1", str(world["emb"]), "-o", str(folder), "--name", "f-cli", env=env
    )
    assert built.returncode == 0, built.stderr
    same = run_cli(
        "gallery", "search", str(folder), *world["queries"][:3], "--gen", "v2", "--json",
        "--paths", "map", env=env,
    )  # fmt: skip
    # (the folder holds no texts: compare the map with the map)
    assert same.returncode == 0, same.stderr
    return [[hit["id"] for hit in row] for row in json.loads(same.stdout)["results"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_cli_speaks_urls_and_refuses_another_generations_vectors(
    backend: str, world: dict[str, Any], tmp_path: Path, url_for: Any, faiss_cli: list[list[str]]
) -> None:
    from embedreg.data.embeddings import save_embeddings
    from embedreg.gallery.database import DatabaseGallery

    from conftest import run_cli  # type: ignore[import-not-found]

    env = world["env"]
    url = url_for(backend, tmp_path, "cli")
    build = run_cli(
        "gallery", "build", "v1", str(world["emb"]), "-o", url, "--name", f"cli-{backend}", env=env
    )
    assert build.returncode == 0, build.stderr
    info = run_cli("gallery", "info", url, "--json", env=env)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["count"] == 150
    plain = run_cli("gallery", "info", url, env=env)
    assert "150 items" in plain.stderr and "None" not in plain.stderr  # no content hash to show
    search = run_cli(
        "gallery", "search", url, *world["queries"][:3], "--gen", "v2", "--json",
        "--paths", "map", env=env,
    )  # fmt: skip
    assert search.returncode == 0, search.stderr
    found = json.loads(search.stdout)
    assert len(found["results"]) == 3 and len(found["results"][0]) == 10
    ids = [[hit["id"] for hit in row] for row in found["results"]]
    assert ids == faiss_cli  # the same top-10 as the FAISS folder's, through the CLI both
    resolved = run_cli("resolve", "v2", "--gallery", url, "--json", env=env)
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["segments"]["v1"]["adapters"]
    compat = run_cli("compatible", "v2", "--json", env=env)
    assert compat.returncode == 0, compat.stderr
    assert f"cli-{backend}" in [m["name"] for m in json.loads(compat.stdout)["galleries"]]
    # vectors of v2 are refused in one line, and nothing is written
    wrong = save_embeddings(
        tmp_path / "v2.safetensors",
        world["qv2"],
        generation=world["reg"].generation("v2"),
        role="document",
        ids=[f"q{i}" for i in range(len(world["qv2"]))],
    )
    refused = run_cli("gallery", "add", url, str(wrong), "--gen", "v1", env=env)
    assert "v2" in one_line_error(refused)
    with DatabaseGallery.open(url) as g:
        assert len(g) == 150


def test_a_second_client_reads_the_binding_without_embedreg_qdrant(
    world: dict[str, Any], tmp_path: Path
) -> None:
    from embedreg.gallery import build_gallery
    from qdrant_client import QdrantClient

    reg = world["reg"]
    build_gallery(
        reg, "v1", world["emb"], f"qdrant://{tmp_path}/q?collection=plain", register=False
    )
    client = QdrantClient(path=str(tmp_path / "q"))
    try:
        meta = client.get_collection("plain").config.metadata  # through the alias
        v1 = reg.generation("v1")
        assert meta["embedreg"]["generation"] == "v1"
        assert meta["embedreg"]["pin"] == v1.pin
        assert meta["embedreg"]["recipe_hash"] == v1.recipe.hash
        assert meta["embedreg"]["dimension"] == v1.dimension
    finally:
        client.close()


def test_psql_reads_the_binding_without_embedreg(
    world: dict[str, Any], tmp_path: Path, pg_uri: str
) -> None:
    import shutil
    import subprocess

    import pgserver  # type: ignore[import-untyped]
    from embedreg.gallery import build_gallery

    reg = world["reg"]
    sep = "&" if "?" in pg_uri else "?"
    build_gallery(reg, "v1", world["emb"], f"{pg_uri}{sep}table=plain", register=False)
    psql = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
    exe = str(psql) if psql.exists() else shutil.which("psql")
    assert exe, "no psql"
    sql = (
        "SELECT generation, pin, recipe_hash, dimension, metric FROM embedreg_bindings "
        "WHERE gallery = 'plain'"
    )
    out = subprocess.run(
        [exe, pg_uri, "-At", "-c", sql], capture_output=True, text=True, check=True
    ).stdout.strip()
    v1 = reg.generation("v1")
    assert out == f"v1|{v1.pin}|{v1.recipe.hash}|{v1.dimension}|ip"
    comment = subprocess.run(
        [exe, pg_uri, "-At", "-c", "SELECT obj_description('plain__v1'::regclass)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(comment)["embedreg"]["pin"] == v1.pin
    count = subprocess.run(
        [exe, pg_uri, "-At", "-c", "SELECT count(*) FROM plain"],  # the view of the newest segment
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert count == "150"


def test_a_second_client_reads_the_binding_without_embedreg_milvus(
    world: dict[str, Any], tmp_path: Path
) -> None:
    from embedreg.gallery import build_gallery
    from pymilvus import MilvusClient

    reg = world["reg"]
    db = tmp_path / "m.db"
    build_gallery(reg, "v1", world["emb"], f"milvus://{db}?collection=plain", register=False)
    client = MilvusClient(str(db))
    try:
        props = client.describe_collection("plain")["properties"]  # through the alias
        v1 = reg.generation("v1")
        assert props["embedreg.generation"] == "v1" and props["embedreg.pin"] == v1.pin
        assert props["embedreg.recipe_hash"] == v1.recipe.hash
        assert props["embedreg.dimension"] == str(v1.dimension)
    finally:
        client.close()
