"""Train, measure, store and register adapters: the library behind ``embedreg adapter``.

The command line is a thin view over these functions:

* :func:`train_adapter`: fit one family on paired embeddings of a *new* and
  an *old* generation, measure it on held-out pairs, store it
  (``config.json`` + ``model.safetensors``) in the registry's store and
  register an :class:`~embedreg.records.AdapterRecord` with its figures;
* :func:`compare_families`: fit every family on the same split and measure
  each on the same held-out pairs (nothing is stored);
* :func:`load_registered_adapter` / :func:`evaluate_adapter`: load an
  adapter strictly (sha256 checked against the record) and measure it on
  other pairs.

**Directions.**  ``new`` and ``old`` name the two generations; pairs hold the
new generation's vectors as ``source`` and the old one's as ``target``.
``backward`` trains ``new → old`` (new queries search old galleries),
``forward`` trains ``old → new`` (old vectors moved into the new space),
``both`` trains the two on the same split and registers two records.

**Adapter ids.**  ``<from>-to-<to>.<family>``, e.g. ``v3-to-v2.lambda-orth``
(backward) and ``v2-to-v3.lambda-orth`` (forward); ``name=`` overrides the
id (with ``both``: ``<name>.backward`` and ``<name>.forward``).  A taken id
is refused with :class:`~embedreg.errors.DuplicateName` before any training,
unless ``replace=True``.  Files live under the artifact key ``adapters/<id>``,
which is the record's ``location``.

Example:
    >>> import tempfile
    >>> from embedreg import Generation, HubSource, Recipe, Registry
    >>> from embedreg.synthetic import planted_pairs
    >>> reg = Registry.open(tempfile.mkdtemp()); _ = reg.init()
    >>> for name, dim in (("v1", 16), ("v2", 12)):
    ...     _ = reg.add_generation(Generation(name, HubSource("org/" + name, "0" * 40), Recipe(), dim))
    >>> pairs = planted_pairs(400, 12, 16, noise=0.05, seed=0).pairs
    >>> runs = train_adapter(reg, "v2", "v1", pairs, family="procrustes")
    >>> runs[0].record.id, runs[0].record.direction, runs[0].figures["recall@1"] > 0.9
    ('v2-to-v1.procrustes', 'backward', True)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._time import utc_now
from ._version import __version__
from .errors import (
    DimensionMismatch,
    DuplicateName,
    EmbedRegError,
    TrainingDataError,
    ValidationError,
)
from .names import validate_name
from .records import AdapterRecord

if TYPE_CHECKING:
    from .adapters.base import Adapter
    from .generation import Generation
    from .pairs import PairedEmbeddings
    from .persistence import LoadedAdapter
    from .registry import Registry, RegistryDocument
    from .training import TrainConfig, TrainerCallback, TrainResult

#: Values of ``direction``.
DIRECTION_CHOICES: tuple[str, ...] = ("backward", "forward", "both")
#: Default fraction of the pairs kept out of training and used for the figures.
DEFAULT_HELDOUT = 0.2
#: Artifact key prefix of adapter folders.
ARTIFACT_PREFIX = "adapters"

StageFn = Callable[[str], None]


def adapter_id(source: str, target: str, family: str) -> str:
    """The default id of a ``source → target`` adapter of ``family``.

    Example:
        >>> adapter_id("v3", "v2", "lambda-orth")
        'v3-to-v2.lambda-orth'
    """
    return validate_name(f"{source}-to-{target}.{family}", "adapter")


def artifact_key(adapter_id: str) -> str:
    """Where an adapter's files live in the store."""
    return f"{ARTIFACT_PREFIX}/{adapter_id}"


@dataclass(frozen=True)
class AdapterRun:
    """One trained, measured and registered adapter."""

    record: AdapterRecord
    adapter: Adapter
    training: TrainResult
    figures: dict[str, Any]


@dataclass(frozen=True)
class FamilyComparison:
    """One row of :func:`compare_families`: a family's figures, or why it could not be fit."""

    family: str
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    epochs: int = 0
    error: str | None = None


def _directions(direction: str) -> list[str]:
    if direction not in DIRECTION_CHOICES:
        raise ValidationError(
            f"direction must be one of {', '.join(DIRECTION_CHOICES)}, got {direction!r}"
        )
    return ["backward", "forward"] if direction == "both" else [direction]


def _generation_summary(gen: Generation) -> dict[str, Any]:
    return {
        "generation": gen.name,
        "pin": gen.pin,
        "recipe_hash": gen.recipe.hash,
        "dimension": gen.dimension,
    }


def _check_order(doc: RegistryDocument, new: str, old: str) -> None:
    """Refuse when ``new`` is an ancestor of ``old`` (the two were given the wrong way round)."""
    seen = doc.generations[old]
    while seen.parent is not None:
        if seen.parent == new:
            raise ValidationError(
                f"generation {new!r} is an ancestor of {old!r}, but was given as the new one",
                f"give the newer generation first: 'embedreg adapter train {old} {new}' "
                "(add --direction forward for an old → new adapter)",
            )
        seen = doc.generations[seen.parent]


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
    for side, expected in ((pairs.source_generation, new), (pairs.target_generation, old)):
        if side is not None and side != expected.name:
            raise TrainingDataError(
                f"vectors made by generation {side!r} were given for {expected.name!r}",
                "pass the files in the order NEW OLD, each made by that generation",
            )


def load_pairs(
    registry: Registry, new: str, old: str, new_file: str | Path, old_file: str | Path
) -> PairedEmbeddings:
    """Pair two embeddings files of the same items: ``new_file`` by ``new``, ``old_file`` by ``old``.

    Each file must have been made by the generation it is given for (name,
    pin and recipe; else :class:`~embedreg.errors.GenerationMismatch`); items
    are matched by id.

    Example:
        >>> pairs = load_pairs(reg, "v3", "v2", "v3.safetensors", "v2.safetensors")  # doctest: +SKIP
    """
    from .embeddings import load_embeddings
    from .pairs import pairs_from_embeddings

    doc = registry.document()
    new_gen, old_gen = doc.generation(new), doc.generation(old)
    a = load_embeddings(new_file, generation=new_gen)
    b = load_embeddings(old_file, generation=old_gen)
    return pairs_from_embeddings(
        a.ids,
        a.vectors,
        a.labels,
        b.ids,
        b.vectors,
        b.labels,
        new_generation=new_gen.name,
        old_generation=old_gen.name,
        what=(f"{new_gen.name} file {new_file}", f"{old_gen.name} file {old_file}"),
    )


def split_pairs(
    pairs: PairedEmbeddings, heldout: float, seed: int, input_dims: Sequence[int]
) -> tuple[PairedEmbeddings, PairedEmbeddings]:
    """Check ``pairs`` and split them reproducibly into (train, held-out).

    Raises:
        TrainingDataError: NaN/Inf rows, or fewer pairs than the widest
            input needs (see :func:`embedreg.pairs.minimum_pairs`).
    """
    from .pairs import minimum_pairs

    pairs.check(min_pairs=minimum_pairs(max(input_dims), heldout))
    return pairs.split(heldout, seed)


def fit_and_measure(
    family: str,
    train: PairedEmbeddings,
    heldout: PairedEmbeddings,
    config: TrainConfig,
    callbacks: Sequence[TrainerCallback] = (),
) -> tuple[TrainResult, dict[str, Any]]:
    """Fit ``family`` on ``train`` and measure it on ``heldout`` (nothing is stored)."""
    from .evaluation import measure
    from .training import AdapterTrainer

    result = AdapterTrainer(config, callbacks=callbacks).fit(
        family, train.source, train.target, train.label_codes()
    )
    figures = measure(result.adapter, heldout, device=config.device)
    lam = getattr(result.adapter, "lam", None)
    if lam is not None and lam != float("inf"):
        figures["lambda"] = lam
    return result, figures


def train_adapter(
    registry: Registry,
    new: str,
    old: str,
    pairs: PairedEmbeddings,
    *,
    family: str = "lambda-orth",
    direction: str = "backward",
    config: TrainConfig | None = None,
    heldout: float = DEFAULT_HELDOUT,
    name: str | None = None,
    replace_existing: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    on_stage: StageFn | None = None,
) -> list[AdapterRun]:
    """Train, measure, store and register adapters between ``new`` and ``old``.

    Args:
        registry: where the generations are registered and the adapters go.
        new: the newer generation (name or alias); ``pairs.source`` are its vectors.
        old: the older generation; ``pairs.target`` are its vectors.
        pairs: paired embeddings of the same items by both generations.
        family: adapter family (an ``embedreg.adapters`` entry point).
        direction: ``backward`` (new → old), ``forward`` (old → new) or ``both``.
        config: training settings (defaults: :class:`~embedreg.training.TrainConfig`).
        heldout: fraction of the pairs kept for the figures.
        name: adapter id instead of the default (see the module docstring).
        replace_existing: overwrite adapters with the same id.
        callbacks: trainer callbacks (progress).
        on_stage: called with a short description as each stage starts.

    Returns:
        One :class:`AdapterRun` per direction trained.

    Raises:
        UnknownGeneration, DimensionMismatch, TrainingDataError, DuplicateName.
    """
    from .training import TrainConfig

    config = config or TrainConfig()
    doc = registry.document()
    new_gen, old_gen = doc.generation(new), doc.generation(old)
    if new_gen.name == old_gen.name:
        raise ValidationError(
            f"an adapter needs two different generations, got {new_gen.name!r} twice"
        )
    _check_order(doc, new_gen.name, old_gen.name)
    _check_dims(pairs, new_gen, old_gen)
    _check_generation_names(pairs, new_gen, old_gen)
    dirs = _directions(direction)
    plans: list[tuple[str, Generation, Generation, str]] = []
    for d in dirs:
        src, tgt = (new_gen, old_gen) if d == "backward" else (old_gen, new_gen)
        if name is None:
            ident = adapter_id(src.name, tgt.name, family)
        else:
            ident = validate_name(name if len(dirs) == 1 else f"{name}.{d}", "adapter")
        if ident in doc.adapters and not replace_existing:
            err = DuplicateName("adapter", ident, "an existing adapter")
            err.hint = (
                "pass --replace (replace_existing=True) to overwrite it, or --name for another id"
            )
            raise err
        plans.append((d, src, tgt, ident))
    from .adapters.base import family_class

    family_class(family)  # an unknown family fails before the data are touched
    dims = [src.dimension for _, src, _, _ in plans]
    train, test = split_pairs(pairs, heldout, config.seed, dims)
    runs = []
    for d, src, tgt, ident in plans:
        tr, te = (train, test) if d == "backward" else (train.swapped(), test.swapped())
        if on_stage:
            on_stage(f"fitting {family} {src.name} → {tgt.name} ({d}) on {len(tr)} pairs")
        result, figures = fit_and_measure(family, tr, te, config, callbacks)
        provenance = _provenance(
            pairs, src, tgt, d, family, config, result, len(tr), len(te), heldout
        )
        record = _store(
            registry,
            ident,
            src,
            tgt,
            d,
            family,
            result.adapter,
            figures,
            provenance,
            replace_existing,
        )
        runs.append(AdapterRun(record, result.adapter, result, figures))
    return runs


def _provenance(
    pairs: PairedEmbeddings,
    src: Generation,
    tgt: Generation,
    direction: str,
    family: str,
    config: TrainConfig,
    result: TrainResult,
    n_train: int,
    n_heldout: int,
    heldout: float,
) -> dict[str, Any]:
    adapter = result.adapter
    hyper = config.hyperparameters(family, adapter.fitting)
    lam = getattr(adapter, "lam", None)
    if lam is not None:
        hyper["lam_absolute"] = None if lam == float("inf") else lam
    return {
        "embedreg_version": __version__,
        "family": family,
        "direction": direction,
        "source": _generation_summary(src),
        "target": _generation_summary(tgt),
        "training_data": {
            "sha256": pairs.content_hash(),
            "pairs": len(pairs),
            "train": n_train,
            "heldout": n_heldout,
            "heldout_fraction": heldout,
            "split_seed": config.seed,
            "labels": pairs.labels is not None,
        },
        "hyperparameters": hyper,
        "training": {
            "device": result.device,
            "epochs": result.epochs_run,
            "best_epoch": result.best_epoch,
            "batch_size": result.batch_size or None,
            "seconds": round(result.seconds, 3),
            "validation_pairs": result.n_validation,
        },
        "created": utc_now(),
    }


def _store(
    registry: Registry,
    ident: str,
    src: Generation,
    tgt: Generation,
    direction: str,
    family: str,
    adapter: Adapter,
    figures: dict[str, Any],
    provenance: dict[str, Any],
    replace_existing: bool,
) -> AdapterRecord:
    from .persistence import CONFIG_FILENAME, WEIGHTS_FILENAME, save_adapter

    key = artifact_key(ident)
    with tempfile.TemporaryDirectory(prefix="embedreg-adapter-") as tmp:
        digest = save_adapter(adapter, tmp, provenance=provenance, figures=figures)
        files = {n: Path(tmp) / n for n in (CONFIG_FILENAME, WEIGHTS_FILENAME)}
        registry.store.put_artifact(key, files)
    record = AdapterRecord(
        id=ident,
        source=src.name,
        target=tgt.name,
        direction=direction,
        family=family,
        location=key,
        sha256=digest,
        figures=figures,
        provenance=provenance,
    )
    try:
        return registry.add_adapter(record, replace=replace_existing)
    except EmbedRegError:
        # The id was taken while we trained (another writer): our files must not linger.
        if not replace_existing and ident not in registry.document().adapters:
            registry.store.delete_artifact(key)
        raise


def load_registered_adapter(registry: Registry, adapter_id: str) -> LoadedAdapter:
    """Load a registered adapter, verifying its files against the record's sha256.

    Raises:
        UnknownAdapter: no such record.
        AdapterIntegrityError: the files are missing, tampered or truncated.
    """
    from .errors import AdapterIntegrityError, NotFound
    from .persistence import load_adapter

    record = registry.adapter(adapter_id)
    try:
        folder = registry.store.fetch_artifact(record.location)
    except NotFound:
        raise AdapterIntegrityError(
            record.location, "its files are missing from the store"
        ) from None
    return load_adapter(folder, sha256=record.sha256)


def evaluate_adapter(
    registry: Registry, adapter_id: str, pairs: PairedEmbeddings, *, device: str = "auto"
) -> dict[str, Any]:
    """Measure a registered adapter on ``pairs`` (source: its source generation's vectors).

    Returns the figures of :func:`embedreg.evaluation.measure`; the record is
    not changed.
    """
    from .evaluation import measure
    from .pairs import MIN_HELDOUT

    loaded = load_registered_adapter(registry, adapter_id)
    record = registry.adapter(adapter_id)
    doc = registry.document()
    src, tgt = doc.generations[record.source], doc.generations[record.target]
    _check_dims(pairs, src, tgt)
    _check_generation_names(pairs, src, tgt)
    pairs.check(min_pairs=MIN_HELDOUT)
    return measure(loaded.adapter, pairs, device=device)


def compare_families(
    pairs: PairedEmbeddings,
    *,
    families: Sequence[str] | None = None,
    config: TrainConfig | None = None,
    heldout: float = DEFAULT_HELDOUT,
    test: PairedEmbeddings | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    on_stage: StageFn | None = None,
) -> list[FamilyComparison]:
    """Fit every family on the same split and measure each on the same held-out pairs.

    ``pairs.source`` is what the adapters take and ``pairs.target`` what they
    produce (swap them for a forward comparison).  With ``test`` given, all
    of ``pairs`` trains and ``test`` measures; otherwise ``pairs`` is split.
    A family that cannot apply (identity between different dimensions) gets
    a row with its ``error``.

    Example:
        >>> from embedreg.synthetic import planted_pairs
        >>> rows = compare_families(planted_pairs(300, 8, 8, seed=0).pairs, families=["identity", "procrustes"])
        >>> [(r.family, r.figures["recall@1"] > 0.9) for r in rows]
        [('identity', False), ('procrustes', True)]
    """
    from .adapters.base import families as installed
    from .training import TrainConfig

    config = config or TrainConfig()
    names = list(families) if families is not None else _default_order(installed())
    if test is None:
        train, test = split_pairs(pairs, heldout, config.seed, [pairs.source_dim])
    else:
        train = pairs
        from .pairs import MIN_HELDOUT, minimum_pairs

        train.check(min_pairs=minimum_pairs(train.source_dim))
        test.check(min_pairs=MIN_HELDOUT)
    rows = []
    for family in names:
        if on_stage:
            on_stage(f"fitting {family} on {len(train)} pairs")
        t0 = time.perf_counter()
        try:
            result, figures = fit_and_measure(family, train, test, config, callbacks)
        except DimensionMismatch as exc:
            rows.append(FamilyComparison(family, error=exc.message))
            continue
        rows.append(FamilyComparison(family, figures, time.perf_counter() - t0, result.epochs_run))
    return rows


#: The order families are shown in: baselines first, the paper's adapter, then Drift-Adapter's.
FAMILY_ORDER: tuple[str, ...] = (
    "identity",
    "procrustes",
    "affine",
    "lambda-orth",
    "lowrank",
    "mlp",
)


def _default_order(names: Sequence[str]) -> list[str]:
    known = [f for f in FAMILY_ORDER if f in names]
    return known + sorted(set(names) - set(known))


def with_device(config: TrainConfig, device: str | None) -> TrainConfig:
    """``config`` with ``device`` replaced when one is given."""
    return replace(config, device=device) if device else config
