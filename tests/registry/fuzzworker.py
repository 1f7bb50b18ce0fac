"""The worker of test_fuzz.py: random edits of registry records, then commands on them.

Run as ``python fuzzworker.py SEED ITERATIONS DIR``; prints one JSON line per
finding (a deletion outside the removed records' own files, an exception that
is no EmbedRegError, an operation past its time bound) and a last line
``{"done": N}``.  Each iteration works on a fresh copy of a small world.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import shutil
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from embedreg import AdapterRecord, GalleryRecord, Generation, HubSource, Recipe, Registry
from embedreg.adapters import load_registered_adapter
from embedreg.errors import EmbedRegError
from embedreg.registry.records import adapter_artifact_key

GENS = ("v1", "v2", "v2-short", "v3")
ADAPTERS = {"a21": ("v2", "v1"), "a31": ("v3", "v1"), "as2": ("v2-short", "v2")}
OP_SECONDS = 10


class Hung(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise Hung


def build(root: Path) -> None:
    reg = Registry.open(root / "reg")
    reg.init()
    parents = {"v1": None, "v2": "v1", "v2-short": "v2", "v3": "v2"}
    for n, name in enumerate(GENS):
        reg.add_generation(
            Generation(name, HubSource("o/m", f"{n}" * 40), Recipe(), 8, parent=parents[name])
        )
    for n, (ident, (src, tgt)) in enumerate(ADAPTERS.items()):
        sha = f"{n + 1:x}" * 64
        f = root / f"{ident}.bin"
        f.write_bytes(ident.encode() * 8)
        key = adapter_artifact_key(ident, sha)
        reg.store.put_artifact(key, {"config.json": f, "model.safetensors": f})
        reg.add_adapter(AdapterRecord(ident, src, tgt, "backward", "affine", key, sha))
        f.unlink()
    for name, gen in (("g1", "v1"), ("g2", "v2")):
        folder = root / "galleries" / name
        folder.mkdir(parents=True)
        (folder / "gallery.json").write_text("{}")
        (folder / "items.1.jsonl").write_text("x\n")
        reg.add_gallery(GalleryRecord(name, str(folder), gen))
    (root / "bystander").mkdir()
    (root / "bystander" / "results.1.jsonl").write_text("mine\n")
    reg.set_alias("prod", "v2")


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "registry.json" and not p.name.endswith((".lock", ".tmp")):
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


JUNK: list[Any] = [
    ".",
    "./",
    "",
    "adapters",
    "adapters/",
    "artifacts",
    "/",
    "/etc",
    "..",
    "../..",
    "adapters/../..",
    "adapters/a21",
    5,
    None,
    [],
    {},
    True,
    "x" * 300,
]


def mutate(data: dict[str, Any], rng: random.Random) -> tuple[str, str, str]:
    """Edit one field of one record at random; returns (section, key, field)."""
    section = rng.choice(["adapters", "generations", "galleries", "aliases"])
    records = data[section]
    key = rng.choice(sorted(records))
    if section == "aliases":
        records[key] = rng.choice([*GENS, "nope", 5, None, key])
        return section, key, "target"
    rec = records[key]
    field = rng.choice(sorted(rec))
    others = [r for k, r in records.items() if k != key]
    pool: list[Any] = list(JUNK)
    if section == "adapters":
        pool += [o["location"] for o in others] + [f"adapters/{key}@{'f' * 16}"]
        pool += [*list(GENS), "0" * 64, "backward", "forward", {"k": 1}]
        field = rng.choice(
            [
                "location",
                "location",
                "source",
                "target",
                "sha256",
                "figures",
                "provenance",
                "id",
                "family",
                "direction",
                field,
            ]
        )
    elif section == "generations":
        pool += [*list(GENS), key, 0, -1, 10**12, 1.5, "384", 384]
        field = rng.choice(["parent", "parent", "dimension", "name", "source", "recipe", field])
        if field == "parent" and rng.random() < 0.5:  # a cycle through another generation
            other = rng.choice([g for g in GENS if g != key])
            data["generations"][other]["parent"] = key
            rec["parent"] = other
            return section, key, field
    else:
        pool += [o["location"] for o in others] + list(GENS)
    rec[field] = copy.deepcopy(rng.choice(pool))
    return section, key, field


def operate(reg: Registry, rng: random.Random, edited: str) -> list[str]:
    """Run a few commands; returns the adapter ids whose records they removed."""
    removed: list[str] = []
    ops = rng.sample(range(7), k=3)
    for op in ops:
        try:
            if op == 0:
                reg.document()
            elif op == 1:
                reg.lineage(rng.choice([*GENS, edited]))
            elif op == 2:
                rec, _ = reg.remove_adapter_record(rng.choice([*ADAPTERS, edited]))
                removed.append(rec.id)
            elif op == 3:
                removal = reg.remove_generation(
                    rng.choice([*GENS, edited]), force=True, delete_adapter_files=True
                )
                removed.extend(removal.adapters)
            elif op == 4:
                reg.set_alias("fuzz", rng.choice([*GENS, edited]))
            elif op == 5:
                load_registered_adapter(reg, rng.choice([*ADAPTERS, edited]))
            else:
                reg.adapters(source=rng.choice(GENS))
                reg.galleries()
        except EmbedRegError:
            pass
    return removed


def main(seed: int, iterations: int, work: Path) -> None:
    pristine = work / "pristine"
    build(pristine)
    records = json.loads((pristine / "reg" / "registry.json").read_text())["adapters"]
    signal.signal(signal.SIGALRM, _alarm)
    for i in range(iterations):
        rng = random.Random(seed * 100_003 + i)
        root = work / "it"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root, symlinks=True)
        path = root / "reg" / "registry.json"
        data = json.loads(path.read_text())
        section, key, field = mutate(data, rng)
        path.write_text(json.dumps(data, indent=2))
        before = snapshot(root)
        reg = Registry.open(root / "reg")
        signal.alarm(OP_SECONDS)
        try:
            removed = operate(reg, rng, key)
        except Hung:
            print(json.dumps({"i": i, "edit": [section, key, field], "hung": True}), flush=True)
            continue
        except Exception:  # what the CLI would print as "internal error"
            signal.alarm(0)
            tb = traceback.format_exc().strip().splitlines()[-1]
            print(json.dumps({"i": i, "edit": [section, key, field], "internal": tb}), flush=True)
            continue
        finally:
            signal.alarm(0)
        allowed = {f"reg/artifacts/{records[a]['location']}/" for a in removed if a in records}
        after = snapshot(root)
        lost = [
            p
            for p, h in before.items()
            if after.get(p) != h and not any(p.startswith(prefix) for prefix in allowed)
        ]
        if lost:
            print(json.dumps({"i": i, "edit": [section, key, field], "lost": lost}), flush=True)
    print(json.dumps({"done": iterations}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
