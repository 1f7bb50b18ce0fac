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

:func:`with_modalities` adds which modalities trained and measured the
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
    >>> figs.text_image.cmc_at_1, figs.image_image.cmc_at_1, figs.text_image.criterion
    (1.0, 1.0, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..adapters import Adapter
from ..devices import select_device
from ..errors import TrainingDataError
from ..registry.figures import Figures, Scores
from .bootstrap import bootstrap_interval
from .figures import interval_fields
from .metrics import cmc_hits, own_pair_ranks

__all__ = [
    "IMAGE",
    "TEXT",
    "TEXT_IMAGE_KEY",
    "image_figures_missing",
    "measure_crossmodal",
    "with_modalities",
]

TEXT, IMAGE = "text", "image"
#: Figure-key prefixes of the two cross-modal measurements.
TEXT_IMAGE_KEY, IMAGE_IMAGE_KEY = "text-image", "image-image"


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


def _rate(hits: Any) -> float:
    return float(np.mean(hits))


def measure_crossmodal(
    adapter: Adapter, texts: Any, images: Any, *, device: str = "auto"
) -> Figures:
    """Text→image and image→image figures of ``adapter`` (new → old) on held-out data.

    Args:
        adapter: a backward map, new → old.
        texts: labelled text queries embedded by both text towers
            (:class:`~embedreg.data.pairs.PairedEmbeddings`: source new, target old).
        images: labelled held-out images embedded by both image towers (same layout).
        device: where the exact search runs.

    Returns:
        Figures holding :attr:`~embedreg.registry.Figures.text_image` and
        :attr:`~embedreg.registry.Figures.image_image` only.
    """
    dev = select_device(device)
    t_lab, i_lab = _codes(texts.labels, images.labels)
    new_img, old_img = images.source, images.target
    mapped_text = adapter.transform(texts.source)
    mapped_img = adapter.transform(new_img)
    new = texts.source
    after = _hits(mapped_text, old_img, t_lab, i_lab, 1, False, dev)
    target = Scores(
        cmc_at_1=_rate(_hits(texts.target, old_img, t_lab, i_lab, 1, False, dev)),
        recall_at_10=_rate(_hits(texts.target, old_img, t_lab, i_lab, 10, False, dev)),
    )
    span, note = interval_fields(bootstrap_interval(after), len(texts))
    assert target.cmc_at_1 is not None
    text_image = Figures(
        queries=len(texts),
        images=len(images),
        cmc_at_1=_rate(after),
        recall_at_10=_rate(_hits(mapped_text, old_img, t_lab, i_lab, 10, False, dev)),
        target=target,
        source=Scores(
            cmc_at_1=_rate(_hits(new, new_img, t_lab, i_lab, 1, False, dev)),
            recall_at_10=_rate(_hits(new, new_img, t_lab, i_lab, 10, False, dev)),
        ),
        criterion=bool(_rate(after) >= target.cmc_at_1),
        cmc_at_1_interval=span,
        cmc_at_1_interval_note=note,
        nulls=frozenset({"cmc@1.interval"}) if span is None else frozenset(),
    )
    after = _hits(mapped_img, old_img, i_lab, i_lab, 1, True, dev)
    reference = _rate(_hits(old_img, old_img, i_lab, i_lab, 1, True, dev))
    span, note = interval_fields(bootstrap_interval(after), len(images))
    image_image = Figures(
        cmc_at_1=_rate(after),
        recall_at_10=_rate(own_pair_ranks(mapped_img, old_img, device=dev) < 10),
        target=Scores(cmc_at_1=reference),
        source=Scores(cmc_at_1=_rate(_hits(new_img, new_img, i_lab, i_lab, 1, True, dev))),
        criterion=bool(_rate(after) >= reference),
        cmc_at_1_interval=span,
        cmc_at_1_interval_note=note,
        nulls=frozenset({"cmc@1.interval"}) if span is None else frozenset(),
    )
    return Figures(text_image=text_image, image_image=image_image)


def with_modalities(
    figures: Figures,
    trained: Iterable[str],
    measured: Iterable[str],
    crossmodal: Figures | None = None,
) -> Figures:
    """``figures`` with ``modalities.trained`` / ``.measured`` (sorted, without repeats),
    and the cross-modal figures of ``crossmodal`` when given.

    Example:
        >>> with_modalities(Figures(), ["text", "text"], ["image", "text"]).modalities_measured
        ('image', 'text')
    """
    out = replace(
        figures,
        modalities_trained=tuple(sorted(set(trained))),
        modalities_measured=tuple(sorted(set(measured))),
    )
    if crossmodal is not None:
        out = replace(out, text_image=crossmodal.text_image, image_image=crossmodal.image_image)
    return out


def image_figures_missing(figures: Figures) -> bool:
    """True when an adapter's figures hold no image measurement (it was measured on text only)."""
    return IMAGE not in (figures.modalities_measured or ())
