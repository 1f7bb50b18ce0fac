"""``import embedreg`` and ``embedreg --help`` stay fast: no torch, transformers or faiss."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "faiss", "sentence_transformers")

PROBE = """
import sys
{action}
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(",".join(heavy))
"""


def run(action: str) -> str:
    code = PROBE.format(action=action, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_embedreg_is_light() -> None:
    assert run("import embedreg, embedreg.errors, embedreg.adapters") == ""


def test_import_export_is_light() -> None:
    """sentence-transformers (the st extra) loads only when a model is built or loaded."""
    assert run("import embedreg.export; embedreg.export.export_sentence_transformers") == ""


def test_cli_help_is_light() -> None:
    action = (
        "from embedreg_cli.main import cli\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for args in (['--help'], ['gen', '--help'], ['alias', '--help']):\n"
        "        try:\n"
        "            cli.main(args=args, prog_name='embedreg', standalone_mode=False)\n"
        "        except SystemExit:\n"
        "            pass\n"
    )
    assert run(action) == ""


def test_every_cli_help_is_light() -> None:
    """Every subcommand's --help, however the CLI grows."""
    action = (
        "import click, contextlib, io\n"
        "from embedreg_cli.main import cli\n"
        "def walk(cmd, path):\n"
        "    yield path\n"
        "    if isinstance(cmd, click.Group):\n"
        "        for name, sub in cmd.commands.items():\n"
        "            yield from walk(sub, path + [name])\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for path in walk(cli, []):\n"
        "        try:\n"
        "            cli.main(args=path + ['--help'], prog_name='embedreg', standalone_mode=False)\n"
        "        except SystemExit:\n"
        "            pass\n"
    )
    assert run(action) == ""
