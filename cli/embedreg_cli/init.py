"""``embedreg init``: create a registry."""

from __future__ import annotations

import click

from .context import State, pass_state, registry_option
from .output import say


@click.command()
@registry_option
@pass_state
def init(state: State) -> None:
    """Create an empty registry (default ./.embedreg); harmless if one exists."""
    reg = state.registry()
    if reg.init():
        say(f"Initialised an empty registry at {reg.location}")
    else:
        count = len(reg.document().generations)
        say(f"Registry at {reg.location} already exists ({count} generation(s))")
