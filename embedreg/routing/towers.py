"""Paths used across towers: flag a path whose adapters were measured on text alone.

An adapter between two two-tower generations is usually fitted on text pairs
(:mod:`embedreg.training.crossmodal`); its text figures say nothing about how
it serves image queries or an image gallery.  :func:`tower_warning` gives the
line that flags such a use: a hop with no image figures (``modalities.measured``
lacks ``image``), or one whose image figures failed the criterion.

Example:
    >>> from embedreg.registry import Figures
    >>> from embedreg.routing.hops import Hop
    >>> measured = Figures(modalities_trained=("text",), modalities_measured=("text",))
    >>> hop = Hop("new", "old", 1.0, "new-to-old.procrustes", "procrustes", measured)
    >>> path = QueryPath("new", "old", [hop])
    >>> tower_warning(path, query=Tower.IMAGE, gallery=Tower.IMAGE)[:61]
    'new → old serves image queries on image items through adapter'
    >>> tower_warning(path, query=Tower.TEXT, gallery=Tower.TEXT) is None
    True
"""

from __future__ import annotations

from ..evaluation.crossmodal import image_figures_missing
from ..registry import Tower
from .path import QueryPath

__all__ = ["tower_warning"]


def _measured_key(query: Tower, gallery: Tower) -> str | None:
    """The figures that measure ``query`` queries on ``gallery`` items (``None``: none do)."""
    if gallery == Tower.IMAGE:
        return "image-image" if query == Tower.IMAGE else "text-image"
    return None  # image queries on text items: no figure measures that


def tower_warning(path: QueryPath, *, query: Tower, gallery: Tower) -> str | None:
    """The line flagging ``path`` for ``query`` queries on ``gallery`` items, or ``None``.

    Text queries on text items are never flagged here (their figures are the
    ordinary ones); any other use is flagged by the first adapter hop that has
    no image figures, or whose figures for that use failed the criterion.
    """
    if query == gallery == Tower.TEXT:
        return None
    key = _measured_key(query, gallery)
    use = f"{path.query} → {path.gallery} serves {query} queries on {gallery} items"
    for hop in path.hops:
        if hop.is_identity:
            continue
        if image_figures_missing(hop.figures) or key is None:
            return (
                f"{use} through adapter {hop.adapter_id}, which is measured on text only; "
                f"'embedreg adapter measure-images {hop.adapter_id} --images IMAGES --queries "
                "TEXTS' records its image figures"
            )
        use_figures = hop.figures.crossmodal(key)
        if use_figures is not None and use_figures.criterion is False:
            ours, ref = use_figures.cmc_at_1, use_figures.target.cmc_at_1
            return (
                f"{use} through adapter {hop.adapter_id}, which failed the {key.replace('-', '→')} "
                f"criterion (CMC@1 {ours:.3f} against old/old {ref:.3f})"
            )
    return None
