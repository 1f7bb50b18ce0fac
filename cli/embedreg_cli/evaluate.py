"""``embedreg eval``: the compatibility matrix, backfill curves and adapter reports.

Each command parses, calls one function of :mod:`embedreg.reports` and prints
(a table on stderr, or JSON on stdout with ``--json``).  Plots need the
``plots`` extra (matplotlib); ``--plot`` without it fails before any work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from embedreg.constants import BackfillOrder

from .context import State, pass_state, registry_option
from .eval_options import data_options, encode_options, eval_set
from .kinds import path_kind_options
from .options import json_option, routing_options
from .output import emit_json, say, say_plain, show, table
from .progress import evaluation_progress

if TYPE_CHECKING:
    from embedreg.routing import RoutingPolicy

R = TypeVar("R")


def _need_plots(plot: Path | None) -> None:
    if plot is not None:
        from embedreg.errors import PlotsUnavailable
        from embedreg.reports import plots_available

        if not plots_available():
            raise PlotsUnavailable()


def _plot_tip(plot: Path | None, what: str) -> None:
    from embedreg.reports import plots_available

    if plot is None:
        extra = "" if plots_available() else " (needs: pip install 'embedreg[plots]')"
        say_plain(f"Add --plot FILE.png for {what}{extra}.")
    else:
        say_plain(f"Wrote {plot}")


def _measured(
    state: State, settings: dict[str, Any], plot: Path | None, stage: str, measure: Callable[..., R]
) -> R:
    """One measurement over the ``--texts``/``--qrels`` data, under progress bars.

    Refuses ``--plot`` without matplotlib before any work, reads the data
    options from ``settings``, then calls ``measure(registry, data,
    encode=..., progress=..., step=...)`` (the keywords every report
    function of :mod:`embedreg.reports` takes), its steps counted as ``stage``.
    """
    _need_plots(plot)
    reg = state.registry()
    data = eval_set(settings)
    assert data is not None
    with evaluation_progress() as (embedding, step):
        return measure(
            reg,
            data,
            encode=encode_options(settings),
            progress=embedding,
            step=lambda done, total: step(stage, done, total),
        )


@click.group("eval")
def evaluate() -> None:
    """Evaluate compatibility: the matrix over generations, backfill curves, reports."""


@evaluate.command("matrix")
@click.argument("generations", nargs=-1, required=True)
@data_options
@click.option(
    "--metric", help="cmc@1 (default) or cmc@5 with labels; ndcg@10 or recall@10 with qrels."
)
@routing_options
@path_kind_options
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a heatmap PNG here."
)
@json_option
@registry_option
@pass_state
def matrix(
    state: State,
    /,
    generations: tuple[str, ...],
    metric: str | None,
    policy: RoutingPolicy,
    plot: Path | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """The compatibility matrix of GENERATIONS (oldest first): C[t][j] for galleries j ≤ t.

    Queries of each generation search a gallery of each older one through the
    best measured path of the kinds --paths allows (a map, a fused path or a
    cascade, measured on these texts; the diagonal needs none); AC is the
    share of pairs j < t where C[t][j] > C[j][j], AM the mean of the lower
    triangle.
    """
    from embedreg.reports import compatibility_matrix
    from embedreg.reports.plots import heatmap_plot

    m = _measured(
        state,
        settings,
        plot,
        "matrix cells",
        lambda reg, data, **run: compatibility_matrix(
            reg, generations, data, metric=metric, policy=policy, **run
        ),
    )
    if plot is not None:
        heatmap_plot(
            plot,
            m.values,
            m.generations,
            title=f"compatibility matrix ({m.metric})",
            metric=m.metric,
            optimistic=[
                [m.optimistic(t, j) for j in range(len(r))] for t, r in enumerate(m.values)
            ],
        )
    if as_json:
        emit_json(m.to_dict())
    else:
        tbl = table(
            "QUERY \\ GALLERY",
            *m.generations,
            title=f"{m.metric} on {m.queries} queries, through the best path",
            labelled=True,
        )
        for t, q in enumerate(m.generations):
            cells = []
            for j in range(len(m.generations)):
                v = m.values[t][j]
                mark = " *" if j <= t and v is not None and m.optimistic(t, j) else ""
                cells.append("" if j > t else ("no path" if v is None else f"{v:.4f}{mark}"))
            tbl.add_row(q, *cells)
        show(tbl)
        say(
            f"AC {m.ac:.3f} (share of pairs j < t with C(t, j) > C(j, j)), AM {m.am:.4f} (mean of the lower triangle)"
        )
        for overlap in m.overlaps.values():
            say_plain(f"* measured on training data, optimistic: {overlap['text']}")
        for t, row in enumerate(m.kinds):
            for j, kind in enumerate(row):
                if kind and kind != "map":
                    say_plain(f"  {m.generations[t]} → {m.generations[j]}: through {kind}")
        for t, row in enumerate(m.reasons):
            for j, reason in enumerate(row):
                if reason:
                    say_plain(f"  {m.generations[t]} → {m.generations[j]}: no path ({reason})")
    _plot_tip(plot, "a heatmap")


@evaluate.command("backfill")
@click.argument("gallery_generation")
@click.argument("new_generation")
@data_options
@click.option(
    "--order",
    "orders",
    multiple=True,
    type=click.Choice(BackfillOrder.values()),
    help="Orders to measure (repeatable; default all three; random is always measured).",
)
@click.option(
    "--rest",
    type=click.Choice(("path", "forward")),
    default="path",
    show_default=True,
    help="Items not yet re-embedded: searched through the path NEW → GALLERY, or forward-adapted.",
)
@click.option(
    "--metric", help="cmc@1 (default) or cmc@5 with labels; ndcg@10 or recall@10 with qrels."
)
@click.option(
    "--steps", type=click.IntRange(min=1), default=10, show_default=True, help="Points of β."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the random orders.")
@click.option(
    "--probe",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="predicted order: share re-embedded first to learn which items the path serves worst.",
)
@routing_options
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the curves as a PNG here.",
)
@json_option
@registry_option
@pass_state
def backfill_(
    state: State,
    /,
    gallery_generation: str,
    new_generation: str,
    orders: tuple[str, ...],
    rest: str,
    metric: str | None,
    steps: int,
    seed: int,
    probe: float,
    policy: RoutingPolicy,
    plot: Path | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Backfill curves: quality as a GALLERY_GENERATION gallery is re-embedded by NEW_GENERATION.

    NEW_GENERATION queries search the gallery while a fraction β of it is
    re-embedded; the rest is searched through the best path (or moved by the
    best forward path with --rest forward). Orders: random, worst-first
    (items whose vectors the path disagrees with most; reads every new
    vector, the reference), predicted (learns that from a probe, then orders
    the rest from their old vectors).
    """
    from embedreg.reports import backfill
    from embedreg.reports.plots import curve_plot

    result = _measured(
        state,
        settings,
        plot,
        "backfill points",
        lambda reg, data, **run: backfill(
            reg,
            gallery_generation,
            new_generation,
            data,
            orders=orders or BackfillOrder.values(),
            rest=rest,
            metric=metric,
            steps=steps,
            seed=seed,
            probe=probe,
            policy=policy,
            **run,
        ),
    )
    if plot is not None:
        curve_plot(
            plot,
            result.betas,
            {f"{o} (area {a:.3f})": result.curves[o] for o, a in result.areas.items()},
            title=f"backfill {result.gallery} → {result.new} ({result.metric})"
            + (", on training data: optimistic" if result.overlaps else ""),
            xlabel="fraction re-embedded β",
            ylabel=result.metric,
        )
    if as_json:
        emit_json(result.to_dict())
    else:
        via = " → ".join(result.via) or "no mapping"
        rest = (
            f"searched through the map {via}"
            if result.rest == "path"
            else f"moved by the forward map {via}"
        )
        tbl = table(
            "β",
            *result.curves,
            title=f"{result.metric} of {result.new} queries; the rest {rest}",
            labelled=True,
        )
        for i, beta in enumerate(result.betas):
            tbl.add_row(f"{beta:.2f}", *(f"{result.curves[o][i]:.4f}" for o in result.curves))
        show(tbl)
        for order, area in result.areas.items():
            gain = "" if order == "random" else f", gain over random {result.gain(order):+.4f}"
            say(f"area {order}: {area:.4f}{gain}")
        for overlap in result.overlaps.values():
            say_plain(f"Measured on training data, optimistic: {overlap['text']}")
    _plot_tip(plot, "the curves")


@evaluate.command("report")
@click.argument("adapter_id", metavar="ADAPTER_ID")
@data_options
@click.option(
    "--pairs",
    nargs=2,
    type=click.Path(exists=True, path_type=Path),
    metavar="SRC_FILE TGT_FILE",
    help="Embeddings files of the same items by the adapter's source and target generations.",
)
@click.option(
    "--chain",
    help="Generations, oldest first and comma-separated, for the compatibility matrix (needs --texts or --qrels).",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder.",
)
@click.option("--overwrite", is_flag=True, help="Replace the report files in the folder.")
@json_option
@registry_option
@pass_state
def report(
    state: State,
    /,
    adapter_id: str,
    pairs: tuple[Path, Path] | None,
    chain: str | None,
    out: Path,
    overwrite: bool,
    as_json: bool,
    **settings: Any,
) -> None:
    """Write an HTML report (and a Markdown twin, PNG plots) of ADAPTER_ID measured on data.

    The page holds the figures with intervals, the criterion, flips, the
    CMC (or recall) curve, the backfill curve and, with --chain, the
    compatibility matrix.
    """
    from embedreg.data.pairs import load_pairs
    from embedreg.reports import write_report

    reg = state.registry()
    data = eval_set(settings, required=not pairs)
    if pairs and data is not None:
        raise click.UsageError("give --pairs or --texts/--qrels, not both")
    paired = None
    if pairs:
        rec = reg.adapter(adapter_id)
        paired = load_pairs(reg, rec.source, rec.target, pairs[0], pairs[1])
    generations = [g.strip() for g in chain.split(",") if g.strip()] if chain else []
    with evaluation_progress() as (embedding, step):
        rep = write_report(
            reg,
            adapter_id,
            out,
            data=data,
            pairs=paired,
            chain=generations,
            overwrite=overwrite,
            encode=encode_options(settings),
            progress=embedding,
            step=step,
        )
    if as_json:
        emit_json(rep.to_dict())
    if rep.overlap:
        say_plain(f"Measured on training data, optimistic: {rep.overlap['text']}")
    images = f" with {', '.join(rep.images)}" if rep.images else ""
    say_plain(f"Wrote {rep.html} and {rep.markdown}{images}")
    if rep.plots_note:
        say_plain(f"No plots: {rep.plots_note}")
