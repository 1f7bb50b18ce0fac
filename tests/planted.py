"""A planted world for upgrade tests that need no model: two generations, measured adapters, a gallery.

Used by ``tests/upgrade`` and ``tests/cli`` (importable as ``planted``: the
tests folder is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.data.pairs import PairedEmbeddings
from embedreg.gallery import Gallery
from embedreg.registry import GalleryRecord
from embedreg.training import train_adapter

N, CLASSES = 600, 6


def planted_world(tmp_path: Path) -> dict[str, object]:
    """v1 (12-d) and v2 (16-d) views of 600 labelled items; affine adapters both ways; a v1 gallery."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLASSES, 10)).astype(np.float32)
    labels = rng.integers(0, CLASSES, N)
    z = centres[labels] + 0.6 * rng.standard_normal((N, 10)).astype(np.float32)
    vecs = {}
    for name, dim in (("v1", 12), ("v2", 16)):
        x = z @ rng.standard_normal((10, dim)).astype(np.float32)
        x += 0.05 * rng.standard_normal(x.shape).astype(np.float32)
        vecs[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    v1 = reg.add_generation(Generation("v1", HubSource("org/v1", "1" * 40), Recipe(), 12))
    reg.add_generation(Generation("v2", HubSource("org/v2", "2" * 40), Recipe(), 16, parent="v1"))
    ids = [f"i{n}" for n in range(N)]
    train_adapter(
        reg,
        "v2",
        "v1",
        PairedEmbeddings(
            ids[:400], vecs["v2"][:400], vecs["v1"][:400], [str(x) for x in labels[:400]]
        ),
        family="affine",
        direction="both",
    )
    folder = tmp_path / "gallery"
    g = Gallery.create(v1, name="g")
    g.add(vecs["v1"][400:], ids[400:], generation=v1)
    g.save(folder)
    reg.add_gallery(GalleryRecord(name="g", location=str(folder.resolve()), generation="v1"))
    reg.set_alias("production", "v1")
    return {"reg": reg, "folder": folder, "vecs": vecs, "ids": ids}
