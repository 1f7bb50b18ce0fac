"""Adapter figures as tables: which rows, their labels, how values are shown."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .output import Table, table

if TYPE_CHECKING:
    from embedreg.registry import Figures, PathsRecord, SelectionRecord

#: Figures shown in tables, in order: stored name, label, attribute (rates shown in percent).
FIGURE_ROWS: tuple[tuple[str, str, Callable[[Figures], Any]], ...] = (
    ("recall@1", "recall@1", lambda f: f.recall_at_1),
    ("recall@10", "recall@10", lambda f: f.recall_at_10),
    ("agreement@10", "agree@10", lambda f: f.agreement_at_10),
    ("judged-sim@10", "judged-sim@10", lambda f: f.judged_sim_at_10),
    ("cmc@1", "CMC@1", lambda f: f.cmc_at_1),
    ("cmc@1.interval", "CMC@1 95% CI", lambda f: f.cmc_at_1_interval),
    ("cmc@5", "CMC@5", lambda f: f.cmc_at_5),
    ("map", "mAP", lambda f: f.map),
    ("target.cmc@1", "CMC@1 tgt/tgt", lambda f: f.target.cmc_at_1),
    ("source.cmc@1", "CMC@1 src/src", lambda f: f.source.cmc_at_1),
    ("adapted.cmc@1", "CMC@1 A/A", lambda f: f.adapted.cmc_at_1),
    ("geometry", "geometry pts", lambda f: f.geometry),
    ("criterion", "criterion", lambda f: f.criterion),
    ("flips.positive", "flips +", lambda f: f.flips_positive),
    ("flips.negative", "flips −", lambda f: f.flips_negative),
    ("defect", "D", lambda f: f.defect),
    # here: the families' labelled settings (figure_rows)
    ("retention", "retention", lambda f: f.retention),
    ("retention.interval", "retention 95% CI", lambda f: f.retention_interval),
    ("retention.basis", "retention basis", lambda f: f.retention_basis),
    ("gallery.cmc@1", "CMC@1 A/F̃", lambda f: f.gallery.cmc_at_1),
    ("gallery.recall@1", "recall@1 A/F̃", lambda f: f.gallery.recall_at_1),
    ("heldout", "held-out", lambda f: f.heldout),
)
#: Printed under figure tables.
LEGEND = (
    "A(src) queries on the tgt gallery unless named; rates in %; "
    "A/A: adapted queries on an adapted gallery; F̃: the joint forward map; "
    "retention 1.0 = as good as tgt's own queries; CI: 95% bootstrap over queries"
)
_PERCENT = {
    "recall@1",
    "recall@10",
    "agreement@10",
    "cmc@1",
    "cmc@5",
    "map",
    "target.cmc@1",
    "source.cmc@1",
    "adapted.cmc@1",
    "geometry",
    "flips.positive",
    "flips.negative",
    "gallery.cmc@1",
    "gallery.recall@1",
    "judged-sim@10",
    "cmc@1.interval",
}


def format_figure(key: str, value: Any) -> str:
    """A figure as tables show it (rates in percent, ``—`` when absent).

    Example:
        >>> format_figure("cmc@1", 0.9312), format_figure("criterion", False), format_figure("map", None)
        ('93.12', 'FAIL', '—')
        >>> format_figure("retention.interval", [0.9512, 0.9873])
        '[0.951, 0.987]'

    """
    if value is None:
        if key.endswith(".interval"):
            return "too few queries"
        return "n/a" if key == "criterion" else "—"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        scale = 100 if key in _PERCENT else 1
        digits = 2 if key in _PERCENT else 3
        return f"[{_number(value[0], scale, f'.{digits}f')}, {_number(value[1], scale, f'.{digits}f')}]"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, float):
        if key in _PERCENT:
            return _number(value, 100, "+.2f" if key == "geometry" else ".2f")
        return _number(value, 1, ".3f")
    return _short(str(value))


def _number(value: Any, scale: int, spec: str) -> str:
    """``scale · value`` formatted by ``spec``; huge values in 3 significant digits, non-numbers as text.

    Example:
        >>> _number(1e308, 1, ".3f"), _number(0.5, 100, ".2f"), _number("x", 1, ".3f")
        ('1e+308', '50.00', 'x')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _short(str(value))
    scaled = scale * value
    if not math.isfinite(scaled):
        return str(scaled)
    return f"{scaled:.3g}" if abs(scaled) >= 1e6 else format(scaled, spec)


def _short(text: str, width: int = 40) -> str:
    """At most ``width`` characters (a tampered figure must not flood a table)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def figure_rows() -> list[tuple[str, str, Callable[[Figures], Any]]]:
    """:data:`FIGURE_ROWS` with a row per family setting a family labels, after ``D``.

    The families say which of their :meth:`~embedreg.adapters.Adapter.card_facts`
    settings a table shows, and how it is labelled (``fact_labels``).
    """
    from embedreg.adapters import fact_labels

    def setting(key: str) -> Callable[[Figures], Any]:
        return lambda f: f.setting(key)

    rows = list(FIGURE_ROWS)
    at = next(i for i, row in enumerate(rows) if row[0] == "defect") + 1
    rows[at:at] = [(key, label, setting(key)) for key, label in fact_labels().items()]
    return rows


def figures_table(
    records: Sequence[tuple[str, Figures]],
    *,
    title: str | None = None,
    extra: Sequence[tuple[str, Sequence[str]]] = (),
) -> Table:
    """One column per adapter or family, one row per figure any of them has (plus ``extra`` rows)."""
    out = table("FIGURE", *(name for name, _ in records), title=title, labelled=True)
    out.caption = LEGEND
    for key, label, read in figure_rows():
        shown = [figs.shown(key, read(figs)) for _, figs in records]
        if any(recorded for recorded, _ in shown):
            out.add_row(label, *(format_figure(key, value) for _, value in shown))
    for label, cells in extra:
        out.add_row(label, *cells)
    return out


def candidates_table(selection: SelectionRecord) -> Table:
    """The candidates ``--family auto`` compared, with their validation figures and the choice.

    The chosen one is marked ``✓``; ``Δ BEST`` is the 95 % paired-bootstrap
    interval of the best candidate's figure minus this one's (points), or
    where the race stopped a candidate (its figure, in parentheses, is then
    on those folds alone: not comparable with the pooled ones).
    """
    basis = selection.basis or "cmc@1"
    n_val = selection.validation_pairs if selection.validation_pairs is not None else "?"
    folds = int(selection.folds or 1)
    where = f"{n_val} validation pairs" + (f", {folds} folds pooled" if folds > 1 else "")
    out = table(
        "CANDIDATE",
        basis,
        "Δ BEST, 95%",
        "epochs",
        "seconds",
        title=f"auto: candidates on {where} ({basis}); {selection.reason or ''}",
    )
    for cand in selection.candidates:
        figure = cand.validation.cmc_at_1 if basis == "cmc@1" else cand.validation.recall_at_1
        interval = cand.difference_interval
        delta = f"{100 * interval[0]:+.1f}…{100 * interval[1]:+.1f}" if interval else ""
        chosen = cand.label == selection.chosen
        label = ("✓ " if chosen else "  ") + str(cand.label)
        if cand.error:
            out.add_row(label, "—", f"not fit: {cand.error}", "", "")
            continue
        if cand.stopped:  # raced out: its figure is on the folds it ran
            out.add_row(
                label,
                f"({format_figure(basis, figure)})",
                cand.stopped.split(":")[0],
                str(cand.epochs or "—"),
                f"{float(cand.seconds or 0):.1f}",
            )
            continue
        out.add_row(
            label,
            format_figure(basis, figure),
            delta,
            str(cand.epochs or "—"),
            f"{float(cand.seconds or 0):.1f}",
        )
    if any(c.stopped for c in selection.candidates):
        out.caption = (
            "(…): stopped once clearly behind; its figure is on the folds it ran, "
            "not comparable with the pooled ones"
        )
    return out


def paths_table(paths: PathsRecord) -> Table | str:
    """The adapter's fused and cascade paths (``provenance.paths``), held-out figures and cost."""
    from embedreg.training.paths import path_rows

    rows = path_rows(paths)
    if not rows:
        return f"query paths beyond the map: not fitted ({paths.reason or 'no figures'})"
    out = table(
        "PATH",
        "CMC@1",
        "95%",
        "mAP",
        "RETENTION",
        "CRITERION",
        "EXTRA ENCODES",
        "µs/q",
        title=(
            f"query paths on {paths.heldout} held-out pairs (old/old CMC@1 "
            f"{100 * float(paths.target.cmc_at_1 or 0):.2f}, new/new "
            f"{100 * float(paths.source.cmc_at_1 or 0):.2f}); t={paths.t} fitted on "
            f"{paths.folds} folds of the training pairs ({paths.t_reason})"
        ),
    )
    for r in rows:
        out.add_row(
            r["path"],
            r["cmc"],
            r["interval"],
            r["map"],
            r["retention"],
            r["criterion"],
            r["encodes"],
            r["us"],
        )
    return out
