"""Rendering a report: the HTML page (inline styles, no script, images beside it) and its Markdown twin.

Both come from the same rows (:func:`report_sections`), so the two pages
always show the same figures; jinja2 escapes every value in the HTML.

Example:
    >>> fmt("cmc@1", 0.93125), fmt("criterion", None), fmt("retention", 1.0123)
    ('93.12 %', 'not judged', '1.012')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..evaluation.bootstrap import Interval
from ..registry.figures import Figures, Span

if TYPE_CHECKING:
    from .report import Report

__all__ = ["fmt", "render_html", "render_markdown", "report_sections"]

#: Figures a report shows, in order: stored name, label, attribute, and its interval's.
FIGURE_ROWS: tuple[
    tuple[str, str, Callable[[Figures], Any], Callable[[Figures], Span | None] | None], ...
] = (
    (
        "retention",
        "retention (path quality)",
        lambda f: f.retention,
        lambda f: f.retention_interval,
    ),
    ("retention.basis", "retention basis", lambda f: f.retention_basis, None),
    ("criterion", "compatibility criterion", lambda f: f.criterion, None),
    ("cmc@1", "CMC@1 A(src) on tgt", lambda f: f.cmc_at_1, lambda f: f.cmc_at_1_interval),
    ("target.cmc@1", "CMC@1 tgt on tgt", lambda f: f.target.cmc_at_1, None),
    ("source.cmc@1", "CMC@1 src on src", lambda f: f.source.cmc_at_1, None),
    ("cmc@5", "CMC@5 A(src) on tgt", lambda f: f.cmc_at_5, None),
    ("map", "mAP A(src) on tgt", lambda f: f.map, None),
    ("target.map", "mAP tgt on tgt", lambda f: f.target.map, None),
    ("ndcg@10", "nDCG@10 A(src) on tgt", lambda f: f.ndcg_at_10, lambda f: f.ndcg_at_10_interval),
    ("target.ndcg@10", "nDCG@10 tgt on tgt", lambda f: f.target.ndcg_at_10, None),
    (
        "recall@10.retention",
        "recall@10 retention",
        lambda f: f.recall_at_10_retention,
        lambda f: f.recall_at_10_retention_interval,
    ),
    ("recall@10", "recall@10", lambda f: f.recall_at_10, None),
    ("target.recall@10", "recall@10 tgt on tgt", lambda f: f.target.recall_at_10, None),
    ("recall@1", "own-pair recall@1", lambda f: f.recall_at_1, lambda f: f.recall_at_1_interval),
    ("judged-sim@10", "label-free estimate (judged-sim@10)", lambda f: f.judged_sim_at_10, None),
    ("agreement@10", "top-10 agreement with tgt", lambda f: f.agreement_at_10, None),
    ("flips.positive", "positive flips", lambda f: f.flips_positive, None),
    ("flips.negative", "negative flips", lambda f: f.flips_negative, None),
    ("geometry", "geometry change", lambda f: f.geometry, None),
    ("defect", "orthogonality defect D", lambda f: f.defect, None),
    ("heldout", "items measured", lambda f: f.heldout, None),
    ("queries", "judged queries", lambda f: f.queries, None),
)
_PERCENT = {
    "cmc@1",
    "target.cmc@1",
    "source.cmc@1",
    "cmc@5",
    "map",
    "target.map",
    "ndcg@10",
    "target.ndcg@10",
    "recall@10",
    "target.recall@10",
    "recall@1",
    "flips.positive",
    "flips.negative",
}

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0 1.2rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fail { color: #b00020; font-weight: bold; }
.pass { color: #1b7a1b; font-weight: bold; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.4rem 0.8rem; }
img { max-width: 100%; border: 1px solid #ddd; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""

_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>embedreg report: {{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<h1>Adapter {{ title }}</h1>
<p>{{ summary }}</p>
<p class="{{ verdict_class }}">{{ verdict }}</p>
{% if plots_note %}<p class="note">No plots: {{ plots_note }}.</p>{% endif %}
{% for section in sections %}
<h2>{{ section.title }}</h2>
{% if section.text %}<p>{{ section.text }}</p>{% endif %}
{% if section.note %}<p class="note">{{ section.note }}</p>{% endif %}
{% if section.rows %}
<table>
<tr>{% for h in section.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in section.rows %}<tr>{% for cell in row %}<td{% if loop.index0 %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endif %}
{% if section.image %}<p><img src="{{ section.image }}" alt="{{ section.title }}"></p>{% endif %}
{% endfor %}
<p><small>embedreg {{ version }}, {{ created }}</small></p>
</body>
</html>
"""


def fmt(key: str, value: Any) -> str:
    """A figure as the report shows it."""
    if value is None:
        return "not judged" if key == "criterion" else "—"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if key in _PERCENT:
            return f"{100 * value:.2f} %"
        if key == "geometry":
            return f"{100 * value:+.2f} pts"
        return f"{value:.3f}"
    return str(value)


def _interval(span: Span | None, key: str) -> str:
    ci = Interval.from_value(span)
    if ci is None:
        return "—"
    if key in _PERCENT:
        return f"[{100 * ci.low:.2f}, {100 * ci.high:.2f}] %"
    return ci.format()


def report_sections(report: Report) -> dict[str, Any]:
    """Everything both pages show: title, summary, verdict and the sections' rows."""
    rec = report.adapter
    figs = report.figures
    stored = rec.figures if rec is not None else Figures()
    rows = []
    for key, label, read, span in FIGURE_ROWS:
        (ours, value), (theirs, registered) = (
            figs.shown(key, read(figs)),
            stored.shown(key, read(stored)),
        )
        if ours or theirs:
            ci = _interval(span(figs), key) if span is not None else "—"
            rows.append([label, fmt(key, value), ci, fmt(key, registered)])
    notes = list(figs.interval_notes)
    basis = figs.retention_basis or "?"
    verdict = f"Retention {fmt('retention', figs.retention)} {_interval(figs.retention_interval, 'retention')} by {basis}; criterion {fmt('criterion', figs.criterion)}."
    if report.overlap:  # the headline says it first: these figures are optimistic
        verdict = f"Measured on training data ({report.overlap['text']}): optimistic. {verdict}"
    sections: list[dict[str, Any]] = [
        {
            "title": "Figures",
            "text": (
                f"Measured on {report.data} ({report.kind}); the last column holds the figures "
                "the adapter was registered with (its own held-out split). Figures on items "
                "the adapter was trained on are optimistic: measure on items it has not seen. "
                "Intervals: 95 % bootstrap over queries. Retention 1.0 = as good, on this "
                "gallery, as the target generation's own queries."
            ),
            "note": "; ".join(notes) or None,
            "header": ["figure", "measured", "95 % interval", "registered"],
            "rows": rows,
        }
    ]
    n = figs.heldout if figs.heldout is not None else figs.queries
    pos, neg = figs.flips_positive, figs.flips_negative
    if n is not None and pos is not None and neg is not None:
        sections.append(
            {
                "title": "Flips",
                "text": "Queries whose top-1 result changes between the target generation's own query and the adapted one.",
                "header": ["flip", "rate", "queries"],
                "rows": [
                    [
                        "positive (tgt fails, A(src) succeeds)",
                        fmt("flips.positive", pos),
                        str(round(pos * n)),
                    ],
                    [
                        "negative (tgt succeeds, A(src) fails)",
                        fmt("flips.negative", neg),
                        str(round(neg * n)),
                    ],
                ],
            }
        )
    metric, ks, series = report.curve
    sections.append(
        {
            "title": f"{metric} curve",
            "header": ["k", *series],
            "rows": [[str(k), *(f"{series[s][i]:.4f}" for s in series)] for i, k in enumerate(ks)],
            "image": "cmc.png" if "cmc.png" in report.images else None,
        }
    )
    b = report.backfill
    if b is not None:
        gains = ", ".join(f"{o} {b.gain(o):+.4f}" for o in b.areas if o != "random")
        sections.append(
            {
                "title": "Backfill curve",
                "text": (
                    f"{b.metric} of {b.new} queries as a fraction β of a {b.gallery} gallery is "
                    f"re-embedded by {b.new}; the rest is "
                    + ("searched through the adapter." if b.rest == "path" else "forward-adapted.")
                    + f" Areas: {', '.join(f'{o} {a:.4f}' for o, a in b.areas.items())}; gain over random: {gains}."
                ),
                "header": ["β", *b.curves],
                "rows": [
                    [f"{beta:.2f}", *(f"{b.curves[o][i]:.4f}" for o in b.curves)]
                    for i, beta in enumerate(b.betas)
                ],
                "image": "backfill.png" if "backfill.png" in report.images else None,
            }
        )
    elif report.backfill_note:
        sections.append({"title": "Backfill curve", "note": report.backfill_note})
    m = report.matrix
    if m is not None:
        rows_m = []
        for t, q in enumerate(m.generations):
            cells = []
            for j in range(len(m.generations)):
                v = m.values[t][j]
                cells.append("" if j > t else ("no path" if v is None else f"{v:.4f}"))
            rows_m.append([q, *cells])
        sections.append(
            {
                "title": "Compatibility matrix",
                "text": f"{m.metric} of queries (rows) on galleries (columns) through the best path; AC {m.ac:.3f}, AM {m.am:.4f}.",
                "header": ["query \\ gallery", *m.generations],
                "note": "; ".join(
                    [
                        f"measured on training data, optimistic: {o['text']}"
                        for o in m.overlaps.values()
                    ]
                    + [
                        f"{m.generations[t]} → {m.generations[j]} through {kind}"
                        for t, row in enumerate(m.kinds)
                        for j, kind in enumerate(row)
                        if kind and kind != "map"
                    ]
                )
                or None,
                "rows": rows_m,
                "image": "matrix.png" if "matrix.png" in report.images else None,
            }
        )
    summary = (
        f"{rec.source} → {rec.target} ({rec.direction}), family "
        f"{rec.family}, weights sha256 {rec.sha256[:16]}…"
        if rec is not None
        else "None → None (None), family None, weights sha256 None…"
    )
    return {
        "title": rec.id if rec is not None else "?",
        "summary": summary,
        "verdict": verdict,
        "verdict_class": {True: "pass", False: "fail"}.get(figs.criterion, ""),  # type: ignore[arg-type]
        "sections": sections,
        "plots_note": report.plots_note,
        "version": report.version,
        "created": report.created,
        "css": _CSS,
    }


def render_html(report: Report) -> str:
    """The HTML page."""
    from jinja2 import Environment

    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(_HTML).render(**report_sections(report))


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    """The Markdown twin (the same sections as the HTML page)."""
    page = report_sections(report)
    out = [f"# Adapter {page['title']}", "", page["summary"], "", f"**{page['verdict']}**", ""]
    if page["plots_note"]:
        out += [f"> No plots: {page['plots_note']}.", ""]
    for section in page["sections"]:
        out += [f"## {section['title']}", ""]
        if section.get("text"):
            out += [section["text"], ""]
        if section.get("note"):
            out += [f"> {section['note']}", ""]
        if section.get("rows"):
            header = section["header"]
            out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section["rows"]]
            out.append("")
        if section.get("image"):
            out += [f"![{section['title']}]({section['image']})", ""]
    out.append(f"embedreg {page['version']}, {page['created']}")
    return "\n".join(out) + "\n"
