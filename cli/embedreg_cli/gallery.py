"""``embedreg gallery``: FAISS galleries bound to generations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from embedreg.constants import MergeMode

from .context import State, pass_state, registry_option
from .kinds import path_kind_options
from .options import (
    batch_size_option,
    column_options,
    device_option,
    json_option,
    routing_options,
    stack,
)
from .output import emit_json, say, show, table
from .progress import progress_bar

if TYPE_CHECKING:
    from embedreg.data import InputColumns
    from embedreg.routing import RoutingPolicy

INDEX_KINDS = ("flat", "hnsw", "ivfpq")


#: Options of the commands that read items from a file (``--text-field`` and
#: ``--id-field`` stay as hidden, deprecated spellings of ``--column``/``--id-column``).
#: No ``--label-column``: a gallery keeps each item's id and text, never a label
#: (labels serve measuring, ``eval`` and ``adapter train``; a gallery is searched).
source_options = stack(column_options(labels=False, aliases=True), batch_size_option, device_option)


@click.group()
def gallery() -> None:
    """Build, inspect, change and search galleries (FAISS indexes bound to generations)."""


@gallery.command("build")
@click.argument("generation")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    help="Gallery to create: a folder, or a database URL (qdrant:///PATH, "
    "qdrant://HOST:PORT/NAME, milvus:///FILE.db, postgresql://USER@HOST/DB?table=NAME).",
)
@click.option(
    "--index", "index_kind", type=click.Choice(INDEX_KINDS), default="flat", show_default=True
)
@click.option(
    "--metric",
    type=click.Choice(("ip", "l2")),
    default="ip",
    show_default=True,
    help="Inner product (cosine for normalised vectors) or L2.",
)
@click.option("--name", help="Registry name of the gallery (default: the folder's name).")
@source_options
@registry_option
@pass_state
def build(
    state: State,
    generation: str,
    source: Path,
    out: str,
    index_kind: str,
    metric: str,
    name: str | None,
    columns: InputColumns,
    batch_size: int,
    device: str,
) -> None:
    """Build a gallery of GENERATION from SOURCE: raw inputs (.txt/.jsonl/.csv), an embeddings
    file, or images (a folder, or a .jsonl/.csv list with an 'image' column) that a two-tower
    GENERATION's image tower embeds."""
    from embedreg.data.images import is_image_input
    from embedreg.gallery import build_gallery
    from embedreg.gallery.crossmodal import build_image_gallery
    from embedreg.gallery.locate import is_url

    if is_url(out) and index_kind != "flat":
        raise click.UsageError("a database gallery is searched exactly: leave --index at flat")
    if is_image_input(source):
        with progress_bar(f"Embedding images for {out}") as update:
            g = build_image_gallery(
                state.registry(),
                generation,
                source,
                out,
                index=index_kind,
                metric=metric,
                name=name,
                id_field=columns.id,
                device=device,
                batch_size=batch_size,
                progress=update,
            )
        say(
            f"Gallery [bold]{g.name}[/] at {out}: {len(g)} images of {generation} "
            f"(its image tower), {g.index_spec.kind} {g.metric} index"
        )
        return
    with progress_bar(f"Building {out}") as update:
        g = build_gallery(
            state.registry(),
            generation,
            source,
            out,
            index=index_kind,
            metric=metric,
            name=name,
            text_field=columns.text,
            id_field=columns.id,
            device=device,
            batch_size=batch_size,
            progress=update,
        )
    say(
        f"Gallery [bold]{g.name}[/] at {out}: {len(g)} items of {generation}, "
        f"{g.index_spec.kind} {g.metric} index"
    )


@gallery.command("info")
@click.argument("folder")
@json_option
def info(folder: str, as_json: bool) -> None:
    """Show a gallery's generation(s), index, counts and hashes (FOLDER: a folder or URL)."""
    from embedreg.gallery.database import DatabaseGallery
    from embedreg.gallery.locate import open_gallery

    g = open_gallery(folder)
    data = g.info()
    if isinstance(g, DatabaseGallery):
        g.close()
    if as_json:
        emit_json(data)
        return
    tbl = table(
        "SEGMENT", "GENERATION PIN", "DIM", "ITEMS", title=f"gallery {data['name']} ({folder})"
    )
    for name, seg in data["segments"].items():
        tbl.add_row(name, seg["pin"], str(seg["dimension"]), str(seg["count"]))
    show(tbl)
    say(f"index {data['index']['kind']}, metric {data['metric']}, {data['count']} items")
    if data.get("content_hash"):  # a database gallery keeps none
        say(f"content hash {data['content_hash']}")
    say(f"created {data['created']}, updated {data['updated']}")
    for src in data["sources"]:
        if src.get("kind") == "upgrade":
            say(
                f"upgrade: to {src.get('to')} ({src.get('strategy')}, job {src.get('job')}, {src.get('at')})"
            )
        elif src.get("kind") == "write-back":
            say(
                f"source: write-back, {src.get('items')} item(s) moved into segment "
                f"{src.get('generation')} by searches"
            )
        else:
            say(f"source: {src['kind']} {src.get('path')}")


@gallery.command("add")
@click.argument("folder")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--gen",
    "generation",
    help="Generation that embeds the items (default: the gallery's only one); "
    "a generation the gallery has no segment of starts a new segment.",
)
@source_options
@registry_option
@pass_state
def add(
    state: State,
    folder: str,
    source: Path,
    generation: str | None,
    columns: InputColumns,
    batch_size: int,
    device: str,
) -> None:
    """Add the items of SOURCE (raw inputs or an embeddings file) to the gallery in FOLDER."""
    from embedreg.gallery import add_to_gallery

    with progress_bar(f"Adding to {folder}") as update:
        added = add_to_gallery(
            state.registry(),
            folder,
            source,
            generation=generation,
            text_field=columns.text,
            id_field=columns.id,
            device=device,
            batch_size=batch_size,
            progress=update,
        )
    if added == 0:
        say(f"No new items: {folder} holds the items of {source} already")
        return
    say(f"Added {added} item(s) to {folder}")


@gallery.command("rm")
@click.argument("folder")
@click.argument("ids", nargs=-1, required=True)
def rm(folder: str, ids: tuple[str, ...]) -> None:
    """Remove items by id from the gallery in FOLDER."""
    from embedreg.gallery import remove_from_gallery

    removed = remove_from_gallery(folder, ids)
    say(f"Removed {removed} item(s) from {folder}")


@gallery.command("register")
@click.argument("folder")
@click.option("--name", help="Registry name (default: the gallery's own, else the folder's).")
@registry_option
@pass_state
def register(state: State, folder: str, name: str | None) -> None:
    """Register the existing gallery in FOLDER (e.g. after 'gen rm --force' removed its record)."""
    from embedreg.gallery import register_gallery

    record = register_gallery(state.registry(), folder, name=name)
    say(f"Registered gallery [bold]{record.name}[/] ({record.generation}) at {record.location}")


@gallery.command("list")
@json_option
@registry_option
@pass_state
def list_(state: State, as_json: bool) -> None:
    """List the galleries the registry knows."""
    records = state.registry().galleries()
    if as_json:
        emit_json([r.to_dict() for r in records])
        return
    if not records:
        say("No galleries registered: build one with 'embedreg gallery build GEN INPUT -o DIR'.")
        return
    tbl = table("NAME", "GENERATION", "LOCATION", "CREATED")
    for r in records:
        tbl.add_row(r.name, r.generation, r.location, r.created)
    show(tbl)


@gallery.command("search")
@click.argument("folder")
@click.argument("queries", nargs=-1)
@click.option("--gen", "generation", required=True, help="Generation that embeds the queries.")
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An image file as a query, embedded by --gen's image tower (repeatable).",
)
@click.option(
    "-k", type=click.IntRange(min=1), default=10, show_default=True, help="Results per query."
)
@device_option
@click.option(
    "--merge",
    type=click.Choice(MergeMode.values()),
    default="auto",
    show_default=True,
    help="How segments' results merge: calibrated scores (auto, when the gallery has them), "
    "raw scores, or reciprocal-rank fusion.",
)
@routing_options
@path_kind_options
@click.option(
    "--write-back",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With a cascade: move up to N of each query's re-scored candidates into the query "
    "generation's segment (the gallery upgrades as it is searched).",
)
@json_option
@registry_option
@pass_state
def search(
    state: State,
    folder: str,
    queries: tuple[str, ...],
    generation: str,
    images: tuple[Path, ...],
    k: int,
    device: str,
    merge: str,
    policy: RoutingPolicy,
    write_back: int,
    as_json: bool,
) -> None:
    """Search the gallery in FOLDER with QUERIES embedded by --gen, routed to each segment.

    A path through an adapter that failed the compatibility criterion is
    flagged (a line on stderr, and "criterion" in --json); --require-compatible
    refuses it.  With --image FILE the queries are images; a path through an
    adapter measured on text only is flagged when it serves image queries or
    a gallery of images, until 'adapter measure-images' records image figures.
    Text queries may take a fused path or a cascade (--paths, default any;
    a database gallery's too); the path kind is named on stderr and in --json.
    """
    from embedreg.gallery.database import DatabaseGallery
    from embedreg.gallery.locate import open_gallery
    from embedreg.routing import Resolver

    if bool(queries) == bool(images):
        raise click.UsageError("give query texts or --image FILE (not both)")
    reg = state.registry()
    g = open_gallery(folder)
    try:
        _search(
            g,
            reg,
            queries,
            images,
            generation,
            k,
            device,
            merge,
            as_json,
            Resolver(reg, policy),
            policy,
            write_back,
        )
    finally:
        if isinstance(g, DatabaseGallery):
            g.close()


def _search(
    g: Any,
    reg: Any,
    queries: tuple[str, ...],
    images: tuple[Path, ...],
    generation: str,
    k: int,
    device: str,
    merge: str,
    as_json: bool,
    resolver: Any,
    policy: Any = None,
    write_back: int = 0,
) -> None:
    from embedreg.gallery import search_gallery
    from embedreg.gallery.crossmodal import gallery_towers, search_images, tower_warnings
    from embedreg.registry import Tower

    options: dict[str, Any] = {
        "generation": generation,
        "k": k,
        "resolver": resolver,
        "device": device,
        "merge": merge,
    }
    if images:
        hits = search_images(reg, g, list(images), **options)
        queries = tuple(str(p) for p in images)
    else:
        hits = search_gallery(
            reg, g, list(queries), **options, policy=policy, write_back=write_back
        )
    routes = hits.kinds
    for route in routes.values():
        note = route.unavailable_note()
        if note:
            say(f"Note: {note}")
    for segment, route in routes.items():
        say(f"segment {segment}: {route.note()}")
    if hits.written:
        say(f"wrote back {hits.written} item(s) into segment {generation}")
    query_tower = Tower.IMAGE if images else Tower.TEXT
    flags = tower_warnings(hits, query=query_tower, gallery=gallery_towers(g))
    for warning in [*hits.warnings(), *flags]:
        say(f"Warning: {warning}")
    if as_json:
        data = hits.to_dict()
        for rows in data["results"]:
            for row in rows:
                row["text"] = g.item(row["id"]).text
        data["queries"] = list(queries)
        data["warnings"] = [*data["warnings"], *flags]
        emit_json(data)
        return
    for segment, path in hits.paths.items():
        if segment not in routes:
            say(f"segment {segment}: {path.explain().splitlines()[0]}")
    for query, ids, scores, segs in zip(
        queries, hits.ids, hits.scores, hits.segments, strict=False
    ):
        tbl = table("#", "ID", "SCORE", "SEGMENT", "TEXT", title=f"query: {query}")
        for rank, (item_id, score, seg) in enumerate(zip(ids, scores, segs, strict=False), 1):
            text = g.item(item_id).text or ""
            tbl.add_row(
                str(rank), item_id, f"{score:.4f}", seg, text[:80] + ("…" if len(text) > 80 else "")
            )
        show(tbl)
