"""Cross-modal adapters on the two-tower test bed: text-only vs image-text training.

The two test-bed two-tower generations (tests/testbed_images.py: v1's and
v2's text towers, each with a tiny image tower trained LiT style on 1,200
sklearn digits) are registered in a fresh registry.  The 597 held-out digits
are split in two halves (seed 0): the first half may join the fit
(image-text training), the second measures every map.  Text pairs: the 606
texts of ``texts.jsonl`` (60 training captions + 546 BBC headlines); text
queries: the 40 held-out caption queries (templates no tower was trained on).

For each map (none: new vectors used as they are; each family fitted on text
pairs only; the same fitted on text pairs + the first half's image pairs)
prints held-out text→image and image→image CMC@1 / recall@10 against old/old
and new/new, the criterion, per-class CMC@1, and the cost the adapter avoids:
CPU seconds to re-embed the held-out images with the new image tower against
CPU seconds to map the new queries (and to fit the map).

    python bench/crossmodal.py [--families procrustes,affine,auto] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from embedreg import Registry
from embedreg.adapters.identity import IdentityAdapter
from embedreg.evaluation import measure_crossmodal
from embedreg.evaluation.metrics import cmc_hits
from embedreg.models import Encoder, embed_images, pin_model
from embedreg.training import TrainConfig, fit_and_measure, image_pairs, training_pairs
from embedreg.training.crossmodal import join_pairs

import testbed_images


def _cpu() -> float:
    return time.process_time()


def _setup(root: Path) -> tuple[Registry, Path]:
    digits = testbed_images.digits_dir()
    reg = Registry.open(root / "registry")
    reg.init()
    recipe = {**testbed_images.VLM_RECIPE, "fingerprint": False}
    reg.add_generation(pin_model("old", testbed_images.vlm_old_dir(), **recipe))
    reg.add_generation(pin_model("new", testbed_images.vlm_new_dir(), parent="old", **recipe))
    rows = testbed_images.read_rows(digits / "heldout.jsonl")
    images = root / "heldout.jsonl"
    images.write_text(
        "".join(json.dumps({**r, "image": str(digits / r["image"])}) + "\n" for r in rows),
        encoding="utf-8",
    )
    return reg, images


def _per_class(adapter: Any, texts: Any, images: Any) -> dict[str, tuple[float, float]]:
    """Per label: (text→image CMC@1, image→image CMC@1) of the adapted new side on old images."""
    vocab = {label: i for i, label in enumerate(sorted(set(images.labels)))}
    tl = np.asarray([vocab[x] for x in texts.labels])
    il = np.asarray([vocab[x] for x in images.labels])
    t2i = cmc_hits(adapter.transform(texts.source), images.target, tl, il, 1, exclude_self=False)
    i2i = cmc_hits(adapter.transform(images.source), images.target, il, il, 1)
    return {
        label: (float(t2i[tl == code].mean()), float(i2i[il == code].mean()))
        for label, code in vocab.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="procrustes,affine,lambda-orth,auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = TrainConfig(device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        reg, image_list = _setup(Path(tmp))
        digits = testbed_images.digits_dir()
        texts = training_pairs(reg, "new", "old", texts=digits / "texts.jsonl", device="cpu")
        queries = training_pairs(reg, "new", "old", texts=digits / "queries.jsonl", device="cpu")
        images = image_pairs(reg, "new", "old", image_list, device="cpu")
        refine, measure_on = images.split(0.5, seed=0)
        # the cost the adapter avoids: re-embedding the gallery with the new image tower
        encoder = Encoder(reg.generation("new"), device="cpu")
        start = _cpu()
        embed_images(
            reg.generation("new"), image_list, Path(tmp) / "re.safetensors", encoder=encoder
        )
        reembed = _cpu() - start
        rows: list[dict[str, Any]] = []
        maps: list[tuple[str, str, Any, float]] = [
            ("none (new as is)", "—", IdentityAdapter(384), 0.0)
        ]
        for family in args.families.split(","):
            for label, data in (("text only", texts), ("image+text", join_pairs(texts, refine))):
                start = _cpu()
                result, _figs = fit_and_measure(family, data, data.subset(range(40)), config)
                maps.append((family, label, result.adapter, _cpu() - start))
        for family, trained, adapter, fit_cpu in maps:
            start = _cpu()
            figs = measure_crossmodal(adapter, queries, measure_on, device="cpu")
            adapter.transform(measure_on.source)
            rows.append(
                {
                    "family": family,
                    "trained": trained,
                    "fit_cpu_s": round(fit_cpu, 2),
                    "figures": figs.to_dict(),  # the stored form, keys as registry.json has them
                    "per_class": _per_class(adapter, queries, measure_on),
                }
            )
        print(
            f"text pairs {len(texts)}, caption queries {len(queries)}, "
            f"image pairs: {len(refine)} for image-text training, {len(measure_on)} held out"
        )
        print(
            f"re-embedding the {len(images)} held-out images with the new image tower: "
            f"{reembed:.2f} CPU s ({len(images) / reembed:.0f} images per CPU s)\n"
        )
        print(
            "| map | trained on | text→image CMC@1 | recall@10 | image→image CMC@1 | "
            "recall@10 (own) | criterion t→i / i→i | fit CPU s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        ref = rows[0]["figures"]
        for row in rows:
            f = row["figures"]
            verdict = "/".join(
                "pass" if f[f"{k}.criterion"] else "fail" for k in ("text-image", "image-image")
            )
            print(
                f"| {row['family']} | {row['trained']} | {f['text-image.cmc@1']:.3f} | "
                f"{f['text-image.recall@10']:.3f} | {f['image-image.cmc@1']:.3f} | "
                f"{f['image-image.recall@10']:.3f} | {verdict} | {row['fit_cpu_s']} |"
            )
        print(
            f"| old/old | — | {ref['text-image.target.cmc@1']:.3f} | "
            f"{ref['text-image.target.recall@10']:.3f} | {ref['image-image.target.cmc@1']:.3f} | — | — | — |"
        )
        print(
            f"| new/new | — | {ref['text-image.source.cmc@1']:.3f} | "
            f"{ref['text-image.source.recall@10']:.3f} | {ref['image-image.source.cmc@1']:.3f} | — | — | — |"
        )
        print("\nper class, CMC@1 text→image / image→image:\n")
        labels = list(rows[0]["per_class"])
        print("| map | trained on | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for row in rows:
            cells = " | ".join(f"{t:.2f}/{i:.2f}" for t, i in row["per_class"].values())
            print(f"| {row['family']} | {row['trained']} | {cells} |")
        if args.json:
            args.json.write_text(json.dumps({"reembed_cpu_s": reembed, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
