"""``embedreg gallery`` and ``embedreg resolve`` as a user runs them, on real models and BBC News."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

FLAGS = ["--pooling", "mean", "--normalize", "--max-tokens", "128", "--no-fingerprint"]


def one_line_error(result: Any) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, v1_dir: Path, v2_dir: Path, bbc_news: Any
) -> dict[str, Any]:
    """v1 and v2 registered, 700 BBC documents, a measured v2 → v1 adapter, a v1 gallery of 300."""
    from conftest import run_cli  # type: ignore[import-not-found]

    tmp = tmp_path_factory.mktemp("gallery-cli")
    env = {"EMBEDREG_REGISTRY": str(tmp / "registry")}

    def cli(*args: str) -> Any:
        return run_cli(*args, env=env)

    assert cli("init").returncode == 0
    assert cli("gen", "add", "v1", str(v1_dir), *FLAGS).returncode == 0
    assert cli("gen", "add", "v2", str(v2_dir), *FLAGS, "--parent", "v1").returncode == 0
    import numpy as np

    picks = np.random.default_rng(0).permutation(len(bbc_news.texts))[:1040].tolist()
    rows = [
        {
            "id": f"bbc-{i}",
            "text": " ".join(bbc_news.texts[i].split())[:600],
            "label": bbc_news.labels[i],
        }
        for i in picks
    ]
    pairs = write_jsonl(tmp / "pairs.jsonl", rows[:600])  # adapter training pairs
    write_jsonl(tmp / "docs.jsonl", rows[600:900])  # the gallery: 300 items of all topics
    write_jsonl(tmp / "more.jsonl", rows[900:1000])
    for gen in ("v1", "v2"):
        run = cli("embed", gen, str(pairs), "-o", str(tmp / f"{gen}.safetensors"))
        assert run.returncode == 0, run.stderr
    trained = cli(
        "adapter",
        "train",
        "v2",
        "v1",
        "--pairs",
        str(tmp / "v2.safetensors"),
        str(tmp / "v1.safetensors"),
        "--family",
        "affine",
    )
    assert trained.returncode == 0, trained.stderr
    built = cli("gallery", "build", "v1", str(tmp / "docs.jsonl"), "-o", str(tmp / "news"))
    assert built.returncode == 0, built.stderr
    return {
        "tmp": tmp,
        "env": env,
        "labels": {r["id"]: r["label"] for r in rows},
        "queries": rows[1000:],
    }


@pytest.fixture
def cli(world: dict[str, Any]) -> Any:
    """The CLI on the module's registry."""
    from conftest import run_cli  # type: ignore[import-not-found]

    return lambda *args: run_cli(*args, env=world["env"])


def test_build_info_list(cli: Any, world: dict[str, Any]) -> None:
    folder = world["tmp"] / "news"
    info = json.loads(cli("gallery", "info", str(folder), "--json").stdout)
    assert info["count"] == 300 and info["segments"]["v1"]["count"] == 300
    assert info["segments"]["v1"]["dimension"] == 384 and info["metric"] == "ip"
    assert info["sources"][0]["kind"] == "inputs" and info["content_hash"]
    listed = json.loads(cli("gallery", "list", "--json").stdout)
    assert ("news", "v1") in [(g["name"], g["generation"]) for g in listed]


def test_search_routes_v2_queries_to_the_v1_gallery(cli: Any, world: dict[str, Any]) -> None:
    folder = world["tmp"] / "news"
    queries = world["queries"]  # forty held-out documents, none in the gallery
    run = cli(
        "gallery",
        "search",
        str(folder),
        "--gen",
        "v2",
        "-k",
        "5",
        "--json",
        *(q["text"][:300] for q in queries),
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["paths"]["v1"]["adapters"] == ["v2-to-v1.affine"]
    same_topic = [
        Counter(world["labels"][hit["id"]] for hit in hits).most_common(1)[0][0] == q["label"]
        for q, hits in zip(queries, data["results"], strict=True)
    ]
    # five topics: chance is 0.2; v1's own queries score about 0.85 on such a gallery
    assert sum(same_topic) / len(same_topic) >= 0.7, same_topic
    assert all(hit["text"] for hit in data["results"][0])
    human = cli("gallery", "search", str(folder), "--gen", "v2", "interest rates and inflation")
    assert human.returncode == 0 and human.stdout == ""
    assert "v2-to-v1.affine" in human.stderr


def test_resolve(cli: Any, world: dict[str, Any]) -> None:
    path = json.loads(cli("resolve", "v2", "v1", "--json").stdout)
    assert path["adapters"] == ["v2-to-v1.affine"] and path["quality"] > 0.5
    by_gallery = json.loads(
        cli("resolve", "v2", "--gallery", str(world["tmp"] / "news"), "--json").stdout
    )
    assert by_gallery["segments"]["v1"]["adapters"] == ["v2-to-v1.affine"]
    human = cli("resolve", "v2", "v1")
    assert "v2-to-v1.affine" in human.stderr and "retention" in human.stderr
    line = one_line_error(cli("resolve", "v1", "v2"))
    assert "'v1' to 'v2'" in line and "embedreg adapter train v2 v1 --direction forward" in line
    refused = one_line_error(cli("resolve", "v2", "v1", "--min-quality", "5"))
    assert "below the minimum" in refused


def test_add_and_remove_items(cli: Any, world: dict[str, Any]) -> None:
    folder = world["tmp"] / "news-copy"
    docs, more = str(world["tmp"] / "docs.jsonl"), str(world["tmp"] / "more.jsonl")
    built = cli("gallery", "build", "v1", docs, "-o", str(folder), "--column", "text")
    assert built.returncode == 0, built.stderr
    # the old spellings still work for one release, hidden from --help, with a note on stderr
    added = cli("gallery", "add", str(folder), more, "--text-field", "text")
    assert added.returncode == 0, added.stderr
    assert "--text-field is deprecated; use --column" in added.stderr
    helped = cli("gallery", "add", "--help").stdout
    assert "--column" in helped and "--id-column" in helped and "--text-field" not in helped
    assert json.loads(cli("gallery", "info", str(folder), "--json").stdout)["count"] == 400
    gone = cli("gallery", "search", str(folder), "--gen", "v1", "--json", "-k", "2", "x y z")
    first, second = (hit["id"] for hit in json.loads(gone.stdout)["results"][0])
    removed = cli("gallery", "rm", str(folder), first, second)
    assert removed.returncode == 0 and "Removed 2" in removed.stderr
    assert json.loads(cli("gallery", "info", str(folder), "--json").stdout)["count"] == 398
    assert "not in the gallery" in one_line_error(cli("gallery", "rm", str(folder), first))
    again = cli("gallery", "add", str(folder), str(world["tmp"] / "more.jsonl"))
    assert again.returncode == 0 and "No new items" in again.stderr  # the same file: a rerun
    # issue 26 #4: items are told apart by id, so adding docs.jsonl again restores the two removed
    restored = cli("gallery", "add", str(folder), str(world["tmp"] / "docs.jsonl"))
    assert restored.returncode == 0 and "Added 2 item(s)" in restored.stderr, restored.stderr
    assert json.loads(cli("gallery", "info", str(folder), "--json").stdout)["count"] == 400
    assert (
        "holds the items"
        in cli("gallery", "add", str(folder), str(world["tmp"] / "docs.jsonl")).stderr
    )
    overlap = world["tmp"] / "overlap.jsonl"  # another file, with an id the gallery has
    overlap.write_text((world["tmp"] / "docs.jsonl").read_text().splitlines()[5] + "\n")
    assert "already taken" in one_line_error(cli("gallery", "add", str(folder), str(overlap)))
    taken = cli("gallery", "add", str(folder), str(overlap), "--id-field", "id")
    assert taken.returncode == 1 and "already taken" in taken.stderr
    assert "--id-field is deprecated; use --id-column" in taken.stderr


def test_build_from_embeddings_file_checks_its_generation(cli: Any, world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    ok = cli("gallery", "build", "v1", str(tmp / "v1.safetensors"), "-o", str(tmp / "fromfile"))
    assert ok.returncode == 0, ok.stderr
    info = json.loads(cli("gallery", "info", str(tmp / "fromfile"), "--json").stdout)
    assert info["count"] == 600 and info["sources"][0]["kind"] == "embeddings"
    line = one_line_error(
        cli("gallery", "build", "v1", str(tmp / "v2.safetensors"), "-o", str(tmp / "wrong"))
    )
    assert "v2" in line and "v1" in line
    assert not (tmp / "wrong" / "gallery.json").exists()
    taken = one_line_error(
        cli("gallery", "build", "v1", str(tmp / "v1.safetensors"), "-o", str(tmp / "news"))
    )
    assert "already taken" in taken


def test_search_without_a_path_fails_before_the_model_loads(tmp_path: Path) -> None:
    """Issue 14 #15: no possible path is said at once, not after loading the query model.

    The generations are Hub repos that cannot be fetched here: had the query
    model been loaded first, the error would be another one, 25 s later.
    """
    import numpy as np
    from embedreg import Registry
    from embedreg.data.embeddings import save_embeddings

    from conftest import run_cli  # type: ignore[import-not-found]

    env = {"EMBEDREG_REGISTRY": str(tmp_path / "reg")}

    def cli(*args: str) -> Any:
        return run_cli(*args, env=env)

    assert cli("init").returncode == 0
    for name in ("g1", "g2"):
        hub = [f"org/{name}", "--revision", "1" * 40, "--dim", "8", "--no-fingerprint"]
        assert cli("gen", "add", name, *hub).returncode == 0
    vectors = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    g1 = Registry.open(tmp_path / "reg").generation("g1")
    save_embeddings(tmp_path / "g1.safetensors", vectors, generation=g1, role="document")
    built = cli(
        "gallery", "build", "g1", str(tmp_path / "g1.safetensors"), "-o", str(tmp_path / "gal")
    )
    assert built.returncode == 0, built.stderr
    error = one_line_error(cli("gallery", "search", str(tmp_path / "gal"), "--gen", "g2", "x"))
    assert "no compatible path from generation 'g2' to 'g1'" in error


def test_an_orphaned_gallery_can_be_registered_again(tmp_path: Path) -> None:
    """Issue 14 #5: `gen rm --force` leaves the folder; `gallery register DIR` attaches it again."""
    import numpy as np
    from embedreg import Registry
    from embedreg.data.embeddings import save_embeddings

    from conftest import run_cli  # type: ignore[import-not-found]

    env = {"EMBEDREG_REGISTRY": str(tmp_path / "reg")}

    def cli(*args: str) -> Any:
        return run_cli(*args, env=env)

    hub = ["org/g1", "--revision", "1" * 40, "--dim", "8", "--no-fingerprint"]
    assert cli("init").returncode == 0 and cli("gen", "add", "g1", *hub).returncode == 0
    vectors = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    g1 = Registry.open(tmp_path / "reg").generation("g1")
    save_embeddings(tmp_path / "g1.safetensors", vectors, generation=g1, role="document")
    folder = tmp_path / "news"
    assert (
        cli(
            "gallery", "build", "g1", str(tmp_path / "g1.safetensors"), "-o", str(folder)
        ).returncode
        == 0
    )
    removed = cli("gen", "rm", "g1", "--force")
    assert (
        removed.returncode == 0
        and "gallery records removed (folders untouched): news" in removed.stderr
    )
    assert (folder / "gallery.json").is_file()
    assert (
        cli(
            "gen", "add", "g1", "org/g1", "--revision", "2" * 40, "--dim", "8", "--no-fingerprint"
        ).returncode
        == 0
    )
    other = one_line_error(cli("gallery", "register", str(folder)))
    assert "pinned org/g1@1111" in other and "re-embed" in other  # another model under that name
    assert cli("gen", "rm", "g1").returncode == 0
    assert cli("gen", "add", "g1", *hub).returncode == 0
    registered = cli("gallery", "register", str(folder))
    assert registered.returncode == 0, registered.stderr
    assert "Registered gallery news (g1)" in registered.stderr
    assert cli("gallery", "register", str(folder)).returncode == 0  # again: harmless
    listed = json.loads(cli("gallery", "list", "--json").stdout)
    assert [(g["name"], g["generation"]) for g in listed] == [("news", "g1")]
