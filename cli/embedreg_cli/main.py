"""Root of the ``embedreg`` command: options, error handling, subcommands.

A library error (:class:`embedreg.errors.EmbedRegError`) is printed as one
line on stderr, ``Error: <what is wrong>; <what to do>``, and the command
exits with status 1.  Set ``EMBEDREG_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import click
from embedreg import __version__
from embedreg.constants import ENV_DEBUG, ENV_HF_PROGRESS
from embedreg.errors import EmbedRegError

from . import (
    adapter,
    alias,
    compatible,
    embed,
    evaluate,
    export,
    gallery,
    gen,
    hub,
    init,
    resolve,
    upgrade,
)
from .context import State, registry_option


def _debug() -> bool:
    return os.environ.get(ENV_DEBUG, "").lower() not in ("", "0", "false", "no")


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _notices(ctx: click.Context) -> None:
    """What the stores had to say about their reads (e.g. an offline cached state)."""
    state = ctx.find_object(State)
    for line in state.notices() if state is not None else []:
        click.echo(f"Note: {line}", err=True)


class RootGroup(click.Group):
    """A click group that turns library errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            _notices(ctx)
            return result
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except EmbedRegError as exc:
            if _debug():
                raise
            _fail(str(exc).replace("\n", " "))
        except OSError as exc:
            if _debug():
                raise
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            hint = (
                "free some space on that disk and run again"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
                else "check the path and its permissions"
            )
            _fail(f"{exc.strerror or exc}{where}; {hint}")
        except Exception as exc:  # a bug: say so in one line, keep the traceback for debug
            if _debug():
                raise
            _fail(
                f"internal error {type(exc).__name__}: {exc}; "
                f"rerun with {ENV_DEBUG}=1 for the traceback and report it"
            )


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", "-V", prog_name="embedreg", message="%(prog)s %(version)s"
)
@registry_option
@click.pass_context
def cli(ctx: click.Context) -> None:
    """embedreg: the version manager for embedding models.

    Register pinned model generations, train and measure adapters between
    them, route queries of one generation to galleries of another, and
    upgrade galleries to new generations.
    Listings take --json (pure JSON on stdout); messages go to stderr.
    """
    ctx.ensure_object(State)


cli.add_command(init.init)
cli.add_command(gen.gen)
cli.add_command(alias.alias)
cli.add_command(embed.embed)
cli.add_command(adapter.adapter)
cli.add_command(gallery.gallery)
cli.add_command(resolve.resolve)
cli.add_command(hub.push)
cli.add_command(hub.pull)
gen.gen.add_command(hub.check_updates)
adapter.adapter.add_command(hub.publish)
adapter.adapter.add_command(hub.pull_adapter)
cli.add_command(upgrade.upgrade)
cli.add_command(compatible.compatible)
cli.add_command(evaluate.evaluate)
cli.add_command(export.export)


def main(args: list[str] | None = None) -> None:
    """Console-script entry point."""
    # The command line shows its own progress: huggingface_hub's bars (and transformers',
    # which follow them) would interleave with it, and would reach logs and --json runs.
    # Forced, not defaulted: a user's HF_HUB_DISABLE_PROGRESS_BARS=0 must not bring them back.
    os.environ[ENV_HF_PROGRESS] = "1"
    cli.main(args=args, prog_name="embedreg")
