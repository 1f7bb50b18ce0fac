"""Compare families: fit each on one split of the same pairs and measure each the same way.

What ``embedreg adapter compare`` runs.  Nothing is stored.  Options are
given per family (``{"lambda-orth": {"lam": 12}}``); :func:`options_by_family`
turns the command line's ``-o KEY=VALUE`` / ``-o FAMILY.KEY=VALUE`` into that.

Example:
    >>> from embedreg.data.synthetic import planted_pairs
    >>> rows = compare_families(planted_pairs(300, 8, 8, seed=0).pairs, families=["identity", "procrustes"])
    >>> [(r.family, r.figures.recall_at_1 > 0.9) for r in rows]
    [('identity', False), ('procrustes', True)]
    >>> options_by_family({"rank": "8", "lambda-orth.lam": "12"}, ["lambda-orth", "lowrank"])
    {'lambda-orth': {'lam': '12'}, 'lowrank': {'rank': '8'}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..adapters import FamilyConfig, family_class
from ..adapters import families as installed_families
from ..data.pairs import MIN_HELDOUT, PairedEmbeddings, minimum_pairs
from ..errors import DimensionMismatch, ValidationError
from ..registry.figures import Figures
from .callbacks import TrainerCallback
from .config import TrainConfig
from .data import DEFAULT_HELDOUT, split_pairs
from .runs import StageFn, fit_and_measure

__all__ = ["FamilyComparison", "compare_families", "options_by_family"]


@dataclass(frozen=True)
class FamilyComparison:
    """One row of :func:`compare_families`: a family's figures, or why it could not be fit.

    ``seconds`` is the fit's own time (as ``adapter train`` and auto report it);
    measuring, and the first family's one-off imports, are not in it.
    """

    family: str
    figures: Figures = field(default_factory=Figures)
    seconds: float = 0.0
    epochs: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "family": self.family,
            "figures": self.figures.to_dict(),
            "seconds": round(self.seconds, 3),
            "epochs": self.epochs,
            "error": self.error,
        }


def options_by_family(
    options: Mapping[str, Any], names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Route ``KEY`` / ``FAMILY.KEY`` settings to the families ``names`` that take them.

    ``FAMILY.KEY`` goes to that family alone; a bare ``KEY`` goes to every
    family in ``names`` whose config declares it.

    Raises:
        ValidationError: a family not compared, or a key no compared family takes.
    """
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    declared = {name: {o.name for o in family_class(name).config_class.options()} for name in names}
    for key, value in options.items():
        family, dot, option = key.rpartition(".")
        if dot:
            if family not in out:
                raise ValidationError(
                    f"option {key!r} names family {family!r}, which is not compared",
                    f"compared: {', '.join(names)}",
                )
            out[family][option] = value  # checked by the family's config
            continue
        takers = [name for name in names if key in declared[name]]
        if not takers:
            raise ValidationError(
                f"no compared family takes option {key!r} ({', '.join(names)})",
                "list every family's options with 'embedreg adapter families'",
            )
        for name in takers:
            out[name][key] = value
    return {name: opts for name, opts in out.items() if opts}


def compare_families(
    pairs: PairedEmbeddings,
    *,
    direction: str = "backward",
    families: Sequence[str] | None = None,
    options: Mapping[str, FamilyConfig | Mapping[str, Any]] | None = None,
    config: TrainConfig | None = None,
    heldout: float = DEFAULT_HELDOUT,
    test: PairedEmbeddings | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    on_stage: StageFn | None = None,
) -> list[FamilyComparison]:
    """Fit every family on the same split and measure each on the same held-out pairs.

    Args:
        pairs: ``source`` the new generation's vectors, ``target`` the old
            one's (as for :func:`~embedreg.training.train_adapter`).
        direction: ``backward`` fits new → old; ``forward`` fits old → new
            (the pairs are swapped here).
        families: which families (default: every installed one, baselines first).
        options: per family, its config or ``key: value`` settings.
        config: the training schedule.
        heldout: fraction of the pairs measured on (when ``test`` is not given).
        test: measure on these pairs, training on all of ``pairs``.
        callbacks, on_stage: progress.

    A family that cannot apply (identity between different dimensions) gets
    a row with its ``error``.
    """
    if direction not in ("backward", "forward"):
        raise ValidationError(f"direction must be backward or forward, got {direction!r}")
    if direction == "forward":
        pairs = pairs.swapped()
        test = test.swapped() if test is not None else None
    config = config or TrainConfig()
    names = list(families) if families is not None else installed_families()
    settings = dict(options or {})
    unknown = sorted(set(settings) - set(names))
    if unknown:
        raise ValidationError(
            f"options given for families that are not compared: {', '.join(unknown)}"
        )
    configs = {name: family_class(name).make_config(settings.get(name)) for name in names}
    if test is None:
        train, test = split_pairs(pairs, heldout, config.seed, [pairs.source_dim])
    else:
        train = pairs
        train.check(min_pairs=minimum_pairs(train.source_dim))
        test.check(min_pairs=MIN_HELDOUT)
    rows = []
    for family in names:
        if on_stage:
            on_stage(f"fitting {family} on {len(train)} pairs")
        try:
            result, figures = fit_and_measure(
                family, train, test, config, configs[family], callbacks
            )
        except DimensionMismatch as exc:
            rows.append(FamilyComparison(family, error=exc.message))
            continue
        rows.append(FamilyComparison(family, figures, result.seconds, result.epochs_run))
    return rows
