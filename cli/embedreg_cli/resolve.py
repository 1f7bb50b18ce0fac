"""``embedreg resolve``: which path a query generation takes to a gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .context import State, pass_state, registry_option
from .kinds import only_maps, path_kind_options
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
@path_kind_options
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
    --json); --require-compatible refuses them.  Besides the compiled map, an
    adapter trained with labels offers a fused path and cascades (--paths):
    the best by held-out quality within --max-query-cost is chosen, and why.
    """
    from embedreg.routing import Resolver

    if (gallery_generation is None) == (gallery_dir is None):
        raise click.UsageError("give either GALLERY_GENERATION or --gallery DIR")
    reg = state.registry()
    if not only_maps(policy):
        _resolve_kinds(reg, query_generation, gallery_generation, gallery_dir, policy, as_json)
        return
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


def _resolve_kinds(
    reg: Any,
    query_generation: str,
    gallery_generation: str | None,
    gallery_dir: str | None,
    policy: RoutingPolicy,
    as_json: bool,
) -> None:
    """``resolve`` choosing among path kinds (map, fused, cascade)."""
    from embedreg.routing.kinds import RoutedPath, resolve_kind

    routes: dict[str, RoutedPath | None]
    if gallery_generation is not None:
        routes = {
            gallery_generation: resolve_kind(reg, query_generation, gallery_generation, policy)
        }
    else:
        from embedreg.gallery.database import DatabaseGallery
        from embedreg.gallery.kinded import route_kinds
        from embedreg.gallery.locate import open_gallery

        assert gallery_dir is not None
        g = open_gallery(gallery_dir)
        try:
            routes = dict(route_kinds(g, reg.generation(query_generation), reg, policy))
        finally:
            if isinstance(g, DatabaseGallery):
                g.close()
    for route in routes.values():
        if route is None:
            continue
        note = route.unavailable_note()
        if note:
            say(f"Note: {note}")
        if route.criterion == "fail":
            say(f"Warning: {route.note()} fails the compatibility criterion on held-out data")
    if as_json:
        if gallery_generation is not None:
            only = routes[gallery_generation]
            assert only is not None
            emit_json(only.to_dict())
        else:
            emit_json(
                {
                    "gallery": str(gallery_dir),
                    "segments": {
                        s: (r.to_dict() if r else {"kind": "map", "quality": 1.0, "adapters": []})
                        for s, r in routes.items()
                    },
                }
            )
        return
    for segment, route in routes.items():
        say(route.explain() if route else f"{query_generation} → {segment}: same space, no mapping")
