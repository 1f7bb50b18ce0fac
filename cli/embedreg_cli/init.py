"""``embedreg init``: create a registry."""

from __future__ import annotations

import click

from .context import State, pass_state, registry_option
from .output import say


@click.command()
@click.option(
    "--private",
    is_flag=True,
    help="For a Hub registry (hf://OWNER/NAME): create its repo private.",
)
@registry_option
@pass_state
def init(state: State, private: bool) -> None:
    """Create an empty registry (default ./.embedreg); harmless if one exists."""
    reg = state.registry()
    if reg.init(private=private):
        say(f"Initialised an empty registry at {reg.location}")
    else:
        count = len(reg.document().generations)
        say(f"Registry at {reg.location} already exists ({count} generation(s))")
