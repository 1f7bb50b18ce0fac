"""``embedreg resolve``: which path a query generation takes to a gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .context import State, pass_state, registry_option
from .options import json_option, routing_options
from .output import emit_json, say

if TYPE_CHECKING:
    from embedreg.routing import RoutingPolicy


@click.command()
@click.argument("query_generation")
@click.argument("gallery_generation", required=False)
@click.option(
    "--gallery",
    "gallery_dir",
    help="A gallery folder or database URL (one path per segment).",
)
@routing_options
@json_option
@registry_option
@pass_state
def resolve(
    state: State,
    query_generation: str,
    gallery_generation: str | None,
    gallery_dir: str | None,
    policy: RoutingPolicy,
    as_json: bool,
) -> None:
    """Show the best measured path from QUERY_GENERATION to GALLERY_GENERATION (or --gallery DIR).

    Paths through an adapter that failed the compatibility criterion rank
    after the others and are flagged (a line on stderr, "criterion" in
    --json); --require-compatible refuses them.
    """
    from embedreg.routing import Resolver

    if (gallery_generation is None) == (gallery_dir is None):
        raise click.UsageError("give either GALLERY_GENERATION or --gallery DIR")
    reg = state.registry()
    resolver = Resolver(reg, policy)
    if gallery_generation is not None:
        paths = {gallery_generation: resolver.resolve(query_generation, gallery_generation)}
    else:
        from embedreg.gallery.database import DatabaseGallery
        from embedreg.gallery.locate import open_gallery
        from embedreg.routing import QueryPath

        assert gallery_dir is not None
        query = reg.generation(query_generation)
        g = open_gallery(gallery_dir)
        try:
            routes = g.routes(query, resolver=resolver)
        finally:
            if isinstance(g, DatabaseGallery):
                g.close()
        paths = {seg: p or QueryPath(query.name, seg, ()) for seg, p in routes.items()}
    for path in paths.values():
        warning = path.warning()
        if warning:
            say(f"Warning: {warning}")
    if as_json:
        emit_json(
            next(iter(paths.values())).to_dict()
            if gallery_generation is not None
            else {
                "gallery": str(gallery_dir),
                "segments": {s: p.to_dict() for s, p in paths.items()},
            }
        )
        return
    for path in paths.values():
        say(path.explain())
