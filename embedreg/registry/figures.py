"""An adapter's measured figures as a typed, frozen value.

:class:`Figures` is what :func:`embedreg.evaluation.measure` measures and
:class:`~embedreg.registry.AdapterRecord` keeps: the held-out retrieval
figures, the criterion, the flips, the retention the router ranks paths by,
their bootstrap intervals, and (two-tower adapters) the cross-modal figures.
The definitions of the figures are in :mod:`embedreg.evaluation.figures`;
here each has an attribute, named after its stored key (``recall@1`` →
``recall_at_1``, ``target.cmc@1`` → ``target.cmc_at_1``,
``retention.interval`` → ``retention_interval``).  Keys without an
attribute (a family's headline settings such as ``lambda``, a plugin
family's own figures) stay in :attr:`~.stored.StoredRecord.extra`; the
stored form (:meth:`~.stored.StoredRecord.to_dict`, used by the registry
only) is the JSON object ``registry.json`` has always held.

Example:
    >>> figs = Figures(heldout=200, labels=True, cmc_at_1=0.8, target=Scores(cmc_at_1=0.9),
    ...                retention=0.8 / 0.9, retention_basis="cmc@1", criterion=False)
    >>> figs.target.cmc_at_1, figs.source.cmc_at_1, figs.count
    (0.9, None, 200)
    >>> stored = figs.to_dict()
    >>> stored["target.cmc@1"], Figures.from_dict(stored) == figs
    (0.9, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .stored import BOOL, FLOAT, INT, MAPPING, SPAN, STR, STRS, StoredRecord, prefixed, stored

__all__ = ["CROSSMODAL_USES", "Figures", "GridPoint", "Scores", "Span"]

#: A stored interval, ``(low, high)``.
Span = tuple[float, float]

#: The cross-modal uses a two-tower adapter is measured for (stored key prefixes).
CROSSMODAL_USES: tuple[str, ...] = ("text-image", "image-image")


@dataclass(frozen=True, kw_only=True, repr=False)
class Scores(StoredRecord):
    """Retrieval figures of one kind of query on one gallery (each ``None`` when not measured).

    Attributes:
        recall_at_1, recall_at_10, recall_at_100: ``recall@k``: own pair (or,
            judged, a relevant item) in the top k.
        agreement_at_10: ``agreement@10``: overlap of the top 10 with the
            target generation's own.
        judged_sim_at_10: ``judged-sim@10``: the label-free retention estimate.
        cmc_at_1, cmc_at_5: ``cmc@k``: a same-label item in the top k.
        map: ``map``: mean average precision.
        ndcg_at_10: ``ndcg@10`` on judged queries.

    Example:
        >>> Scores.from_dict({"cmc@1": 0.5, "map": 0.4}).map
        0.4
    """

    recall_at_1: float | None = stored("recall@1", FLOAT)
    recall_at_10: float | None = stored("recall@10", FLOAT)
    recall_at_100: float | None = stored("recall@100", FLOAT)
    agreement_at_10: float | None = stored("agreement@10", FLOAT)
    judged_sim_at_10: float | None = stored("judged-sim@10", FLOAT)
    cmc_at_1: float | None = stored("cmc@1", FLOAT)
    cmc_at_5: float | None = stored("cmc@5", FLOAT)
    map: float | None = stored("map", FLOAT)
    ndcg_at_10: float | None = stored("ndcg@10", FLOAT)

    @property
    def headline(self) -> float | None:
        """CMC@1 where labels gave it, else recall@1.

        Example:
            >>> Scores(recall_at_1=0.7).headline, Scores(recall_at_1=0.7, cmc_at_1=0.8).headline
            (0.7, 0.8)
        """
        return self.cmc_at_1 if self.cmc_at_1 is not None else self.recall_at_1


@dataclass(frozen=True, kw_only=True, repr=False)
class Figures(Scores):
    """The held-out figures of an adapter, a path variant or a candidate.

    The retrieval figures of :class:`Scores` are those of the adapted
    queries on the target generation's gallery; :attr:`target`,
    :attr:`source`, :attr:`adapted` and :attr:`gallery` hold the same for
    the reference searches (see :mod:`embedreg.evaluation.figures`).

    Attributes:
        heldout: ``heldout``: held-out pairs measured.
        queries: ``queries``: judged queries measured (or, cross-modal, text queries).
        images: ``images``: held-out images (cross-modal).
        labels: ``labels``: whether the held-out pairs carry class labels.
        geometry: ``geometry``: geometry preservation (0: the new space intact).
        criterion: ``criterion``: the empirical compatibility criterion
            (``None`` where it cannot be judged).
        retention: ``retention``: the one number paths are ranked by.
        retention_basis: ``retention.basis``: what :attr:`retention` is computed from.
        recall_at_10_retention: ``recall@10.retention`` (judged queries).
        flips_positive, flips_negative: ``flips.positive`` / ``flips.negative``.
        defect: ``defect``: ``‖WWᵀ − I‖_F`` of a linear map.
        target, source, adapted, gallery: ``target.*``, ``source.*``,
            ``adapted.*``, ``gallery.*``: the reference searches.
        retention_interval, cmc_at_1_interval, recall_at_1_interval,
        ndcg_at_10_interval, recall_at_10_retention_interval: ``<figure>.interval``:
            95 % bootstrap intervals.
        retention_interval_note, cmc_at_1_interval_note, recall_at_1_interval_note,
        ndcg_at_10_interval_note, recall_at_10_retention_interval_note:
            ``<figure>.interval.note``: why an interval is missing.
        text_image, image_image: ``text-image.*`` / ``image-image.*``: the
            cross-modal figures of a two-tower adapter.
        modalities_trained, modalities_measured: ``modalities.trained`` /
            ``modalities.measured``: which modalities trained and measured it.
        training_overlap: ``training_overlap``: how much of the measured data
            trained the adapter (:func:`embedreg.training.evaluate_adapter`;
            never stored in a record).
    """

    heldout: int | None = stored("heldout", INT)
    queries: int | None = stored("queries", INT)
    images: int | None = stored("images", INT)
    labels: bool | None = stored("labels", BOOL)
    geometry: float | None = stored("geometry", FLOAT)
    criterion: bool | None = stored("criterion", BOOL)
    retention: float | None = stored("retention", FLOAT)
    retention_basis: str | None = stored("retention.basis", STR)
    recall_at_10_retention: float | None = stored("recall@10.retention", FLOAT)
    flips_positive: float | None = stored("flips.positive", FLOAT)
    flips_negative: float | None = stored("flips.negative", FLOAT)
    defect: float | None = stored("defect", FLOAT)
    target: Scores = prefixed("target", Scores)
    source: Scores = prefixed("source", Scores)
    adapted: Scores = prefixed("adapted", Scores)
    gallery: Scores = prefixed("gallery", Scores)
    retention_interval: Span | None = stored("retention.interval", SPAN)
    cmc_at_1_interval: Span | None = stored("cmc@1.interval", SPAN)
    recall_at_1_interval: Span | None = stored("recall@1.interval", SPAN)
    ndcg_at_10_interval: Span | None = stored("ndcg@10.interval", SPAN)
    recall_at_10_retention_interval: Span | None = stored("recall@10.retention.interval", SPAN)
    retention_interval_note: str | None = stored("retention.interval.note", STR)
    cmc_at_1_interval_note: str | None = stored("cmc@1.interval.note", STR)
    recall_at_1_interval_note: str | None = stored("recall@1.interval.note", STR)
    ndcg_at_10_interval_note: str | None = stored("ndcg@10.interval.note", STR)
    recall_at_10_retention_interval_note: str | None = stored(
        "recall@10.retention.interval.note", STR
    )
    text_image: Figures | None = prefixed("text-image", lambda: Figures, empty=False)
    image_image: Figures | None = prefixed("image-image", lambda: Figures, empty=False)
    modalities_trained: tuple[str, ...] | None = stored("modalities.trained", STRS)
    modalities_measured: tuple[str, ...] | None = stored("modalities.measured", STRS)
    training_overlap: Mapping[str, Any] | None = stored("training_overlap", MAPPING)

    @property
    def count(self) -> int:
        """The queries measured: :attr:`heldout`, else :attr:`queries`, else 0."""
        if self.heldout is not None:
            return self.heldout
        return self.queries if self.queries is not None else 0

    @property
    def interval_notes(self) -> tuple[str, ...]:
        """Why intervals are missing, one line each (none when all were given).

        Example:
            >>> Figures(retention_interval_note="too few").interval_notes
            ('too few',)
        """
        notes = (
            self.retention_interval_note,
            self.cmc_at_1_interval_note,
            self.recall_at_1_interval_note,
            self.ndcg_at_10_interval_note,
            self.recall_at_10_retention_interval_note,
        )
        return tuple(n for n in notes if n is not None)

    def crossmodal(self, use: str) -> Figures | None:
        """The figures of one cross-modal use (``text-image`` or ``image-image``), if measured.

        Example:
            >>> Figures.from_dict({"image-image.cmc@1": 0.5}).crossmodal("image-image").cmc_at_1
            0.5
        """
        if use not in CROSSMODAL_USES:
            raise ValueError(f"no cross-modal use {use!r} (one of {', '.join(CROSSMODAL_USES)})")
        return self.text_image if use == "text-image" else self.image_image

    def shown(self, key: str, value: Any) -> tuple[bool, Any]:
        """Whether the figure stored as ``key`` is recorded, and what a table shows for it.

        ``value`` is the figure as read by its attribute; a value of the
        wrong type kept in :attr:`extra` is shown as it was stored (a table
        says what the record holds), and a ``null`` counts as recorded.

        Example:
            >>> figs = Figures.from_dict({"criterion": None, "cmc@1": "tampered"})
            >>> figs.shown("criterion", figs.criterion), figs.shown("cmc@1", figs.cmc_at_1)
            ((True, None), (True, 'tampered'))
            >>> figs.shown("map", figs.map)
            (False, None)
        """
        if value is None and key in self.extra:
            return True, self.extra[key]
        return value is not None or key in self.nulls, value

    def setting(self, name: str) -> Any:
        """A family setting stored beside the figures (``lambda``), ``None`` when absent."""
        return self.extra.get(name)


@dataclass(frozen=True, kw_only=True, repr=False)
class GridPoint(Figures):
    """Validation figures at one value of the fused path's ``t`` (``provenance.paths.t_grid``).

    Example:
        >>> GridPoint.from_dict({"t": 0.5, "cmc@1": 0.8}).t
        0.5
    """

    t: float | None = stored("t", FLOAT)
