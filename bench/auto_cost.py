"""auto's cost against its choice: two ``bench/quality.py --hard`` runs compared (issue 28).

Each run (``--json``) holds, per hard set and generation pair, auto's row
(chosen candidate, held-out CMC@1, wall seconds of ``fit_family("auto", …)``
with its refit) and every candidate fit alone on all the training pairs (its
seconds).  Given the run before a change and the run after it, prints one
Markdown row per case: both choices and their held-out CMC@1, auto's seconds,
the slowest single candidate's seconds in the same run, and their ratio (the
issue's acceptance: the same choice or no worse CMC@1 in every case, and auto
at most twice the slowest single fit).

    python bench/quality.py --hard --peers "" --json before.json   # on the code before
    python bench/quality.py --hard --peers "" --json after.json    # on the code after
    python bench/auto_cost.py before.json after.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def _cases(path: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as fh:
        return {(rows[0]["set"], rows[0]["pair"]): rows for rows in json.load(fh)}


def _auto(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in rows if r["kind"] == "auto")


def _slowest(rows: list[dict[str, Any]], key: str = "seconds") -> tuple[float, str]:
    singles = [r for r in rows if r["kind"] == "candidate" and r.get(key) is not None]
    top = max(singles, key=lambda r: r[key])
    return float(top[key]), str(top["method"])


def cpu_ratios(rows: list[dict[str, Any]]) -> str:
    """auto's CPU seconds over the slowest single fit's (runs that recorded them)."""
    auto = _auto(rows)
    if auto.get("cpu_seconds") is None:
        return "—"
    slow, _ = _slowest(rows, "cpu_seconds")
    return f"{auto['cpu_seconds']:.0f} / {slow:.1f} = {auto['cpu_seconds'] / slow:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    args = ap.parse_args()
    before, after = _cases(args.before), _cases(args.after)
    print(
        "| set | pair | before: chosen | CMC@1 | s | after: chosen | CMC@1 | s "
        "| slowest single (after) | s | after ÷ slowest | CPU s: after ÷ slowest | same or better |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    worse, ratios, totals = 0, [], [0.0, 0.0]
    for key, rows in after.items():
        if key not in before:
            continue
        a, b = _auto(rows), _auto(before[key])
        slow, which = _slowest(rows)
        ratio = a["seconds"] / slow
        ratios.append(ratio)
        totals[0] += b["seconds"]
        totals[1] += a["seconds"]
        same = a["method"] == b["method"]
        ok = same or a["cmc@1"] >= b["cmc@1"]
        worse += not ok
        print(
            f"| {key[0]} | {key[1]} | {b['method'].removeprefix('auto → ')} | "
            f"{100 * b['cmc@1']:.2f} | {b['seconds']:.0f} | "
            f"{a['method'].removeprefix('auto → ')} | {100 * a['cmc@1']:.2f} | "
            f"{a['seconds']:.0f} | {which} | {slow:.1f} | {ratio:.1f} | {cpu_ratios(rows)} | "
            f"{'same' if same else ('better' if a['cmc@1'] > b['cmc@1'] else 'equal' if ok else 'WORSE')} |"
        )
    print(
        f"\nauto's seconds, all cases: {totals[0]:.0f} before, {totals[1]:.0f} after; "
        f"after ÷ slowest single: {min(ratios):.1f} to {max(ratios):.1f}; "
        f"cases worse than before: {worse} of {len(ratios)}"
    )


if __name__ == "__main__":
    main()
