"""The built wheel holds embedreg, embedreg_cli and the card templates, and nothing else on top."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("embedreg-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_top_level(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert "embedreg" in tops and "embedreg_cli" in tops
    assert "cli" not in tops and "cards" not in tops and "tests" not in tops
    assert {t for t in tops if not t.endswith(".dist-info")} == {"embedreg", "embedreg_cli"}


def test_wheel_contents(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "embedreg/py.typed" in names
    assert "embedreg_cli/main.py" in names
    assert "embedreg/cards/adapter_card.md" in names
    assert "embedreg/cards/registry_card.md" in names
    assert "embedreg/cards/st_export_card.md" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "embedreg = embedreg_cli.main:main" in text
    assert "[embedreg.stores]" in text
    metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    # sentence-transformers is an optional extra (the export), never a hard dependency
    assert "Provides-Extra: st" in metadata
    assert "Requires-Dist: sentence-transformers>=6.2; extra == 'st'" in metadata
    assert not any(
        line.startswith("Requires-Dist: sentence-transformers") and "extra ==" not in line
        for line in metadata.splitlines()
    )


def test_installed_wheel_finds_card_templates(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    target = tmp_path / "site"
    wheel.extractall(target)
    code = "from embedreg.hub.cards import card_template_path as p; print(p('adapter_card.md'))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"},
        cwd=tmp_path,
    )
    assert result.stdout.strip().startswith(str(target))
