"""``embedreg upgrade`` on the command line: JSON on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli  # type: ignore[import-not-found]
from planted import planted_world  # type: ignore[import-not-found]


@pytest.fixture
def planted(tmp_path: Path) -> dict[str, Any]:
    world: dict[str, Any] = planted_world(tmp_path)
    return world


def one_line_error(result: Any) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_upgrade_commands(planted: dict[str, Any], tmp_path: Path) -> None:
    env = {"EMBEDREG_REGISTRY": str(Path(planted["folder"]).parent / "reg")}
    folder = str(planted["folder"])

    def cli(*args: str) -> Any:
        return run_cli(*args, env=env)

    line = one_line_error(cli("upgrade", "resume", folder))
    assert "no upgrade job to resume" in line and "embedreg upgrade apply" in line
    assert "no gallery" in one_line_error(cli("upgrade", "status", str(tmp_path / "none")))
    plan = json.loads(
        cli("upgrade", "plan", folder, "--to", "v2", "--sample", "0", "--json").stdout
    )
    assert [r["strategy"] for r in plan["strategies"]] == [
        "adapt-queries",
        "forward",
        "partial",
        "reembed",
        "adapt-queries:fused",
        "adapt-queries:cascade",
    ]
    done = cli("upgrade", "apply", folder, "--to", "v2", "--strategy", "forward", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["segments"] == {"v2": 200}
    again = one_line_error(cli("upgrade", "apply", folder, "--to", "v2", "--strategy", "forward"))
    assert "kept for rollback" in again and "embedreg upgrade finalize" in again
    status = json.loads(cli("upgrade", "status", folder, "--json").stdout)
    assert status["state"] == "done" and status["previous"]["version"] == 1
    back = cli("upgrade", "rollback", folder, "--json")
    assert back.returncode == 0 and json.loads(back.stdout)["action"] == "restored"
    assert "no upgrade" in one_line_error(cli("upgrade", "finalize", folder))
    usage = cli("upgrade", "apply", folder, "--to", "v2", "--strategy", "sideways")
    assert usage.returncode == 2
