"""``embedreg alias``: named pointers to generations (latest, production …)."""

from __future__ import annotations

import click

from .context import State, pass_state, registry_option
from .options import json_option
from .output import emit_json, say, show, table


@click.group()
def alias() -> None:
    """Manage aliases such as 'production' that point to a generation."""


@alias.command("set")
@click.argument("name")
@click.argument("generation")
@registry_option
@pass_state
def set_(state: State, name: str, generation: str) -> None:
    """Point alias NAME at GENERATION (a name or another alias)."""
    target = state.registry().set_alias(name, generation)
    say(f"Alias {name} → {target}")


@alias.command("rm")
@click.argument("name")
@registry_option
@pass_state
def rm(state: State, name: str) -> None:
    """Remove alias NAME (the generation stays)."""
    target = state.registry().remove_alias(name)
    say(f"Removed alias {name} (was → {target})")


@alias.command("list")
@json_option
@registry_option
@pass_state
def list_(state: State, as_json: bool) -> None:
    """List aliases and the generations they point to."""
    aliases = state.registry().aliases()
    if as_json:
        emit_json(aliases)
        return
    if not aliases:
        say("No aliases.")
        return
    tbl = table("ALIAS", "GENERATION")
    for name, target in aliases.items():
        tbl.add_row(name, target)
    show(tbl)
