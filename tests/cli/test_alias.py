from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., subprocess.CompletedProcess[str]]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_alias_set_list_rm(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    assert (
        cli(
            "gen", "add", "v1", "org/model", "--revision", COMMIT, "--dim", "8", "--no-fingerprint"
        ).returncode
        == 0
    )
    assert cli("alias", "set", "production", "v1").returncode == 0
    assert json.loads(cli("alias", "list", "--json").stdout) == {"latest": "v1", "production": "v1"}
    assert cli("alias", "rm", "production").returncode == 0
    assert json.loads(cli("alias", "list", "--json").stdout) == {"latest": "v1"}


def test_alias_to_unknown_generation(cli: Cli, registry_dir: Path) -> None:
    cli("init")
    result = cli("alias", "set", "production", "v7")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: unknown generation 'v7'")
