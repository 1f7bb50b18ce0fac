"""What typed figures and provenance cost when a registry.json is read and written (issue 22).

``AdapterRecord.figures`` / ``.provenance`` are typed, frozen records
(:mod:`embedreg.registry.figures`, :mod:`embedreg.registry.provenance`)
converted at the registry boundary by :mod:`embedreg.registry.stored`.
This measures that conversion: one ``--family auto`` adapter with labels
(its selection and its fused and cascade paths in the provenance, the
largest record embedreg writes) is trained on planted pairs, its record is
copied under N ids, and ``RegistryDocument.parse`` and ``serialize`` are
timed (best of 5, one process, one thread).  The round trip must give the
same bytes back.  Run it against another checkout (``PYTHONPATH=...``) to
compare with records of plain dicts.  Prints markdown for bench/RESULTS.md.

    python bench/registry_io.py [--adapters 20 200 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import _chain
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.synthetic import planted_pairs
from embedreg.registry import RegistryDocument
from embedreg.training import TrainConfig, train_adapter


def _template() -> dict[str, Any]:
    """A registry.json holding one auto adapter with selection and paths, as training writes it."""
    root = Path(tempfile.mkdtemp()) / "reg"
    reg = Registry.open(root)
    reg.init()
    reg.add_generation(Generation("v1", HubSource("org/one", "1" * 40), Recipe(), 16))
    reg.add_generation(Generation("v2", HubSource("org/two", "2" * 40), Recipe(), 24, parent="v1"))
    pairs = planted_pairs(400, 24, 16, kind="affine", noise=0.1, n_classes=4, seed=0).pairs
    opts = {"families": "procrustes,affine"}
    train_adapter(reg, "v2", "v1", pairs, options=opts, config=TrainConfig(device="cpu"))
    data: dict[str, Any] = json.loads((root / "registry.json").read_text(encoding="utf-8"))
    return data


def _best(fn: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--adapters", type=int, nargs="+", default=[20, 200, 1000])
    args = parser.parse_args()
    template = _template()
    (record,) = template["adapters"].values()
    print(f"machine: {_chain.machine()}; load average {_chain.load_average()}\n")
    print("| adapters | registry.json | parse | serialize | same bytes back |")
    print("|---|---|---|---|---|")
    for n in args.adapters:
        data = dict(template)
        data["adapters"] = {f"a{i}": {**record, "id": f"a{i}"} for i in range(n)}
        raw = (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        doc = RegistryDocument.parse(raw, "registry.json")
        parse = _best(lambda raw=raw: RegistryDocument.parse(raw, "registry.json"))
        serialize = _best(doc.serialize)
        print(
            f"| {n} | {len(raw) / 1e6:.2f} MB | {1000 * parse:.0f} ms | "
            f"{1000 * serialize:.0f} ms | {doc.serialize() == raw} |"
        )


if __name__ == "__main__":
    main()
