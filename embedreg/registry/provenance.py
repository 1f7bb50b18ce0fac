"""An adapter's provenance as a typed, frozen value: how, from what and by what it was made.

:class:`Provenance` is what :func:`embedreg.training.train_adapters` records
and :class:`~embedreg.registry.AdapterRecord` keeps: the generations it joins
(with their pins), the training data's hash and split, the hyperparameters,
the family's headline settings, the training run, and, when there were any,
the ``--family auto`` selection (:class:`SelectionRecord`) and the fused and
cascade query paths (:class:`PathsRecord`).  Each record keeps the keys it
does not declare in :attr:`~.stored.StoredRecord.extra`, so files written by
other versions and by plugin families round-trip unchanged; the stored form
(:meth:`~.stored.StoredRecord.to_dict`, used by the registry only) is the JSON
object ``registry.json`` has always held.

Example:
    >>> prov = Provenance.from_dict({"source": {"generation": "v2", "pin": "abc"},
    ...                              "settings": {"lambda": 3.0}, "note": "kept"})
    >>> prov.source.pin, prov.target.pin, dict(prov.settings), prov.extra["note"]
    ('abc', None, {'lambda': 3.0}, 'kept')
    >>> Provenance.from_dict(prov.to_dict()) == prov
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .figures import Figures, GridPoint, Scores, Span
from .stored import (
    BOOL,
    FLOAT,
    INT,
    MAPPING,
    SPAN,
    STR,
    STRS,
    StoredRecord,
    nested,
    prefixed,
    records,
    stored,
)

__all__ = [
    "CandidateRecord",
    "GenerationPin",
    "PathCost",
    "PathVariant",
    "PathsRecord",
    "Provenance",
    "SelectionRecord",
    "TrainingData",
    "TrainingRun",
]


@dataclass(frozen=True, kw_only=True, repr=False)
class GenerationPin(StoredRecord):
    """One end of an adapter as it was when the adapter was trained.

    Attributes:
        generation: its name.
        pin: the model revision it was pinned to.
        recipe_hash: the hash of its embedding recipe.
        dimension: its vectors' dimension.
    """

    generation: str | None = stored("generation", STR)
    pin: str | None = stored("pin", STR)
    recipe_hash: str | None = stored("recipe_hash", STR)
    dimension: int | None = stored("dimension", INT)


@dataclass(frozen=True, kw_only=True, repr=False)
class TrainingData(StoredRecord):
    """The pairs an adapter was trained on.

    Attributes:
        sha256: content hash of the pairs.
        pairs, train, heldout: how many pairs in all, trained on, held out.
        heldout_fraction: the fraction asked to be held out.
        split_seed: the seed of the split.
        labels: whether the pairs carried class labels.
        item_ids: 12-hex fingerprints of the training items' ids (when few
            enough), so that figures on them can be flagged.
    """

    sha256: str | None = stored("sha256", STR)
    pairs: int | None = stored("pairs", INT)
    train: int | None = stored("train", INT)
    heldout: int | None = stored("heldout", INT)
    heldout_fraction: float | None = stored("heldout_fraction", FLOAT)
    split_seed: int | None = stored("split_seed", INT)
    labels: bool | None = stored("labels", BOOL)
    item_ids: tuple[str, ...] | None = stored("item_ids", STRS)


@dataclass(frozen=True, kw_only=True, repr=False)
class TrainingRun(StoredRecord):
    """How the fit ran.

    Attributes:
        device: where it ran.
        epochs, best_epoch: epochs run, and the one kept (gradient families).
        batch_size: the batch size used.
        seconds: wall time of the fit.
        validation_pairs: pairs held out of the fit for early stopping.
    """

    device: str | None = stored("device", STR)
    epochs: int | None = stored("epochs", INT)
    best_epoch: int | None = stored("best_epoch", INT)
    batch_size: int | None = stored("batch_size", INT)
    seconds: float | None = stored("seconds", FLOAT)
    validation_pairs: int | None = stored("validation_pairs", INT)


@dataclass(frozen=True, kw_only=True, repr=False)
class CandidateRecord(StoredRecord):
    """One candidate ``--family auto`` compared, with its validation figures.

    Attributes:
        family, label: the family and the candidate's label (family and options).
        options: the family options it was fit with.
        validation: its pooled validation figures.
        difference_interval: interval of its difference to the best candidate.
        seconds, epochs, folds: what fitting it cost.
        stopped: why it was stopped early (racing), if it was.
        error: why it could not be fit, if it could not.
    """

    family: str | None = stored("family", STR)
    label: str | None = stored("label", STR)
    options: Mapping[str, Any] = stored("options", MAPPING, factory=dict)
    validation: Figures = stored("validation", nested(Figures), factory=Figures)
    difference_interval: Span | None = stored("difference_interval", SPAN)
    seconds: float | None = stored("seconds", FLOAT)
    epochs: int | None = stored("epochs", INT)
    folds: int | None = stored("folds", INT)
    stopped: str | None = stored("stopped", STR)
    error: str | None = stored("error", STR)


@dataclass(frozen=True, kw_only=True, repr=False)
class SelectionRecord(StoredRecord):
    """How ``--family auto`` chose (``provenance.selection``).

    Attributes:
        basis: the validation figure it chose by (``cmc@1`` or ``recall@1``).
        folds: the folds validated on.
        fit_pairs, validation_pairs: pairs each candidate was fit on, and
            validation queries pooled over the folds.
        chosen: the chosen candidate's label.
        reason: why it was chosen.
        seconds: time the selection took.
        reference: the target generation's own figure on the basis.
        candidates: every candidate, in the order tried.

    Example:
        >>> sel = SelectionRecord.from_dict({"chosen": "affine", "candidates": [
        ...     {"family": "affine", "label": "affine", "validation": {"recall@1": 0.9}}]})
        >>> sel.winner.validation.recall_at_1
        0.9
    """

    basis: str | None = stored("basis", STR)
    folds: int | None = stored("folds", INT)
    fit_pairs: int | None = stored("fit_pairs", INT)
    validation_pairs: int | None = stored("validation_pairs", INT)
    chosen: str | None = stored("chosen", STR)
    reason: str | None = stored("reason", STR)
    seconds: float | None = stored("seconds", FLOAT)
    reference: float | None = stored("reference", FLOAT)
    candidates: tuple[CandidateRecord, ...] = stored(
        "candidates", records(CandidateRecord), factory=tuple
    )

    @property
    def winner(self) -> CandidateRecord | None:
        """The chosen candidate (``None`` when it is not among those stored)."""
        return next((c for c in self.candidates if c.label == self.chosen), None)


@dataclass(frozen=True, kw_only=True, repr=False)
class PathCost(StoredRecord):
    """What a query path costs beyond the map.

    Attributes:
        extra_encodes: extra encodes per query (the new model's for fused, K re-scores).
        second_model: whether the query also needs the new generation's model.
        arith_us_per_query: measured arithmetic per query, in microseconds.
    """

    extra_encodes: int | None = stored("extra_encodes", INT)
    second_model: bool | None = stored("second_model", BOOL)
    arith_us_per_query: float | None = stored("arith_us_per_query", FLOAT)


@dataclass(frozen=True, kw_only=True, repr=False)
class PathVariant(StoredRecord):
    """One fused or cascade variant of an adapter's query path, held out.

    Attributes:
        kind: ``fused`` or ``cascade``.
        first: a cascade's first stage (``map`` or ``fused``).
        t: the fused weight (fused stages).
        k: the cascade's K.
        figures: its held-out figures.
        validation: its validation figures (what chose it).
        cost: what it costs per query.
    """

    kind: str | None = stored("kind", STR)
    first: str | None = stored("first", STR)
    t: float | None = stored("t", FLOAT)
    k: int | None = stored("k", INT)
    figures: Figures = stored("figures", nested(Figures), factory=Figures)
    validation: Figures = stored("validation", nested(Figures), factory=Figures)
    cost: PathCost = stored("cost", nested(PathCost), factory=PathCost)


@dataclass(frozen=True, kw_only=True, repr=False)
class PathsRecord(StoredRecord):
    """The fused and cascade query paths of an adapter (``provenance.paths``, issue 23).

    Attributes:
        fitted: whether they were fitted.
        reason: why not, when they were not.
        basis: the figure ``t`` was chosen by.
        folds, validation_pairs, validation_gallery: the k-fold validation.
        heldout: held-out pairs the variants were measured on.
        t, t_reason: the fitted ``t``, and why.
        t_grid: the validation figures at each ``t`` tried.
        target, source: old/old and new/new on the held-out pairs.
        variants: each variant, held out.
        seconds: time the fit took.

    Example:
        >>> PathsRecord.from_dict({"fitted": False, "reason": "no labels"}).variants
        ()
    """

    fitted: bool | None = stored("fitted", BOOL)
    reason: str | None = stored("reason", STR)
    basis: str | None = stored("basis", STR)
    folds: int | None = stored("folds", INT)
    validation_pairs: int | None = stored("validation_pairs", INT)
    validation_gallery: int | None = stored("validation_gallery", INT)
    heldout: int | None = stored("heldout", INT)
    t: float | None = stored("t", FLOAT)
    t_reason: str | None = stored("t_reason", STR)
    t_grid: tuple[GridPoint, ...] = stored("t_grid", records(GridPoint), factory=tuple)
    target: Scores = prefixed("target", Scores)
    source: Scores = prefixed("source", Scores)
    variants: tuple[PathVariant, ...] = stored("variants", records(PathVariant), factory=tuple)
    seconds: float | None = stored("seconds", FLOAT)


@dataclass(frozen=True, kw_only=True, repr=False)
class Provenance(StoredRecord):
    """How an adapter was made.

    Attributes:
        embedreg_version: the version that trained it.
        family: its family.
        direction: ``backward`` or ``forward``.
        source, target: its generations as they were (pins, recipes, dimensions).
        training_data: the pairs it was trained on.
        hyperparameters: the schedule and family options it was fit with.
        settings: the family's headline settings
            (:meth:`~embedreg.adapters.Adapter.card_facts`).
        training: how the fit ran.
        created: UTC timestamp.
        request: hash of what was asked (a rerun of the same request is a no-op).
        requested_family: ``auto`` when the family was chosen.
        selection: how ``--family auto`` chose.
        paths: the fused and cascade query paths.
    """

    embedreg_version: str | None = stored("embedreg_version", STR)
    family: str | None = stored("family", STR)
    direction: str | None = stored("direction", STR)
    source: GenerationPin = stored("source", nested(GenerationPin), factory=GenerationPin)
    target: GenerationPin = stored("target", nested(GenerationPin), factory=GenerationPin)
    training_data: TrainingData = stored(
        "training_data", nested(TrainingData), factory=TrainingData
    )
    hyperparameters: Mapping[str, Any] = stored("hyperparameters", MAPPING, factory=dict)
    settings: Mapping[str, Any] = stored("settings", MAPPING, factory=dict)
    training: TrainingRun = stored("training", nested(TrainingRun), factory=TrainingRun)
    created: str | None = stored("created", STR)
    request: str | None = stored("request", STR)
    requested_family: str | None = stored("requested_family", STR)
    selection: SelectionRecord | None = stored("selection", nested(SelectionRecord))
    paths: PathsRecord | None = stored("paths", nested(PathsRecord))
