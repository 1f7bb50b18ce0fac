"""``embedreg compatible``: the registered galleries (and generations) a query generation can search."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .context import State, pass_state, registry_option
from .kinds import path_kind_options
from .options import json_option, routing_options
from .output import emit_json, say, say_plain, show, table

if TYPE_CHECKING:
    from embedreg.routing import RoutingPolicy


def _ci(interval: object) -> str:
    from embedreg.evaluation import Interval

    return interval.format() if isinstance(interval, Interval) else "—"


@click.command()
@click.argument("generation")
@routing_options
@path_kind_options
@json_option
@registry_option
@pass_state
def compatible(
    state: State,
    generation: str,
    policy: RoutingPolicy,
    as_json: bool,
) -> None:
    """List the registered galleries GENERATION's queries can search, and the generations they reach.

    Each gallery comes with its folder, the generation(s) that embedded it,
    the path, its quality (1.0 = as good as the gallery's own queries) with
    the basis it was measured on and a 95 % interval, and the compatibility
    criterion's verdict.
    """
    from embedreg.reports import compatible as lookup

    found = lookup(
        generation,
        registry=state.registry(),
        policy=policy,
    )
    if as_json:
        emit_json(found.to_dict())
        return
    if found.galleries:
        tbl = table(
            "GALLERY",
            "GENERATION",
            "PATH",
            "KIND",
            "QUALITY",
            "BASIS",
            "95% CI",
            "CRITERION",
            title=f"galleries {found.query} queries can search",
        )
        for g in found.galleries:
            tbl.add_row(
                g.name,
                ", ".join(g.generations),
                " → ".join(g.path.adapter_ids) or "no mapping",
                g.kind_label(),
                f"{g.quality:.3f}",
                g.basis,
                _ci(g.interval),
                g.criterion,
            )
        show(tbl)
        for g in found.galleries:
            say_plain(f"  {g.name}: {g.folder}")
    else:
        say(f"No registered gallery can be searched with {found.query} queries.")
    for u in found.unreachable:
        say_plain(f"  not {u.name} ({u.generation}): {u.reason}")
    gens = table(
        "GENERATION", "PATH", "QUALITY", "BASIS", "CRITERION", title="generations reachable"
    )
    for p in found.generations:
        gens.add_row(
            p.gallery,
            " → ".join(p.adapter_ids) or "no mapping",
            f"{p.quality:.3f}",
            p.basis,
            p.criterion,
        )
    show(gens)
