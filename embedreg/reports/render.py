"""Rendering a report: the HTML page (inline styles, no script, images beside it) and its Markdown twin.

Both come from the same rows (:func:`report_sections`), so the two pages
always show the same figures; jinja2 escapes every value in the HTML.

Example:
    >>> fmt("cmc@1", 0.93125), fmt("criterion", None), fmt("retention", 1.0123)
    ('93.12 %', 'not judged', '1.012')
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..evaluation.bootstrap import Interval

if TYPE_CHECKING:
    from .report import Report

__all__ = ["fmt", "render_html", "render_markdown", "report_sections"]

#: Figures a report shows, in order, with their labels.
FIGURE_ROWS: tuple[tuple[str, str], ...] = (
    ("retention", "retention (path quality)"),
    ("retention.basis", "retention basis"),
    ("criterion", "compatibility criterion"),
    ("cmc@1", "CMC@1 A(src) on tgt"),
    ("target.cmc@1", "CMC@1 tgt on tgt"),
    ("source.cmc@1", "CMC@1 src on src"),
    ("cmc@5", "CMC@5 A(src) on tgt"),
    ("map", "mAP A(src) on tgt"),
    ("target.map", "mAP tgt on tgt"),
    ("ndcg@10", "nDCG@10 A(src) on tgt"),
    ("target.ndcg@10", "nDCG@10 tgt on tgt"),
    ("recall@10.retention", "recall@10 retention"),
    ("recall@10", "recall@10"),
    ("target.recall@10", "recall@10 tgt on tgt"),
    ("recall@1", "own-pair recall@1"),
    ("judged-sim@10", "label-free estimate (judged-sim@10)"),
    ("agreement@10", "top-10 agreement with tgt"),
    ("flips.positive", "positive flips"),
    ("flips.negative", "negative flips"),
    ("geometry", "geometry change"),
    ("defect", "orthogonality defect D"),
    ("heldout", "items measured"),
    ("queries", "judged queries"),
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


def _interval(figures: dict[str, Any], key: str) -> str:
    ci = Interval.from_value(figures.get(f"{key}.interval"))
    if ci is None:
        return "—"
    if key in _PERCENT:
        return f"[{100 * ci.low:.2f}, {100 * ci.high:.2f}] %"
    return ci.format()


def report_sections(report: Report) -> dict[str, Any]:
    """Everything both pages show: title, summary, verdict and the sections' rows."""
    rec = report.adapter
    figs = report.figures
    stored = rec.get("figures", {})
    rows = [
        [label, fmt(key, figs.get(key)), _interval(figs, key), fmt(key, stored.get(key))]
        for key, label in FIGURE_ROWS
        if key in figs or key in stored
    ]
    notes = [v for k, v in figs.items() if k.endswith(".interval.note")]
    basis = figs.get("retention.basis", "?")
    verdict = f"Retention {fmt('retention', figs.get('retention'))} {_interval(figs, 'retention')} by {basis}; criterion {fmt('criterion', figs.get('criterion'))}."
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
    n = figs.get("heldout", figs.get("queries"))
    if isinstance(n, int) and "flips.positive" in figs:
        pos, neg = figs["flips.positive"], figs["flips.negative"]
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
        f"{rec.get('source')} → {rec.get('target')} ({rec.get('direction')}), family "
        f"{rec.get('family')}, weights sha256 {str(rec.get('sha256'))[:16]}…"
    )
    return {
        "title": rec.get("id", "?"),
        "summary": summary,
        "verdict": verdict,
        "verdict_class": {True: "pass", False: "fail"}.get(figs.get("criterion"), ""),  # type: ignore[arg-type]
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
