"""Train, measure, store and register adapters: the library behind ``embedreg adapter train``.

* :func:`train_adapter`: fit one family on paired embeddings of a *new* and
  an *old* generation, measure it on held-out pairs, store it
  (``config.json`` + ``model.safetensors``) in the registry's store and
  register an :class:`~embedreg.registry.AdapterRecord` with its figures;
* :func:`evaluate_adapter`: load a registered adapter strictly (sha256
  checked against the record) and measure it on other pairs.

**Directions.**  ``new`` and ``old`` name the two generations; pairs hold the
new generation's vectors as ``source`` and the old one's as ``target``.
``backward`` trains ``new → old`` (new queries search old galleries),
``forward`` trains ``old → new`` (old vectors moved into the new space),
``both`` trains the two on the same split and registers two records.

**Adapter ids.**  ``<from>-to-<to>.<family>``, e.g. ``v3-to-v2.lambda-orth``
(backward) and ``v2-to-v3.lambda-orth`` (forward); ``name=`` overrides the
id (with ``both``: ``<name>.backward`` and ``<name>.forward``).  A taken id
is refused with :class:`~embedreg.errors.DuplicateName` before any training,
unless ``replace_existing=True``.  Files live under the artifact key
``adapters/<id>``, which is the record's ``location``.

Example:
    >>> import tempfile
    >>> from embedreg.registry import Generation, HubSource, Recipe, Registry
    >>> from embedreg.data.synthetic import planted_pairs
    >>> reg = Registry.open(tempfile.mkdtemp()); _ = reg.init()
    >>> for name, dim in (("v1", 16), ("v2", 12)):
    ...     _ = reg.add_generation(Generation(name, HubSource("org/" + name, "0" * 40), Recipe(), dim))
    >>> pairs = planted_pairs(400, 12, 16, noise=0.05, seed=0).pairs
    >>> runs = train_adapter(reg, "v2", "v1", pairs, family="procrustes")
    >>> runs[0].record.id, runs[0].record.direction, runs[0].figures.recall_at_1 > 0.9
    ('v2-to-v1.procrustes', 'backward', True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .._version import __version__
from ..adapters import (
    Adapter,
    FamilyConfig,
    adapter_id,
    family_class,
    load_registered_adapter,
    store_adapter,
)
from ..data.pairs import MIN_HELDOUT, PairedEmbeddings
from ..errors import (
    ConflictError,
    DimensionMismatch,
    DuplicateName,
    TrainingDataError,
    ValidationError,
)
from ..evaluation import measure
from ..registry import AdapterRecord, Generation, Registry, validate_name
from ..registry.figures import Figures
from ..registry.provenance import (
    GenerationPin,
    Provenance,
    SelectionRecord,
    TrainingData,
    TrainingRun,
)
from ..util.callbacks import StageFn
from ..util.clock import utc_now
from ..util.hashing import canonical_json_sha256
from .callbacks import TrainerCallback, TrainResult
from .config import TrainConfig
from .data import DEFAULT_HELDOUT, check_order, directions, split_pairs
from .overlap import MAX_RECORDED_IDS, id_fingerprints, training_overlap
from .paths import adapter_paths
from .selection import AUTO, AutoConfig, Selection, candidate_grid, select_adapter
from .trainer import AdapterTrainer

__all__ = [
    "AdapterRun",
    "StageFn",
    "evaluate_adapter",
    "fit_and_measure",
    "fit_family",
    "measure_result",
    "train_adapter",
]

log = logging.getLogger("embedreg.training")


@dataclass(frozen=True)
class AdapterRun:
    """One trained, measured and registered adapter."""

    record: AdapterRecord
    adapter: Adapter
    #: How it was trained; ``None`` when an identical request found it registered already.
    training: TrainResult | None
    figures: Figures


def fit_and_measure(
    family: str,
    train: PairedEmbeddings,
    heldout: PairedEmbeddings,
    config: TrainConfig,
    options: FamilyConfig | Mapping[str, Any] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> tuple[TrainResult, Figures]:
    """Fit ``family`` on ``train`` and measure it on ``heldout`` (nothing is stored)."""
    result, _selection = fit_family(family, train, config, options, callbacks)
    return result, measure_result(result, heldout, config)


def fit_family(
    family: str,
    train: PairedEmbeddings,
    config: TrainConfig,
    options: FamilyConfig | Mapping[str, Any] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    on_stage: StageFn | None = None,
) -> tuple[TrainResult, Selection | None]:
    """Fit ``family`` on ``train``; ``auto`` chooses among the candidates (and says how)."""
    if family == AUTO:
        auto = make_options(AUTO, options)
        assert isinstance(auto, AutoConfig)
        return select_adapter(train, config, auto, callbacks=callbacks, on_stage=on_stage)
    result = AdapterTrainer(config, callbacks=callbacks).fit(
        family, train.source, train.target, train.labels, options=options
    )
    return result, None


def make_options(family: str, options: FamilyConfig | Mapping[str, Any] | None) -> FamilyConfig:
    """The config of ``family`` (``auto`` included) from ``options``; unknown keys refused."""
    if family == AUTO:
        if isinstance(options, AutoConfig):
            return options
        if isinstance(options, FamilyConfig):
            raise ValidationError(
                f"--family auto takes an AutoConfig, got a {type(options).__name__}"
            )
        return AutoConfig.from_options(options or {}, family=AUTO)
    return family_class(family).make_config(options)


def measure_result(result: TrainResult, heldout: PairedEmbeddings, config: TrainConfig) -> Figures:
    """The held-out figures of a fitted adapter, with its family's headline settings.

    The settings (:meth:`~embedreg.adapters.Adapter.card_facts`, e.g. the
    absolute λ of a λ-orthogonal map) stand beside the figures they explain
    (in :attr:`~embedreg.registry.Figures.extra`, read with ``setting``).
    """
    figures = measure(result.adapter, heldout, device=config.device)
    return replace(figures, extra={**figures.extra, **result.adapter.card_facts()})


def train_adapter(
    registry: Registry,
    new: str,
    old: str,
    pairs: PairedEmbeddings,
    *,
    family: str = AUTO,
    options: FamilyConfig | Mapping[str, Any] | None = None,
    direction: str = "backward",
    config: TrainConfig | None = None,
    heldout: float = DEFAULT_HELDOUT,
    name: str | None = None,
    replace_existing: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    on_stage: StageFn | None = None,
    fit_paths: bool = True,
) -> list[AdapterRun]:
    """Train, measure, store and register adapters between ``new`` and ``old``.

    Args:
        registry: where the generations are registered and the adapters go.
        new: the newer generation (name or alias); ``pairs.source`` are its vectors.
        old: the older generation; ``pairs.target`` are its vectors.
        pairs: paired embeddings of the same items by both generations
            (:func:`~embedreg.training.training_pairs` makes them from files or texts).
        family: adapter family (an ``embedreg.adapters`` entry point), or
            ``auto`` (the default): fit the candidates of every family, choose
            by k-fold validation on the training pairs, refit the winner
            (:mod:`embedreg.training.selection`); the record's ``family`` is
            the chosen one and ``provenance["selection"]`` says how it was chosen.
        options: the family's hyperparameters (its config, or ``key: value``
            settings checked against it; ``embedreg adapter families`` lists them);
            for ``auto`` the :class:`~embedreg.training.selection.AutoConfig`.
        direction: ``backward`` (new → old), ``forward`` (old → new) or ``both``.
        config: the training schedule (defaults: :class:`~embedreg.training.TrainConfig`).
        heldout: fraction of the pairs kept for the figures.
        name: adapter id instead of the default (see the module docstring).
        replace_existing: overwrite adapters with the same id.
        callbacks: trainer callbacks (progress).
        on_stage: called with a short description as each stage starts (each
            is also logged, logger ``embedreg.training`` at INFO: a script
            that sets ``logging.basicConfig(level=logging.INFO)`` sees them).
        fit_paths: with labels, also fit the fused path's ``t`` and measure
            cascades (:mod:`embedreg.training.paths`, ``provenance["paths"]``).

    Returns:
        One :class:`AdapterRun` per direction.  Asking again for an adapter that
        is registered from the same data and settings (a command rerun after
        it was killed, say) returns the registered one untouched, with
        ``training=None``; other settings under a taken id are refused.

    Raises:
        UnknownGeneration, DimensionMismatch, TrainingDataError, DuplicateName,
        PluginError (an unknown family), ValidationError (unknown options).
    """
    config = config or TrainConfig()
    doc = registry.document()
    new_gen, old_gen = doc.generation(new), doc.generation(old)
    check_order(doc, new_gen.name, old_gen.name)
    _check_dims(pairs, new_gen, old_gen)
    _check_generation_names(pairs, new_gen, old_gen)
    dirs = directions(direction)
    # an unknown family or option fails before the data are touched
    family_options = make_options(family, options)
    plans: list[tuple[str, Generation, Generation, str, str]] = []
    done: dict[str, AdapterRun] = {}
    for d in dirs:
        src, tgt = (new_gen, old_gen) if d == "backward" else (old_gen, new_gen)
        if name is None:
            ident = adapter_id(src.name, tgt.name, family)
        else:
            ident = validate_name(name if len(dirs) == 1 else f"{name}.{d}", "adapter")
        request = _request_hash(pairs, src, tgt, d, family, family_options, config, heldout)
        existing = doc.adapters.get(ident)
        if existing is not None and not replace_existing:
            if existing.provenance.request != request:
                err = DuplicateName("adapter", ident, "an existing adapter")
                err.hint = (
                    "pass --replace (replace_existing=True) to overwrite it, "
                    "or --name for another id"
                )
                raise err
            loaded = load_registered_adapter(registry, ident)
            done[ident] = AdapterRun(existing, loaded.adapter, None, existing.figures)
        plans.append((d, src, tgt, ident, request))
    train, test = split_pairs(
        pairs, heldout, config.seed, [src.dimension for _, src, _, _, _ in plans]
    )
    runs = []
    for d, src, tgt, ident, request in plans:
        if ident in done:
            runs.append(done[ident])
            continue
        tr, te = (train, test) if d == "backward" else (train.swapped(), test.swapped())
        stage = f"fitting {family} {src.name} → {tgt.name} ({d}) on {len(tr)} pairs"
        log.info("%s", stage)  # auto logs its own stages (logger embedreg.training)
        if on_stage:
            on_stage(stage)
        result, selection = fit_family(family, tr, config, family_options, callbacks, on_stage)
        figures = measure_result(result, te, config)
        provenance = _provenance(pairs, src, tgt, d, config, result, tr.ids, len(te), heldout)
        provenance = replace(provenance, request=request)
        if fit_paths:
            if on_stage:
                on_stage("fitting the fused path's t and measuring cascades")
            paths = adapter_paths(
                result.family, result.options, tr, te, result.adapter, config, selection
            )
            provenance = replace(provenance, paths=paths)
        if selection is not None:
            # the selection's JSON-ready form, typed as the record keeps it
            chosen = SelectionRecord.from_dict(selection.to_dict())
            provenance = replace(provenance, requested_family=AUTO, selection=chosen)
        record = store_adapter(
            registry,
            result.adapter,
            ident=ident,
            source=src.name,
            target=tgt.name,
            direction=d,
            figures=figures,
            provenance=provenance,
            replace=replace_existing,
            generations={src.name: src, tgt.name: tgt},  # as they were when the data was read
        )
        runs.append(AdapterRun(record, result.adapter, result, figures))
    return runs


def evaluate_adapter(
    registry: Registry, adapter: str, pairs: PairedEmbeddings, *, device: str = "auto"
) -> Figures:
    """Measure registered adapter ``adapter`` on ``pairs`` (source: its source generation's vectors).

    Returns the figures of :func:`embedreg.evaluation.measure`; the record is
    not changed.  When ``pairs`` are (or include) the adapter's training data
    (:mod:`embedreg.training.overlap`), ``figures.training_overlap`` says
    how much: those figures are optimistic.

    Example:
        >>> evaluate_adapter(reg, "v3-to-v2.lambda-orth", pairs).recall_at_1  # doctest: +SKIP
        0.93
    """
    loaded = load_registered_adapter(registry, adapter)
    record = registry.adapter(adapter)
    doc = registry.document()
    src, tgt = doc.generations[record.source], doc.generations[record.target]
    _check_dims(pairs, src, tgt)
    _check_generation_names(pairs, src, tgt)
    pairs.check(min_pairs=MIN_HELDOUT)
    figures = measure(loaded.adapter, pairs, device=device)
    overlap = training_overlap(adapter, record.provenance, pairs.ids, pairs.content_hash())
    if overlap is not None:  # optimistic figures: said so
        figures = replace(figures, training_overlap=overlap.to_dict())
    return figures


# --- checks and provenance -------------------------------------------------------------


def _check_dims(pairs: PairedEmbeddings, new: Generation, old: Generation) -> None:
    if pairs.source_dim != new.dimension:
        raise DimensionMismatch(
            new.dimension,
            pairs.source_dim,
            f"vectors given for generation {new.name!r}",
            hint=f"pass vectors embedded by {new.name!r} first, then those of {old.name!r}",
        )
    if pairs.target_dim != old.dimension:
        raise DimensionMismatch(
            old.dimension,
            pairs.target_dim,
            f"vectors given for generation {old.name!r}",
            hint=f"pass vectors embedded by {old.name!r} second",
        )


def _check_generation_names(pairs: PairedEmbeddings, new: Generation, old: Generation) -> None:
    sides = (
        (pairs.source_generation, pairs.source_space, new),
        (pairs.target_generation, pairs.target_space, old),
    )
    for name, space, expected in sides:
        if name is not None and name != expected.name:
            raise TrainingDataError(
                f"vectors made by generation {name!r} were given for {expected.name!r}",
                "pass the files in the order NEW OLD, each made by that generation",
            )
        if space is not None and space != expected.space_key:
            raise ConflictError(
                f"the vectors given for generation {expected.name!r} were made by another "
                f"model or recipe under that name ({space[0]}, now {expected.pin})",
                f"embed the inputs again with {expected.name!r} as it is registered now",
            )


def _generation_summary(gen: Generation) -> GenerationPin:
    return GenerationPin(
        generation=gen.name,
        pin=gen.pin,
        recipe_hash=gen.recipe.hash,
        dimension=gen.dimension,
    )


def _request_hash(
    pairs: PairedEmbeddings,
    src: Generation,
    tgt: Generation,
    direction: str,
    family: str,
    options: FamilyConfig,
    config: TrainConfig,
    heldout: float,
) -> str:
    """What was asked for: the data, both generations, the family and every setting, hashed.

    For ``auto`` the candidate grid (which depends on the data's size) is part of it.
    """
    grid = None
    if isinstance(options, AutoConfig):
        n_train = len(pairs) - max(1, round(len(pairs) * heldout))
        grid = [
            c.to_dict()
            for c in candidate_grid(
                n_train,
                src.dimension,
                tgt.dimension,
                labels=pairs.labels is not None,
                families=options.family_names(),
            )
        ]
    asked: dict[str, Any] = {
        "data": pairs.content_hash(),
        "source": list(src.space_key),
        "target": list(tgt.space_key),
        "direction": direction,
        "family": family,
        "options": options.to_dict(),
        "schedule": config.to_dict(),
        "heldout": heldout,
    }
    if grid is not None:
        asked["candidates"] = grid
    return canonical_json_sha256(asked)


def _provenance(
    pairs: PairedEmbeddings,
    src: Generation,
    tgt: Generation,
    direction: str,
    config: TrainConfig,
    result: TrainResult,
    train_ids: Sequence[str],
    n_heldout: int,
    heldout: float,
) -> Provenance:
    adapter = result.adapter
    n_train = len(train_ids)
    hyper: dict[str, Any] = {}
    if adapter.fitting == "gradient":
        hyper.update((result.config or config).to_dict())
    hyper.update(result.options.to_dict())
    # which items trained it, so that figures on them can be flagged
    item_ids = id_fingerprints(train_ids) if n_train <= MAX_RECORDED_IDS else None
    return Provenance(
        embedreg_version=__version__,
        family=adapter.family,
        direction=direction,
        source=_generation_summary(src),
        target=_generation_summary(tgt),
        training_data=TrainingData(
            sha256=pairs.content_hash(),
            pairs=len(pairs),
            train=n_train,
            heldout=n_heldout,
            heldout_fraction=heldout,
            split_seed=config.seed,
            labels=pairs.labels is not None,
            item_ids=tuple(item_ids) if item_ids is not None else None,
        ),
        hyperparameters=hyper,
        settings=adapter.card_facts(),
        training=TrainingRun.recorded(
            device=result.device,
            epochs=result.epochs_run,
            best_epoch=result.best_epoch,
            batch_size=result.batch_size or None,
            seconds=round(result.seconds, 3),
            validation_pairs=result.n_validation,
        ),
        created=utc_now(),
    )
