"""Cross-modal held-out figures: an adapter between two two-tower generations, used on images.

Both towers of a two-tower generation embed into one space, so a map from
the new generation's space to the old one's (learned on text pairs alone, or
refined with image pairs) also carries the new generation's *image* vectors
and *text* queries into the old image gallery.  :func:`measure_crossmodal`
measures that on labelled held-out data (a hit: an image of the query's label):

=================================  ==========================================================
key                                definition
=================================  ==========================================================
``text-image.queries``             labelled text queries measured
``text-image.images``              labelled held-out images in the gallery
``text-image.cmc@1``               ``A(new text)`` queries on the old image gallery: fraction
                                   with an image of their label ranked first
``text-image.recall@10``           … with one among the top 10
``text-image.target.cmc@1``        old text queries on the old image gallery (old/old), and
``text-image.target.recall@10``    its recall@10
``text-image.source.cmc@1``        new text queries on the new image gallery (new/new), and
``text-image.source.recall@10``    its recall@10
``text-image.criterion``           ``cmc@1 ≥ target.cmc@1`` (the compatibility criterion)
``image-image.cmc@1``              ``A(new image)`` queries on the old image gallery, the
                                   query's own old vector left out (leave-one-out, by label)
``image-image.recall@10``          fraction whose own image's old vector is in the top 10
``image-image.target.*``           old/old (leave-one-out ``cmc@1``; ``recall@10`` is 1 by
                                   construction and not stored)
``image-image.source.cmc@1``       new/new (leave-one-out)
``image-image.criterion``          ``cmc@1 ≥ target.cmc@1``
``*.cmc@1.interval``               95 % bootstrap interval over the queries (``None`` under 30)
=================================  ==========================================================

:func:`modalities_figures` adds which modalities trained and measured the
adapter (``modalities.trained``, ``modalities.measured``); a path measured on
text only is flagged when it serves images (:func:`image_figures_missing`).

Example:
    >>> import numpy as np
    >>> from embedreg.adapters.identity import IdentityAdapter
    >>> from embedreg.data.pairs import PairedEmbeddings
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.standard_normal((3, 8)).astype(np.float32)
    >>> img = np.repeat(centres, 12, axis=0) + 0.1 * rng.standard_normal((36, 8)).astype(np.float32)
    >>> labels = [str(i // 12) for i in range(36)]
    >>> images = PairedEmbeddings([f"i{i}" for i in range(36)], img, img, labels)
    >>> texts = PairedEmbeddings(["a", "b", "c"], centres, centres, ["0", "1", "2"])
    >>> figs = measure_crossmodal(IdentityAdapter(8), texts, images, device="cpu")
    >>> figs["text-image.cmc@1"], figs["image-image.cmc@1"], figs["text-image.criterion"]
    (1.0, 1.0, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..adapters import Adapter
from ..devices import select_device
from ..errors import TrainingDataError
from .bootstrap import bootstrap_interval
from .figures import store_interval
from .metrics import cmc_hits, own_pair_ranks

__all__ = [
    "IMAGE",
    "TEXT",
    "TEXT_IMAGE_KEY",
    "image_figures_missing",
    "measure_crossmodal",
    "modalities_figures",
]

TEXT, IMAGE = "text", "image"
#: Figure-key prefixes of the two cross-modal measurements.
TEXT_IMAGE_KEY, IMAGE_IMAGE_KEY = "text-image", "image-image"
TRAINED, MEASURED = "modalities.trained", "modalities.measured"


def _codes(*label_lists: Iterable[str] | None) -> list[npt.NDArray[np.int64]]:
    """One shared integer code per label across all lists (a missing list is refused)."""
    vocab: dict[str, int] = {}
    out = []
    for labels in label_lists:
        if labels is None:
            raise TrainingDataError(
                "cross-modal figures need labelled texts and images",
                "give a 'label' to every text query and every image",
            )
        out.append(np.asarray([vocab.setdefault(str(x), len(vocab)) for x in labels], np.int64))
    return out


def _hits(queries: Any, gallery: Any, ql: Any, gl: Any, k: int, loo: bool, dev: str) -> Any:
    return cmc_hits(queries, gallery, ql, gl, k, exclude_self=loo, device=dev)


def _pair(figs: dict[str, Any], key: str, hits1: Any, hits10: Any | None) -> None:
    figs[f"{key}.cmc@1"] = float(np.mean(hits1))
    if hits10 is not None:
        figs[f"{key}.recall@10"] = float(np.mean(hits10))


def measure_crossmodal(
    adapter: Adapter, texts: Any, images: Any, *, device: str = "auto"
) -> dict[str, Any]:
    """Text→image and image→image figures of ``adapter`` (new → old) on held-out data.

    Args:
        adapter: a backward map, new → old.
        texts: labelled text queries embedded by both text towers
            (:class:`~embedreg.data.pairs.PairedEmbeddings`: source new, target old).
        images: labelled held-out images embedded by both image towers (same layout).
        device: where the exact search runs.
    """
    dev = select_device(device)
    t_lab, i_lab = _codes(texts.labels, images.labels)
    new_img, old_img = images.source, images.target
    mapped_text = adapter.transform(texts.source)
    mapped_img = adapter.transform(new_img)
    figs: dict[str, Any] = {
        f"{TEXT_IMAGE_KEY}.queries": len(texts),
        f"{TEXT_IMAGE_KEY}.images": len(images),
    }
    t = TEXT_IMAGE_KEY
    after = _hits(mapped_text, old_img, t_lab, i_lab, 1, False, dev)
    _pair(figs, t, after, _hits(mapped_text, old_img, t_lab, i_lab, 10, False, dev))
    before = _hits(texts.target, old_img, t_lab, i_lab, 1, False, dev)
    _pair(figs, f"{t}.target", before, _hits(texts.target, old_img, t_lab, i_lab, 10, False, dev))
    new = texts.source
    _pair(figs, f"{t}.source", _hits(new, new_img, t_lab, i_lab, 1, False, dev), None)
    figs[f"{t}.source.recall@10"] = float(
        np.mean(_hits(new, new_img, t_lab, i_lab, 10, False, dev))
    )
    figs[f"{t}.criterion"] = bool(figs[f"{t}.cmc@1"] >= figs[f"{t}.target.cmc@1"])
    store_interval(figs, f"{t}.cmc@1", bootstrap_interval(after), len(texts))

    m = IMAGE_IMAGE_KEY
    after = _hits(mapped_img, old_img, i_lab, i_lab, 1, True, dev)
    figs[f"{m}.cmc@1"] = float(np.mean(after))
    figs[f"{m}.recall@10"] = float(np.mean(own_pair_ranks(mapped_img, old_img, device=dev) < 10))
    figs[f"{m}.target.cmc@1"] = float(np.mean(_hits(old_img, old_img, i_lab, i_lab, 1, True, dev)))
    figs[f"{m}.source.cmc@1"] = float(np.mean(_hits(new_img, new_img, i_lab, i_lab, 1, True, dev)))
    figs[f"{m}.criterion"] = bool(figs[f"{m}.cmc@1"] >= figs[f"{m}.target.cmc@1"])
    store_interval(figs, f"{m}.cmc@1", bootstrap_interval(after), len(images))
    return figs


def modalities_figures(trained: Iterable[str], measured: Iterable[str]) -> dict[str, list[str]]:
    """``modalities.trained`` / ``modalities.measured``: sorted, without repeats."""
    return {TRAINED: sorted(set(trained)), MEASURED: sorted(set(measured))}


def image_figures_missing(figures: Mapping[str, Any]) -> bool:
    """True when an adapter's figures hold no image measurement (it was measured on text only)."""
    return IMAGE not in (figures.get(MEASURED) or ())
