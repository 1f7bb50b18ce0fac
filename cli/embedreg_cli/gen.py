"""``embedreg gen``: register, list, show and remove generations."""

from __future__ import annotations

from typing import Any

import click
from embedreg.registry import MODALITIES, POOLING_MODES, Generation, RegistryDocument

from .context import State, pass_state, registry_option
from .options import device_option, json_option
from .output import console, emit_json, say, short_pin, show, table


@click.group()
def gen() -> None:
    """Manage embedding-model generations (pinned model + encode recipe)."""


def _aliases_of(doc: RegistryDocument, name: str) -> list[str]:
    return sorted(a for a, target in doc.aliases.items() if target == name)


def _fingerprint_summary(g: Generation) -> str:
    fp = g.fingerprint
    if fp is None:
        return f"— (record one with 'embedreg gen fingerprint {g.name}')"
    return f"{fp.probe_set}, {fp.precision} on {fp.device}, {fp.created}"


def _summary(g: Generation) -> str:
    norm = "normalised" if g.recipe.normalize else "not normalised"
    ref = getattr(g.source, "resolved_from", None)
    src = f"{g.source.kind} {short_pin(g.pin)}" + (f" (from {ref})" if ref else "")
    towers = " (text and image towers, one space)" if g.modality == "text+image" else ""
    return (
        f"{src}, {g.dimension}-d{towers}, {g.recipe.pooling} pooling, "
        f"{norm}, max {g.recipe.max_tokens} tokens"
    )


@gen.command("add")
@click.argument("name")
@click.argument("model")
@click.option(
    "--revision",
    help="For a Hub repo id: a branch, tag or commit (default: main), pinned to the commit "
    "it points to now.",
)
@click.option(
    "--pooling",
    type=click.Choice(POOLING_MODES),
    help="Pooling (default: from the folder, else mean).",
)
@click.option(
    "--normalize/--no-normalize",
    default=None,
    help="L2-normalise vectors (default: from the folder, else yes).",
)
@click.option("--query-prefix", help="Text prepended to queries.")
@click.option("--doc-prefix", help="Text prepended to documents.")
@click.option(
    "--max-tokens", type=click.IntRange(min=1), help="Truncate inputs to this many tokens."
)
@click.option(
    "--dim",
    "dimension",
    type=click.IntRange(min=1),
    help="Embedding dimension (read from the folder when it says).",
)
@click.option(
    "--modality",
    type=click.Choice(MODALITIES),
    help="Default: read from the model (text+image for CLIP-like two-tower models, else text).",
)
@click.option("--parent", help="The generation this one succeeds.")
@click.option("--notes", default="", help="Free text kept with the generation.")
@click.option(
    "--fingerprint/--no-fingerprint",
    default=None,
    help="Load the model and store a fingerprint of its vectors for 'gen verify' "
    "(default: yes for text models).",
)
@device_option
@json_option
@registry_option
@pass_state
def add(
    state: State,
    name: str,
    model: str,
    revision: str | None,
    pooling: str | None,
    normalize: bool | None,
    query_prefix: str | None,
    doc_prefix: str | None,
    max_tokens: int | None,
    dimension: int | None,
    modality: str | None,
    parent: str | None,
    notes: str,
    fingerprint: bool | None,
    device: str,
    as_json: bool,
) -> None:
    """Register generation NAME for MODEL (a local model folder or a Hub repo id).

    A local folder is pinned by the sha256 of its weight files, and its
    dimension, pooling, normalisation, prefixes and max tokens are read from
    its config files unless given here.  A Hub repo id is pinned to the
    commit its --revision (a branch, tag or commit; default main) points to
    now, and records the branch or tag ('gen check-updates' follows it); it
    is fetched at that commit (and cached) to read its config and
    fingerprint it.  The model is loaded to embed a small probe
    set (the fingerprint 'gen verify' checks against) and to measure the
    dimension when no config file gives it; --no-fingerprint with --dim
    registers without loading anything.
    """
    from embedreg.models import register_model

    loads = fingerprint is not False and modality in (None, "text", "text+image")
    doing = "Pinning and fingerprinting" if loads else "Pinning"
    with console().status(f"{doing} {model} …"):
        added = register_model(
            state.registry(),
            name,
            model,
            revision=revision,
            pooling=pooling,
            normalize=normalize,
            query_prefix=query_prefix,
            document_prefix=doc_prefix,
            max_tokens=max_tokens,
            dimension=dimension,
            modality=modality,
            parent=parent,
            notes=notes,
            fingerprint=fingerprint,
            device=device,
        )
    if as_json:
        emit_json(added.describe())
    say(f"Added generation [bold]{added.name}[/]: {_summary(added)}")


@gen.command("list")
@json_option
@registry_option
@pass_state
def list_(state: State, as_json: bool) -> None:
    """List the registered generations, oldest first."""
    reg = state.registry()
    doc = reg.document()
    gens = sorted(doc.generations.values(), key=lambda g: (g.created, g.name))
    if as_json:
        emit_json([{**g.describe(), "aliases": _aliases_of(doc, g.name)} for g in gens])
        return
    if not gens:
        say("No generations yet: add one with 'embedreg gen add NAME MODEL'.")
        return
    tbl = table("NAME", "ALIASES", "DIM", "POOLING", "NORM", "PIN", "PARENT", "CREATED")
    for g in gens:
        tbl.add_row(
            g.name,
            ", ".join(_aliases_of(doc, g.name)),
            str(g.dimension),
            g.recipe.pooling,
            "yes" if g.recipe.normalize else "no",
            short_pin(g.pin),
            g.parent or "",
            g.created,
        )
    show(tbl)


@gen.command("show")
@click.argument("name")
@json_option
@registry_option
@pass_state
def show_(state: State, name: str, as_json: bool) -> None:
    """Show one generation (NAME may be an alias)."""
    reg = state.registry()
    doc = reg.document()
    g = doc.generation(name)
    adapters, galleries = doc.dependents(g.name)
    lineage = [x.name for x in reg.lineage(g.name)]
    info: dict[str, Any] = {
        **g.describe(),
        "aliases": _aliases_of(doc, g.name),
        "lineage": lineage,
        "adapters": [a.id for a in adapters],
        "galleries": [x.name for x in galleries],
    }
    if as_json:
        emit_json(info)
        return
    tbl = table("FIELD", "VALUE", title=f"generation {g.name}")
    src = g.source.to_dict()
    rows: list[tuple[str, str]] = [
        ("source", f"{src['kind']}: {src.get('repo_id') or src.get('path')}"),
        ("pin", g.pin),
        ("dimension", str(g.dimension)),
        ("modality", g.modality),
        ("pooling", g.recipe.pooling),
        ("normalize", "yes" if g.recipe.normalize else "no"),
        ("query prefix", repr(g.recipe.query_prefix)),
        ("document prefix", repr(g.recipe.document_prefix)),
        ("max tokens", str(g.recipe.max_tokens)),
        ("recipe hash", g.recipe.hash),
        *_image_rows(g),
        ("aliases", ", ".join(info["aliases"]) or "—"),
        ("lineage", " → ".join(lineage)),
        ("adapters", ", ".join(info["adapters"]) or "—"),
        ("galleries", ", ".join(info["galleries"]) or "—"),
        ("created", g.created),
        ("notes", g.notes or "—"),
        ("fingerprint", _fingerprint_summary(g)),
    ]
    for key, value in rows:
        tbl.add_row(key, value)
    show(tbl)


@gen.command("rm")
@click.argument("name")
@click.option(
    "--force", is_flag=True, help="Also remove the adapter and gallery records that use it."
)
@click.option(
    "--delete-adapter-files",
    is_flag=True,
    help="With --force: delete the removed adapters' files too (kept by default).",
)
@registry_option
@pass_state
def rm(state: State, name: str, force: bool, delete_adapter_files: bool) -> None:
    """Remove generation NAME (refused while adapters or galleries use it).

    With --force their records go too; the adapters' files stay in the store
    unless --delete-adapter-files, and gallery folders are never touched
    ('embedreg gallery register DIR' attaches one again).
    """
    if delete_adapter_files and not force:
        raise click.UsageError("--delete-adapter-files goes with --force")
    removal = state.registry().remove_generation(
        name, force=force, delete_adapter_files=delete_adapter_files
    )
    say(f"Removed generation {removal.generation}")
    for label, items in (
        ("adapter records removed", removal.adapters),
        ("their files kept in the store", removal.kept_files),
        ("gallery records removed (folders untouched)", removal.galleries),
        ("aliases dropped", removal.aliases),
        ("children re-parented", removal.reparented),
    ):
        if items:
            say(f"  {label}: {', '.join(items)}")


@gen.command("verify")
@click.argument("name")
@device_option
@click.option(
    "--precision",
    type=click.Choice(["fp32", "fp16", "bf16"]),
    default="fp32",
    show_default=True,
    help="Lower precisions are checked with a looser tolerance.",
)
@json_option
@registry_option
@pass_state
def verify(state: State, name: str, device: str, precision: str, as_json: bool) -> None:
    """Check that generation NAME's model still gives the vectors it was registered with.

    Re-hashes a local folder's weights against the pin, re-embeds the probe
    set and compares with the stored fingerprint.  Exits with status 1 when
    either differs.
    """
    from embedreg.models import verify_generation

    g = state.registry().generation(name)
    with console().status(f"Verifying {g.name} …"):
        report = verify_generation(g, device=device, precision=precision)
    if as_json:
        emit_json(report.to_dict())
    pin = {True: "match the pin", False: "DIFFER from the pin", None: "pinned by Hub commit"}
    say(
        f"Generation [bold]{g.name}[/]: weights {pin[report.pin_ok]}; probe vectors moved by "
        f"at most {report.max_distance:.2g} (tolerance {report.tolerance:g}, "
        f"{report.precision} on {report.device})"
    )
    report.raise_for_mismatch()
    say(f"[green]OK[/]: {g.name} gives the same vectors as when it was registered")


@gen.command("fingerprint")
@click.argument("name")
@device_option
@click.option(
    "--replace",
    is_flag=True,
    help="Replace an existing fingerprint (only if the model is known good).",
)
@registry_option
@pass_state
def fingerprint_(state: State, name: str, device: str, replace: bool) -> None:
    """Record a fingerprint for generation NAME (registered with --no-fingerprint)."""
    from embedreg.models import record_fingerprint

    with console().status(f"Fingerprinting {name} …"):
        g = record_fingerprint(state.registry(), name, device=device, replace=replace)
    fp = g.fingerprint
    assert fp is not None
    say(f"Recorded the fingerprint of [bold]{g.name}[/] ({fp.precision} on {fp.device})")


def _image_rows(g: Generation) -> list[tuple[str, str]]:
    """The image tower's recipe, as ``gen show`` lists it (nothing for a text generation)."""
    if g.image_recipe is None:
        return []
    proc = g.image_recipe.processor
    size = proc.get("crop_size") if proc.get("do_center_crop") else proc.get("size")
    return [
        (
            "image processor",
            ", ".join(f"{k}={proc[k]}" for k in ("image_mean", "image_std") if k in proc)
            + (f", size {size}" if size else ""),
        ),
        ("image normalize", "yes" if g.image_recipe.normalize else "no"),
        ("image recipe hash", g.image_recipe.hash),
    ]
