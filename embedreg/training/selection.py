"""``auto``: fit the candidates, choose on a validation part, refit the winner.

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
2. **Fit and validate.**  A validation part of the training pairs
   (``-o validation=0.25``) is held back; each candidate is fit on the rest
   and its adapted queries are searched on the validation part's target
   gallery: CMC top-1 (leave-one-out) with labels, own-pair recall@1 without.
3. **Choose.**  The best validation figure wins, except that a simpler
   candidate (earlier in the grid: closed forms before gradient families,
   orthogonal before free maps, fewer parameters first) whose figure is within
   ``-o tolerance=0.0025`` of the best *and* whose paired bootstrap interval of
   the difference reaches the best's figure is taken instead.
4. **Refit.**  The chosen candidate is fit again on all the training pairs
   (``-o refit=false`` keeps the one fit on the smaller part), so it is
   exactly the adapter ``--family NAME -o …`` would train.

Every candidate's validation figures go in the adapter's record
(``provenance["selection"]``), ``embedreg adapter show`` lists them and
the adapter's Hub card carries them.

Example:
    >>> [c.label for c in candidate_grid(3000, 384, 384, labels=True)][:3]
    ['identity', 'procrustes', 'procrustes center=true']
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters import FamilyConfig, family_class
from ..adapters import families as installed_families
from ..adapters.config import check_positive
from ..data.pairs import PairedEmbeddings
from ..devices import select_device
from ..errors import DimensionMismatch, TrainingDataError, ValidationError
from ..evaluation.metrics import cmc_hits, own_pair_ranks
from .callbacks import TrainerCallback, TrainResult
from .config import TrainConfig
from .trainer import AdapterTrainer

__all__ = [
    "AUTO",
    "AutoConfig",
    "Candidate",
    "CandidateResult",
    "Selection",
    "candidate_grid",
    "select_adapter",
]

#: The family name that asks for the choice.
AUTO = "auto"

#: Bootstrap resamples of the paired difference (ties).
BOOTSTRAP = 1000


@dataclass(frozen=True)
class AutoConfig(FamilyConfig):
    """Options of ``--family auto`` (``-o KEY=VALUE``)."""

    families: str | None = field(
        default=None,
        metadata={"help": "comma-separated families to draw candidates from (none: all)"},
    )
    validation: float = field(
        default=0.25,
        metadata={"help": "share of the training pairs the candidates are compared on"},
    )
    tolerance: float = field(
        default=0.0025,
        metadata={"help": "a simpler candidate this close to the best (and tied) is chosen"},
    )
    refit: bool = field(
        default=True, metadata={"help": "fit the chosen candidate again on all training pairs"}
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.validation < 1.0:
            raise ValidationError(
                f"validation must be a fraction in (0, 1), got {self.validation!r}"
            )
        if self.tolerance != 0:
            check_positive("tolerance", self.tolerance)

    def family_names(self) -> list[str] | None:
        """The families asked for, or ``None`` for every installed one."""
        if self.families is None:
            return None
        names = [n.strip() for n in self.families.split(",") if n.strip()]
        for name in names:
            family_class(name)  # an unknown family fails here
        return names


@dataclass(frozen=True)
class Candidate:
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
) -> list[Candidate]:
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
            out.append(Candidate(name, cls.make_config(options), f"{name} {settings}".strip()))
    return out


def _text(value: Any) -> str:
    """A setting as ``-o`` writes it."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class CandidateResult:
    """How one candidate did on the validation part."""

    candidate: Candidate
    figure: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    interval: tuple[float, float] | None = None
    seconds: float = 0.0
    epochs: int = 0
    error: str | None = None
    hits: np.ndarray[Any, np.dtype[np.bool_]] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the per-query hits stay out)."""
        return {
            **self.candidate.to_dict(),
            "validation": self.figures,
            "difference_interval": list(self.interval) if self.interval else None,
            "seconds": round(self.seconds, 3),
            "epochs": self.epochs,
            "error": self.error,
        }


@dataclass
class Selection:
    """The candidates, their validation figures, and which one was chosen."""

    basis: str
    n_fit: int
    n_validation: int
    results: list[CandidateResult]
    chosen: int
    reason: str
    seconds: float = 0.0

    @property
    def winner(self) -> CandidateResult:
        """The chosen candidate's result."""
        return self.results[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in ``provenance["selection"]``."""
        return {
            "basis": self.basis,
            "fit_pairs": self.n_fit,
            "validation_pairs": self.n_validation,
            "chosen": self.winner.candidate.label,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "candidates": [r.to_dict() for r in self.results],
        }


def _score(
    adapter_out: np.ndarray[Any, Any], val: PairedEmbeddings, device: str
) -> tuple[str, np.ndarray[Any, np.dtype[np.bool_]], dict[str, float]]:
    """The basis, per-query successes and the figures of adapted validation queries."""
    codes = val.label_codes()
    ranks = own_pair_ranks(adapter_out, val.target, device=device)
    figures = {"recall@1": float((ranks == 0).mean())}
    if codes is None:
        return "recall@1", ranks == 0, figures
    hits = cmc_hits(adapter_out, val.target, codes, codes, 1, device=device)
    figures["cmc@1"] = float(hits.mean())
    return "cmc@1", hits, figures


def _difference_interval(
    best: np.ndarray[Any, np.dtype[np.bool_]],
    other: np.ndarray[Any, np.dtype[np.bool_]],
    seed: int,
) -> tuple[float, float]:
    """95 % paired-bootstrap interval of ``mean(best) − mean(other)`` over the same queries."""
    diff = best.astype(np.float64) - other.astype(np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))
    means = diff[idx].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def choose(results: list[CandidateResult], tolerance: float, seed: int) -> tuple[int, str]:
    """The index of the chosen result and why (see the module docstring, step 3)."""
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
            r.interval = _difference_interval(top.hits, r.hits, seed)
    for i in scored:  # the grid is simplest first
        r = results[i]
        if i == best:
            return best, f"best validation {_basis_name(top)} {top.figure:.4f}"
        assert r.figure is not None and r.interval is not None
        if top.figure - r.figure <= tolerance and r.interval[0] <= 0.0:
            return i, (
                f"within {tolerance:g} of the best ({top.candidate.label}, {top.figure:.4f}) "
                f"and simpler"
            )
    return best, f"best validation figure {top.figure:.4f}"


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
    """Fit the candidates on part of ``train``, choose on the rest, refit the winner on all of it.

    Raises:
        TrainingDataError: no candidate could be fit.
    """
    cfg = auto if isinstance(auto, AutoConfig) else AutoConfig.from_options(auto or {}, family=AUTO)
    t0 = time.perf_counter()
    fit, val = train.split(cfg.validation, config.seed + 1)
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
    results = []
    fits: list[TrainResult | None] = []
    basis = "recall@1"
    for k, cand in enumerate(grid, 1):
        if on_stage:
            on_stage(f"candidate {k}/{len(grid)}: {cand.label} on {len(fit)} pairs")
        res = CandidateResult(cand)
        t1 = time.perf_counter()
        try:
            fitted = trainer.fit(
                cand.family, fit.source, fit.target, fit.labels, options=cand.options
            )
        except (DimensionMismatch, TrainingDataError) as exc:
            res.error = exc.message
            results.append(res)
            fits.append(None)
            continue
        basis, res.hits, res.figures = _score(fitted.adapter.transform(val.source), val, device)
        res.figure = res.figures[basis]
        res.seconds, res.epochs = time.perf_counter() - t1, fitted.epochs_run
        results.append(res)
        fits.append(fitted if not cfg.refit else None)  # kept only when it is the answer
    chosen, reason = choose(results, cfg.tolerance, config.seed)
    winner = results[chosen].candidate
    if on_stage:
        on_stage(f"chose {winner.label} ({reason}); fitting it on {len(train)} pairs")
    kept = fits[chosen]
    if kept is not None:
        final = kept
    else:
        final = trainer.fit(
            winner.family, train.source, train.target, train.labels, options=winner.options
        )
    selection = Selection(
        basis, len(fit), len(val), results, chosen, reason, time.perf_counter() - t0
    )
    return final, selection
