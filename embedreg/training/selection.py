"""``auto``: fit the candidates, choose by k-fold validation, refit the winner.

What ``embedreg adapter train`` does by default (``--family auto``).  Which
family wins depends on the pair and the data (the closed forms on a pair the
new model barely improves, λ-orth where it is much better, the affine map
where the Procrustes start is a poor one; ``bench/RESULTS.md``), and a user
has no way to know beforehand.  So:

1. **The candidates.**  Every installed family may put candidates in the
   grid: :meth:`~embedreg.adapters.Adapter.auto_candidates` gives its configs
   for the data's size and dimensions (the built-ins: identity between equal
   dimensions, Procrustes uncentred and centred, ridge, λ-orth at its
   defaults, centred and with a looser λ, low-rank, the residual MLP; a
   plugin family joins by overriding it).  ``-o families=a,b`` keeps only some families.
2. **Fit and validate, k-fold.**  The training pairs are cut at random into
   ``-o folds=5`` folds; each candidate is fit on all folds but one and its
   adapted queries are searched on the held fold's target gallery, once per
   fold: CMC top-1 (leave-one-out) and mAP with labels, own-pair recall@1
   without.  The per-query successes of all folds are pooled, so every
   training pair is a validation query once (``-o folds=1``: one validation
   part of ``-o validation=0.25`` of the pairs, the rule before; on the hard
   sets its 300 to 700 queries could not tell the closed forms apart).  The
   closed forms run on every fold first; the gradient candidates fold by
   fold, each stopped once clearly behind on the queries so far, their later
   folds trained for the first fold's best epoch count
   (:mod:`embedreg.training.racing`).  With ``-o workers=N`` (0: one per
   CPU core) the gradient candidates of a fold are fit N at a time in
   threads: the same figures and choice, sooner where the cores are free
   (torch runs the small products of these fits on one core or little more).
3. **Choose.**  The best pooled figure (CMC@1, or recall@1) leads.  A
   candidate is *tied* with it when its figure is within ``-o
   tolerance=0.0025`` *and* the paired bootstrap interval of the difference
   (over the pooled queries) reaches zero.  Of the best and those tied with
   it, the simplest (earlier in the grid: closed forms before gradient
   families, orthogonal before free maps, fewer parameters first) whose
   pooled mAP is within the same tolerance of the highest mAP among them is
   taken: CMC top-1 is a coarse figure, mAP ranks the whole gallery, and a
   more complex map must earn its place by it.  Without labels (no mAP):
   the simplest tied candidate.  With labels, the tied candidates that pass
   the compatibility criterion *on validation* (their pooled CMC@1 at least
   the old model's own on the same held folds, ``Selection.reference``) are
   preferred to those that do not.
4. **Refit.**  The chosen candidate is fit again on all the training pairs
   (``-o refit=false`` keeps its fit on the first fold's fit pairs), so it is
   exactly the adapter ``--family NAME -o …`` would train.

Every candidate's validation figures go in the adapter's record
(``provenance.selection``), ``embedreg adapter show`` lists them and
the adapter's Hub card carries them.

Example:
    >>> [c.label for c in candidate_grid(3000, 384, 384, labels=True)][:3]
    ['identity', 'procrustes', 'procrustes center=true']
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..adapters import FamilyConfig, family_class
from ..adapters import families as installed_families
from ..adapters.config import check_positive
from ..data.pairs import PairedEmbeddings
from ..devices import select_device
from ..errors import TrainingDataError, ValidationError
from .callbacks import TrainerCallback, TrainResult
from .config import TrainConfig
from .racing import (
    Serial,
    Tally,
    cut_folds,
    difference_interval,
    duration,
    fit_fold,
    rough_seconds,
)
from .racing import race as _race
from .trainer import AdapterTrainer

__all__ = [
    "AUTO",
    "AutoConfig",
    "CandidateResult",
    "FamilyCandidate",
    "Selection",
    "candidate_grid",
    "select_adapter",
]

#: The family name that asks for the choice.
AUTO = "auto"

log = logging.getLogger("embedreg.training")


@dataclass(frozen=True)
class AutoConfig(FamilyConfig):
    """Options of ``--family auto`` (``-o KEY=VALUE``)."""

    families: str | None = field(
        default=None,
        metadata={"help": "comma-separated families to draw candidates from (none: all)"},
    )
    folds: int = field(
        default=5,
        metadata={
            "help": "k-fold validation: each candidate fit on k-1 folds, checked on the other"
        },
    )
    validation: float = field(
        default=0.25,
        metadata={
            "help": "with folds=1: share of the training pairs the candidates are compared on"
        },
    )
    tolerance: float = field(
        default=0.0025,
        metadata={"help": "a candidate this close to the best (and tied) may be chosen"},
    )
    refit: bool = field(
        default=True, metadata={"help": "fit the chosen candidate again on all training pairs"}
    )
    workers: int = field(
        default=1,
        metadata={
            "help": "gradient candidates fit at once on each fold, in threads (0: one per core)"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 1:
            raise ValidationError(f"folds must be a whole number of at least 1, got {self.folds!r}")
        if not 0.0 < self.validation < 1.0:
            raise ValidationError(
                f"validation must be a fraction in (0, 1), got {self.validation!r}"
            )
        if self.tolerance != 0:
            check_positive("tolerance", self.tolerance)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValidationError(
                f"workers must be a whole number of at least 0, got {self.workers!r}"
            )

    def threads(self) -> int:
        """How many fits run at once (``workers``, 0 meaning one per CPU core)."""
        return self.workers or os.cpu_count() or 1

    def family_names(self) -> list[str] | None:
        """The families asked for, or ``None`` for every installed one."""
        if self.families is None:
            return None
        names = [n.strip() for n in self.families.split(",") if n.strip()]
        for name in names:
            family_class(name)  # an unknown family fails here
        return names


@dataclass(frozen=True)
class FamilyCandidate:
    """One family with one config, as the grid lists it (simplest first)."""

    family: str
    options: FamilyConfig
    label: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: family, label and the options as set."""
        return {"family": self.family, "label": self.label, "options": self.options.to_dict()}


def candidate_grid(
    n_train: int,
    input_dim: int,
    output_dim: int,
    *,
    labels: bool,
    families: Sequence[str] | None = None,
) -> list[FamilyCandidate]:
    """The candidates for ``n_train`` training pairs of ``input_dim → output_dim``, simplest first.

    Each family gives its own (:meth:`~embedreg.adapters.Adapter.auto_candidates`),
    in the families' listing order.
    """
    out = []
    for name in families if families is not None else installed_families():
        cls = family_class(name)
        for options in cls.auto_candidates(
            n_train=n_train, input_dim=input_dim, output_dim=output_dim, labels=labels
        ):
            settings = " ".join(f"{k}={_text(v)}" for k, v in options.items())
            out.append(
                FamilyCandidate(name, cls.make_config(options), f"{name} {settings}".strip())
            )
    return out


def _text(value: Any) -> str:
    """A setting as ``-o`` writes it."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class CandidateResult:
    """How one candidate did on the validation part."""

    candidate: FamilyCandidate
    figure: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    interval: tuple[float, float] | None = None
    seconds: float = 0.0
    epochs: int = 0
    error: str | None = None
    hits: np.ndarray[Any, np.dtype[np.bool_]] | None = field(default=None, repr=False)
    folds: int = 0
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the per-query hits stay out)."""
        return {
            **self.candidate.to_dict(),
            "validation": self.figures,
            "difference_interval": list(self.interval) if self.interval else None,
            "seconds": round(self.seconds, 3),
            "epochs": self.epochs,
            "folds": self.folds,
            "stopped": self.stopped,
            "error": self.error,
        }


@dataclass
class Selection:
    """The candidates, their validation figures, and which one was chosen.

    ``n_fit`` is the pairs each candidate was fit on (the first fold's),
    ``n_validation`` the validation queries pooled over the ``folds``.
    ``fold_fits`` holds the chosen candidate's fit per fold (fit rows,
    validation rows, adapter) when it ran on every fold; not stored.
    """

    basis: str
    n_fit: int
    n_validation: int
    results: list[CandidateResult]
    chosen: int
    reason: str
    seconds: float = 0.0
    folds: int = 1
    reference: float | None = None
    fold_fits: list[tuple[Any, Any, Any]] = field(default_factory=list, repr=False)

    @property
    def winner(self) -> CandidateResult:
        """The chosen candidate's result."""
        return self.results[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in ``provenance.selection``."""
        return {
            "basis": self.basis,
            "folds": self.folds,
            "fit_pairs": self.n_fit,
            "validation_pairs": self.n_validation,
            "chosen": self.winner.candidate.label,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "reference": self.reference,
            "candidates": [r.to_dict() for r in self.results],
        }


def fold_rows(
    n: int, cfg: AutoConfig, seed: int
) -> list[tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, np.dtype[np.intp]]]]:
    """(fit rows, validation rows) of each fold of ``n`` pairs (step 2), reproducible from ``seed``.

    Example:
        >>> [(len(f), len(v)) for f, v in fold_rows(10, AutoConfig(folds=3), 0)]
        [(6, 4), (7, 3), (7, 3)]
        >>> [(len(f), len(v)) for f, v in fold_rows(10, AutoConfig(folds=1), 0)]
        [(8, 2)]
    """
    order = np.random.default_rng(seed).permutation(n)
    if cfg.folds == 1:  # the split PairedEmbeddings.split makes
        parts = [order[: max(1, round(n * cfg.validation))]]
    else:
        if cfg.folds > n // 2:
            raise TrainingDataError(
                f"{cfg.folds} folds of {n} pairs leave fewer than 2 pairs a fold", "lower -o folds"
            )
        parts = np.array_split(order, cfg.folds)
    return [(np.sort(np.setdiff1d(order, part)), np.sort(part)) for part in parts]


def choose(
    results: list[CandidateResult],
    tolerance: float,
    seed: int,
    reference: float | None = None,
) -> tuple[int, str]:
    """The index of the chosen result and why (see the module docstring, step 3).

    ``reference``: the old model's own pooled figure on the same validation
    queries; of the tied candidates, those at or above it (passing the
    compatibility criterion on validation) are preferred.
    """
    scored = [i for i, r in enumerate(results) if r.figure is not None]
    if not scored:
        errors = "; ".join(f"{r.candidate.label}: {r.error}" for r in results)
        raise TrainingDataError(
            f"no candidate could be fit ({errors})", "train one family with --family NAME"
        )
    best = max(scored, key=lambda i: (results[i].figure or 0.0, -i))
    top = results[best]
    assert top.figure is not None and top.hits is not None
    for i in scored:
        r = results[i]
        if i != best and r.hits is not None:
            r.interval = difference_interval(top.hits, r.hits, seed)
    bar = top.figure - tolerance

    def is_tied(i: int) -> bool:  # within the tolerance and the interval reaches zero
        r = results[i]
        close = r.figure is not None and r.figure >= bar
        return i == best or (close and r.interval is not None and r.interval[0] <= 0.0)

    tied = [i for i in scored if is_tied(i)]
    passing = (
        [i for i in tied if (results[i].figure or 0.0) >= reference]
        if reference is not None
        else tied
    )
    prefer, n_tied = "", len(tied)
    if passing and len(passing) < len(tied):  # the criterion on validation first
        tied, prefer = passing, ", passes the criterion on validation"
    pick, why = tied[0], "simpler"  # the grid is simplest first
    if all("map" in results[i].figures for i in tied):  # labels: the simplest of the top mAP
        top_map = max(results[i].figures["map"] for i in tied)
        pick = next(i for i in tied if results[i].figures["map"] >= top_map - tolerance)
        why = f"mAP {results[pick].figures['map']:.4f} within {tolerance:g} of the tied best"
    if len(tied) == 1 and prefer:
        why = "the only one"
    why += prefer
    if pick == best:
        return best, f"best validation {_basis_name(top)} {top.figure:.4f}" + (
            f"; of {n_tied} tied, {why}" if n_tied > 1 else ""
        )
    return pick, (
        f"within {tolerance:g} of the best ({top.candidate.label}, {top.figure:.4f}) and {why}"
    )


def _basis_name(result: CandidateResult) -> str:
    return "cmc@1" if "cmc@1" in result.figures else "recall@1"


def select_adapter(
    train: PairedEmbeddings,
    config: TrainConfig,
    auto: AutoConfig | Mapping[str, Any] | None = None,
    *,
    callbacks: Sequence[TrainerCallback] = (),
    on_stage: Any = None,
) -> tuple[TrainResult, Selection]:
    """Validate the candidates fold by fold on ``train``, choose on the pooled figures, refit.

    Closed forms are fit on every fold first; gradient candidates run fold by
    fold and stop once clearly behind (:mod:`embedreg.training.racing`).
    Each stage is also logged (logger ``embedreg.training``, level INFO).

    Raises:
        TrainingDataError: no candidate could be fit, or too many folds for the pairs.
    """
    cfg = auto if isinstance(auto, AutoConfig) else AutoConfig.from_options(auto or {}, family=AUTO)
    t0 = time.perf_counter()

    def say(text: str) -> None:
        log.info("auto: %s", text)
        if on_stage:
            on_stage(text)

    folds = fold_rows(len(train), cfg, config.seed + 1)
    grid = candidate_grid(
        len(train),
        train.source_dim,
        train.target_dim,
        labels=train.labels is not None,
        families=cfg.family_names(),
    )
    if not grid:
        raise ValidationError("no installed family offers a candidate for these dimensions")
    trainer = AdapterTrainer(config, callbacks=callbacks)
    device = select_device(config.device)
    parts = cut_folds(train, folds, device)
    results = [CandidateResult(c) for c in grid]
    tallies = [Tally() for _ in grid]
    gradient = [i for i, c in enumerate(grid) if family_class(c.family).fitting == "gradient"]
    closed = [i for i in range(len(grid)) if i not in gradient]
    k_folds = len(parts)
    guess = rough_seconds(len(train), train.source_dim, train.target_dim, len(gradient), k_folds)
    say(
        f"{len(grid)} candidates on {k_folds} fold(s) of {len(train)} pairs: "
        f"{len(closed)} closed forms, then {len(gradient)} trained, fold by fold, "
        f"while they can still win; up to about {duration(guess)} on one CPU core"
        + (" (a GPU is faster)" if device != "cpu" else "")
    )
    quiet = AdapterTrainer(config)  # 1. closed forms on every fold: they cost next to nothing
    for i in closed:  # (one line each, not one per fold: they have no epochs to report)
        for fold in parts:
            if results[i].error is None:
                fit_fold(quiet, results[i], tallies[i], fold, device)
    if closed:
        labels = ", ".join(results[i].candidate.label for i in closed)
        seconds = sum(tallies[i].seconds for i in closed)
        say(f"closed forms on each of the {k_folds} fold(s): {labels} ({seconds:.1f}s)")
    alive = list(gradient)  # 2. gradient candidates fold by fold, raced
    threads = min(cfg.threads(), len(alive)) if alive else 1
    hooks = list(callbacks) if threads == 1 else [Serial(cb) for cb in callbacks]
    pool = ThreadPoolExecutor(threads, "embedreg-auto") if threads > 1 else None
    try:
        for k, fold in enumerate(parts):
            jobs = []
            for i in alive:
                first = tallies[i].first
                epochs = first.best_epoch if first is not None else 0
                shared = (  # 3. the first fold's best epoch count, no patience spent
                    AdapterTrainer(replace(config, epochs=epochs, patience=epochs), callbacks=hooks)
                    if epochs > 0
                    else AdapterTrainer(config, callbacks=hooks)
                )
                stage = (
                    f"fold {k + 1}/{k_folds}: {results[i].candidate.label} ({len(fold.fit)} pairs)"
                )
                jobs.append((stage, (shared, results[i], tallies[i], fold, device)))
            if pool is None:  # each stage line just before its fit, so its epochs follow it
                for stage, job in jobs:
                    say(stage)
                    fit_fold(*job)
            else:  # each fit on its own result and tally; the same figures as one by one
                for stage, _ in jobs:
                    say(stage)
                for done in [pool.submit(fit_fold, *job) for _, job in jobs]:
                    done.result()
            alive = [i for i in alive if results[i].error is None]
            if alive and k + 1 < k_folds:
                alive = _race(results, tallies, alive, k + 1, k_folds, config.seed)
    finally:
        if pool is not None:
            pool.shutdown()
    for res, tally in zip(results, tallies, strict=True):
        if res.error is None and tally.hits:
            res.figures = tally.pooled()
            if res.stopped is None:
                res.hits = np.concatenate(tally.hits)
                res.figure = res.figures[tally.basis]
    reference = None
    if all(f.reference is not None for f in parts):
        reference = float(
            np.concatenate([f.reference for f in parts if f.reference is not None]).mean()
        )
    chosen, reason = choose(results, cfg.tolerance, config.seed, reference)
    winner = results[chosen].candidate
    say(f"chose {winner.label} ({reason}); fitting it on {len(train)} pairs")
    kept = tallies[chosen].first if not cfg.refit else None
    if kept is not None:
        final = kept
    else:
        final = trainer.fit(
            winner.family, train.source, train.target, train.labels, options=winner.options
        )
    basis = "cmc@1" if train.labels is not None else "recall@1"
    n_val = sum(len(v) for _, v in folds)
    selection = Selection(
        basis,
        len(folds[0][0]),
        n_val,
        results,
        chosen,
        reason,
        time.perf_counter() - t0,
        len(folds),
        reference,
    )
    if len(tallies[chosen].adapters) == len(folds):
        selection.fold_fits = [
            (fit, val, adapter)
            for (fit, val), adapter in zip(folds, tallies[chosen].adapters, strict=True)
        ]
    return final, selection
