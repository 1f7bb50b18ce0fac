"""``embedreg adapter``: train, list, show, measure, compare and remove adapters; list families.

Every command parses, calls one library function (:mod:`embedreg.training`,
:mod:`embedreg.adapters`) and prints; heavy libraries load only inside the
commands that need them.  Families and their options come from the
``embedreg.adapters`` entry points, so a plugin family works everywhere a
built-in one does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from .adapter_options import data_options, load_data, parse_options, schedule, train_options
from .context import State, pass_state, registry_option
from .crossmodal import crossmodal_table, image_options, load_images, measure_images, text_only_note
from .figures import candidates_table, figures_table, format_figure, paths_table
from .options import device_option, json_option
from .output import emit_json, say, say_plain, show, table
from .progress import training_progress


class FamiliesHelp(click.Command):
    """A command whose help ends with the installed families and their options."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from embedreg.adapters import families, family_class

        rows = []
        for name in families():
            opts = family_class(name).config_class.options()
            rows.append((name, ", ".join(o.name for o in opts) or "(no options)"))
        with formatter.section("Families (-o KEY=VALUE options; see 'embedreg adapter families')"):
            formatter.write_dl(rows)


@click.group()
def adapter() -> None:
    """Train, measure and manage adapters between generations."""


adapter.add_command(measure_images)


# --- commands -------------------------------------------------------------------------


@adapter.command("train", cls=FamiliesHelp)
@click.argument("new")
@click.argument("old")
@data_options
@click.option(
    "--family",
    default="auto",
    show_default=True,
    help="Adapter family (an installed 'embedreg.adapters' entry point, listed below), "
    "or auto: fit every family's candidates, choose by k-fold validation, refit the best.",
)
@click.option(
    "--direction",
    type=click.Choice(("backward", "forward", "both")),
    default="backward",
    show_default=True,
    help="backward: NEW → OLD; forward: OLD → NEW; both: the two.",
)
@train_options
@image_options
@click.option(
    "--name",
    help="Adapter id instead of <from>-to-<to>.<family> (with both: NAME.backward/NAME.forward).",
)
@click.option(
    "--replace", "replace_existing", is_flag=True, help="Overwrite an adapter with the same id."
)
@json_option
@registry_option
@pass_state
def train(
    state: State,
    /,
    new: str,
    old: str,
    family: str,
    direction: str,
    heldout: float,
    family_options: tuple[str, ...],
    name: str | None,
    replace_existing: bool,
    as_json: bool,
    **settings: Any,
) -> None:
    """Train an adapter between generations NEW and OLD, measure it, store it.

    NEW is the newer generation (its vectors are the queries), OLD the older
    one (its galleries exist). The default backward adapter maps NEW vectors
    into OLD's space. A fifth of the pairs (--heldout) is kept out of training;
    the figures measured on it are stored with the adapter and in the
    registry. The default --family auto fits the candidates every installed
    family puts in its grid on part of the training pairs, keeps the best on
    the rest and refits it; 'adapter show' lists the candidates' figures.
    Family options go in -o KEY=VALUE ('embedreg adapter families' lists each
    family's; auto takes -o families=NAME,NAME and -o folds=5).

    Two two-tower (text+image) generations: the map is fitted on the text
    pairs alone (--texts), and --images (labelled) measures it on held-out
    text→image and image→image retrieval against old/old and new/new, or,
    with --refine, also fits on a share of them.
    """
    from embedreg.training import train_adapter
    from embedreg.training.crossmodal import train_crossmodal
    from embedreg.training.runs import make_options

    reg = state.registry()
    options = make_options(family, parse_options(family_options))  # fail fast
    config = schedule(settings)
    doc = reg.document()
    two_tower = all(doc.generation(g).modality == "text+image" for g in (new, old))
    data = load_data(reg, new, old, direction, settings, device=config.device)
    images, queries, refine = load_images(reg, new, old, settings, device=config.device)
    with training_progress() as (bar, stage):
        common: dict[str, Any] = {
            "family": family,
            "options": options,
            "direction": direction,
            "config": config,
            "heldout": heldout,
            "name": name,
            "replace_existing": replace_existing,
            "callbacks": [bar],
            "on_stage": stage,
        }
        if two_tower and (images is not None or direction == "backward"):
            runs = train_crossmodal(
                reg, new, old, data, images=images, queries=queries, refine=refine, **common
            )
        else:
            if images is not None:
                raise click.UsageError("--images needs two two-tower (text+image) generations")
            runs = train_adapter(reg, new, old, data, **common)
    if as_json:
        emit_json([r.record.to_dict() for r in runs])
    for run in runs:
        rec = run.record
        show(figures_table([(rec.id, rec.figures)], title=f"{rec.source} → {rec.target}"))
        shown = crossmodal_table(rec.id, rec.figures)
        if shown is not None:
            show(shown)
        note = text_only_note(rec.figures)
        if note is not None:
            say(f"Note: {rec.id} is {note}")
        if run.training is None:
            say(f"Adapter [bold]{rec.id}[/] is registered already, from the same data and settings")
            continue
        chosen = rec.provenance.selection
        how = f"chosen by auto from {len(chosen.candidates)} candidates, " if chosen else ""
        say(
            f"Registered adapter [bold]{rec.id}[/] ({rec.family}, {how}{rec.direction}, "
            f"{run.training.epochs_run} epoch(s), {run.training.seconds:.1f}s)"
        )


@adapter.command("list")
@click.option("--source", help="Only adapters from this generation.")
@click.option("--target", help="Only adapters to this generation.")
@json_option
@registry_option
@pass_state
def list_(state: State, source: str | None, target: str | None, as_json: bool) -> None:
    """List the registered adapters with their headline figures."""
    records = state.registry().adapters(source=source, target=target)
    if as_json:
        emit_json([r.to_dict() for r in records])
        return
    if not records:
        say("No adapters yet: train one with 'embedreg adapter train NEW OLD --texts INPUT'.")
        return
    from embedreg.routing.scale import hop_basis, on_scale

    tbl = table("ID", "MAPS", "DIRECTION", "FAMILY", "RETENTION", "95% CI", "BASIS", "CRITERION")
    for r in records:
        f, basis = r.figures, hop_basis(r.figures)
        tbl.add_row(
            r.id,
            f"{r.source} → {r.target}",
            r.direction,
            r.family,
            format_figure("retention", f.retention),
            format_figure("retention.interval", f.retention_interval),
            basis if on_scale(basis) else f"{basis} (old: not on the quality scale)",
            format_figure("criterion", f.criterion),
        )
    show(tbl)


@adapter.command("show")
@click.argument("adapter_id", metavar="ID")
@json_option
@registry_option
@pass_state
def show_(state: State, adapter_id: str, as_json: bool) -> None:
    """Show one adapter: its generations, figures and provenance."""
    rec = state.registry().adapter(adapter_id)
    if as_json:
        emit_json(rec.to_dict())
        return
    prov = rec.provenance
    info = table("FIELD", "VALUE", title=f"adapter {rec.id}")
    rows = [
        ("maps", f"{rec.source} → {rec.target} ({rec.direction})"),
        ("family", rec.family + (" (chosen by auto)" if prov.selection else "")),
        (
            "settings",
            ", ".join(f"{k}={_value(v)}" for k, v in prov.settings.items()) or "—",
        ),
        ("location", rec.location),
        ("sha256", rec.sha256),
        ("created", rec.created),
        ("source pin", prov.source.pin or "—"),
        ("target pin", prov.target.pin or "—"),
        ("training data", prov.training_data.sha256 or "—"),
        (
            "hyperparameters",
            ", ".join(f"{k}={_value(v)}" for k, v in prov.hyperparameters.items()) or "—",
        ),
        ("embedreg", prov.embedreg_version or "—"),
    ]
    for key, value in rows:
        info.add_row(key, value)
    show(info)
    if prov.selection is not None:
        show(candidates_table(prov.selection))
    show(figures_table([(rec.id, rec.figures)], title="held-out figures"))
    paths = prov.paths
    if paths is not None:
        shown = paths_table(paths)
        if isinstance(shown, str):
            say(shown)
        else:
            show(shown)


@adapter.command("eval")
@click.argument("adapter_id", metavar="ID")
@data_options
@device_option
@json_option
@registry_option
@pass_state
def eval_(state: State, /, adapter_id: str, as_json: bool, **settings: Any) -> None:
    """Measure adapter ID on other pairs (its files are verified first).

    --pairs takes the adapter's source generation's file first, then its
    target's; --texts embeds the input with both.
    """
    from embedreg.training import evaluate_adapter

    reg = state.registry()
    rec = reg.adapter(adapter_id)
    device = settings.pop("device")
    data = load_data(
        reg, rec.source, rec.target, rec.direction, settings, device=device, ordered=False
    )
    figures = evaluate_adapter(reg, adapter_id, data, device=device)
    overlap = figures.training_overlap
    figures = replace(figures, training_overlap=None)
    if as_json:
        emit_json({"id": rec.id, "figures": figures.to_dict(), "training_overlap": overlap})
        return
    show(figures_table([(rec.id, figures)], title=f"{rec.id} on {len(data)} pairs"))
    if overlap:
        say_plain(f"Optimistic: {overlap['text']}; measure on items it has not seen.")


@adapter.command("rm")
@click.argument("adapter_id", metavar="ID")
@registry_option
@pass_state
def rm(state: State, adapter_id: str) -> None:
    """Remove adapter ID and its files."""
    rec, kept = state.registry().remove_adapter_record(adapter_id)
    say(f"Removed adapter {rec.id}" + (f" ({kept})" if kept else ""))


@adapter.command("compare", cls=FamiliesHelp)
@click.argument("new")
@click.argument("old")
@data_options
@click.option(
    "--direction",
    type=click.Choice(("backward", "forward")),
    default="backward",
    show_default=True,
)
@click.option("--families", help="Comma-separated families (default: all installed).")
@train_options
@json_option
@registry_option
@pass_state
def compare(
    state: State,
    /,
    new: str,
    old: str,
    direction: str,
    families: str | None,
    heldout: float,
    family_options: tuple[str, ...],
    as_json: bool,
    **settings: Any,
) -> None:
    """Fit every family on one split of NEW/OLD pairs and show their figures side by side.

    Nothing is stored. -o KEY=VALUE goes to every compared family that has
    KEY; -o FAMILY.KEY=VALUE to that family alone. --json prints one object
    per family.
    """
    from embedreg.adapters import families as installed
    from embedreg.training import compare_families, options_by_family

    reg = state.registry()
    names = [f.strip() for f in families.split(",") if f.strip()] if families else installed()
    options = options_by_family(parse_options(family_options), names)
    config = schedule(settings)
    data = load_data(reg, new, old, direction, settings, device=config.device)
    with training_progress() as (bar, stage):
        rows = compare_families(
            data,
            direction=direction,
            families=names,
            options=options,
            config=config,
            heldout=heldout,
            callbacks=[bar],
            on_stage=stage,
        )
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    src, tgt = (new, old) if direction == "backward" else (old, new)
    fitted = [r for r in rows if r.error is None]
    show(
        figures_table(
            [(r.family, r.figures) for r in fitted],
            title=f"{src} → {tgt}: every family on one split",
            extra=[("seconds", [f"{r.seconds:.1f}" for r in fitted])],
        )
    )
    for r in rows:
        if r.error is not None:
            say(f"  {r.family}: not applicable ({r.error})")


def _value(value: Any) -> str:
    """A setting as ``-o`` writes it (``none``, ``true``, ``inf``; floats to 4 digits)."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@adapter.command("families")
@json_option
def families_(as_json: bool) -> None:
    """List the installed adapter families and their options (-o KEY=VALUE)."""
    from embedreg.adapters import families, family_class

    classes = [family_class(name) for name in families()]
    if as_json:
        emit_json(
            [
                {
                    "family": c.family,
                    "fitting": c.fitting,
                    "summary": c.summary(),
                    "module": c.__module__,
                    "options": [o.to_dict() for o in c.config_class.options()],
                }
                for c in classes
            ]
        )
        return
    for c in classes:
        say(f"[bold]{c.family}[/] ({c.fitting}): {c.summary()}")
        opts = table("OPTION", "TYPE", "DEFAULT", "MEANING")
        for o in c.config_class.options():
            opts.add_row(o.name, o.type, _value(o.default), o.help)
        if opts.rows:
            show(opts)
