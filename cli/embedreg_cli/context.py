"""Shared CLI state: which registry the command works on (``--registry``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from embedreg.constants import ENV_REGISTRY
from embedreg.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """Options of the root command that subcommands need."""

    registry_location: str | None = None
    opened: list[Registry] = field(default_factory=list)

    def registry(self) -> Registry:
        """Open the chosen registry (``--registry``, ``$EMBEDREG_REGISTRY``, ``./.embedreg``)."""
        reg = Registry.open(self.registry_location)
        self.opened.append(reg)
        return reg

    def notices(self) -> list[str]:
        """Lines the opened registries' stores want the user to see (once each)."""
        seen: list[str] = []
        for reg in self.opened:
            note = reg.store.notice
            if note and note not in seen:
                seen.append(note)
        return seen


pass_state = click.make_pass_decorator(State, ensure=True)


def _set_registry(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(State).registry_location = value


def registry_option(fn: F) -> F:
    """``--registry DIR``, accepted after a subcommand as well as before it."""
    return click.option(
        "--registry",
        "-r",
        metavar="DIR",
        expose_value=False,
        is_eager=True,
        callback=_set_registry,
        help=f"Registry directory or URL (default: ${ENV_REGISTRY}, else ./.embedreg).",
    )(fn)
