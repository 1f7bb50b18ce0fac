"""One CLI vocabulary: the shared options, read from the command tree itself (no model runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
from click.testing import CliRunner
from embedreg.data import InputColumns

from embedreg_cli.main import cli
from embedreg_cli.options import column_options

#: Commands whose inputs carry no labels they keep: a gallery stores ids and texts.
NO_LABELS = {"gallery build", "gallery add"}


def _commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path + " ")
        else:
            yield path, command


def _options(command: click.Command) -> dict[str, click.Option]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


def test_every_command_that_reads_inputs_takes_the_same_column_options() -> None:
    readers = {path: _options(c) for path, c in _commands() if "--column" in _options(c)}
    assert {"embed", "eval matrix", "eval backfill", "adapter train", "gallery build"} <= set(
        readers
    )
    for path, options in readers.items():
        assert options["--column"].name == "text_field", path
        assert options["--id-column"].name == "id_field", path
        if path in NO_LABELS:
            assert "--label-column" not in options, path
        else:
            assert options["--label-column"].name == "label_field", path
    # the old spellings exist only as hidden aliases
    for path, command in _commands():
        for old in ("--text-field", "--id-field"):
            if old in _options(command):
                assert _options(command)[old].hidden, (path, old)


def test_shared_options_are_one_declaration() -> None:
    """--device, --num-processes and --image-column read alike in every command.

    (``--batch-size`` is two things: texts per forward pass, and pairs per
    training step in ``adapter train``.)
    """
    for flag in ("--device", "--num-processes", "--image-column"):
        seen = {
            (o.name, o.default, o.type.name, (o.help or "").split(": ")[-1])
            for _, c in _commands()
            if (o := _options(c).get(flag)) is not None
        }
        assert len(seen) == 1, (flag, seen)


def test_column_options_pass_one_input_columns_and_old_spellings_warn() -> None:
    got: list[Any] = []

    @click.command()
    @column_options(images=True, aliases=True)
    def read(columns: InputColumns) -> None:
        got.append(columns)

    runner = CliRunner()
    plain = runner.invoke(read, ["--column", "body", "--label-column", "topic"])
    assert plain.exit_code == 0 and plain.stderr == ""
    assert got[-1] == InputColumns(text="body", label="topic")
    old = runner.invoke(read, ["--text-field", "body", "--id-field", "key"])
    assert old.exit_code == 0
    assert got[-1] == InputColumns(text="body", id="key")
    assert "--text-field is deprecated; use --column" in old.stderr
    assert "--id-field is deprecated; use --id-column" in old.stderr
