"""The cost side of ``--family auto``: the folds cut once, gradient candidates raced over them.

:func:`~embedreg.training.selection.select_adapter` validates every
candidate fold by fold (the k-fold rule of :mod:`~embedreg.training.selection`).
A closed form costs next to nothing, a gradient candidate a training run per
fold, so the work is ordered to spend as little as the choice allows:

1. **Closed forms on every fold first**: their pooled hits set the bar.
2. **Gradient candidates fold by fold, raced.**  After each fold, a gradient
   candidate whose queries so far (the folds it has been fit on) show it
   *clearly behind* the leader on those same queries (the ``RACE_LEVEL``
   paired-bootstrap interval of the leader's figure minus its own lies
   above zero) stops there: it can no longer be the best, nor tied with it.
   Its figures on the folds it ran are kept, with where it stopped.
3. **Early stopping shared across folds**: a gradient candidate's first
   fold stops early on its own validation part; its other folds train for
   that fold's best epoch count (no epochs spent waiting for patience).

The gradient candidates of one fold are independent fits (their own
results, tallies and seeded generators; the one module initialisation that
re-seeds torch's global generator takes a lock), so ``-o workers=N`` fits
them in threads, with the same figures; trainer callbacks are then called
one at a time (:class:`Serial`).

Which candidate wins is decided on the pooled figures exactly as before; a
candidate stopped by the race is not among those compared.

Example:
    >>> import numpy as np
    >>> leader = np.array([True] * 90 + [False] * 10)
    >>> clearly_behind(leader, np.array([True] * 50 + [False] * 50), seed=0) is not None
    True
    >>> clearly_behind(leader, leader.copy(), seed=0) is None
    True
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.pairs import PairedEmbeddings
from ..errors import DimensionMismatch, TrainingDataError
from ..evaluation.metrics import QUERY_CHUNK, cmc_hits
from .callbacks import EpochStats, TrainerCallback, TrainResult, TrainStart
from .trainer import AdapterTrainer

if TYPE_CHECKING:
    from .selection import CandidateResult

__all__ = [
    "BOOTSTRAP",
    "RACE_LEVEL",
    "Fold",
    "Serial",
    "Tally",
    "clearly_behind",
    "cut_folds",
    "difference_interval",
    "duration",
    "fit_fold",
    "race",
    "rough_seconds",
]

#: Bootstrap resamples of a paired difference.
BOOTSTRAP = 1000

#: Confidence of the interval that stops a gradient candidate (stricter than
#: the ties' 95 %: stopping one that could still tie costs a choice, running
#: one more fold only time).
RACE_LEVEL = 0.99

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class Fold:
    """One fold: the pairs fit on, the pairs validated on, and old/old hits on them."""

    fit: PairedEmbeddings
    val: PairedEmbeddings
    reference: BoolArray | None


def cut_folds(
    train: PairedEmbeddings,
    rows: list[tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, np.dtype[np.intp]]]],
    device: str,
) -> list[Fold]:
    """The folds' pairs, each cut once, with the old model's own CMC@1 hits (labels only).

    The reference hits (old queries on the old gallery of the held fold) pool
    into the validation twin of the compatibility criterion.
    """
    out = []
    for fit_rows, val_rows in rows:
        val = train.subset(val_rows)
        codes = val.label_codes()
        ref = (
            cmc_hits(val.target, val.target, codes, codes, 1, device=device)
            if codes is not None
            else None
        )
        out.append(Fold(train.subset(fit_rows), val, ref))
    return out


def difference_interval(
    best: np.ndarray[Any, Any], other: np.ndarray[Any, Any], seed: int, level: float = 0.95
) -> tuple[float, float]:
    """``level`` paired-bootstrap interval of ``mean(best) − mean(other)`` over the same queries.

    Queries where either value is NaN (an AP with nothing relevant) are left out.
    """
    diff = best.astype(np.float64) - other.astype(np.float64)
    diff = diff[~np.isnan(diff)]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))
    means = diff[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def clearly_behind(
    leader: np.ndarray[Any, Any], other: np.ndarray[Any, Any], seed: int
) -> tuple[float, float] | None:
    """The leader's lead over ``other`` (per query, same queries) when clearly there, else ``None``."""
    if not len(other) or np.nanmean(other) >= np.nanmean(leader):
        return None
    low, high = difference_interval(leader, other, seed, RACE_LEVEL)
    return (low, high) if low > 0.0 else None


def _score(
    adapter_out: np.ndarray[Any, Any], val: PairedEmbeddings, device: str
) -> tuple[str, BoolArray, dict[str, float], np.ndarray[Any, np.dtype[np.float64]] | None]:
    """The basis, per-query successes, figures and (labels) per-query AP of adapted queries.

    One similarity matrix and one sort per chunk of queries serve own-pair
    recall@1, CMC top-1 and the APs, with the exact arithmetic of
    :func:`~embedreg.evaluation.metrics.own_pair_ranks`,
    :func:`~embedreg.evaluation.metrics.cmc_hits`,
    :func:`~embedreg.evaluation.metrics.mean_average_precision` and
    :func:`~embedreg.evaluation.metrics.average_precisions` (each of which
    would compute and sort it again; tested equal).
    """
    import torch

    codes = val.label_codes()
    if adapter_out.shape[1] != val.target.shape[1] or adapter_out.shape[0] != len(val):
        raise DimensionMismatch(val.target.shape[1], adapter_out.shape[1], "adapted queries")
    norm = torch.nn.functional.normalize
    q_all = norm(
        torch.as_tensor(np.ascontiguousarray(adapter_out, np.float32), device=device), dim=1
    )
    g = norm(torch.as_tensor(np.ascontiguousarray(val.target, np.float32), device=device), dim=1)
    lab = torch.as_tensor(codes, device=device) if codes is not None else None
    ranks, hits, aps = [], [], []
    ap_total, ap_counted = 0.0, 0
    for start in range(0, q_all.shape[0], QUERY_CHUNK):
        sims = q_all[start : start + QUERY_CHUNK] @ g.T
        rows = torch.arange(sims.shape[0], device=sims.device)
        own = sims[rows, rows + start]
        ranks.append(((sims >= own[:, None]).sum(1) - 1).cpu())
        if lab is None:
            continue
        sims[rows, rows + start] = -torch.inf  # leave-one-out
        q_lab = lab[start : start + sims.shape[0]]
        top = torch.topk(sims, 1, dim=1).indices.cpu()
        hits.append(lab.cpu()[top[:, 0]] == q_lab.cpu())
        order = torch.argsort(sims, dim=1, descending=True, stable=True)
        rel = (lab[order] == q_lab[:, None]).float()
        rel[:, -1] = 0.0  # the left-out item sorts last; it is not a candidate
        n_rel = rel.sum(1)
        at = torch.arange(1, rel.shape[1] + 1, device=rel.device, dtype=torch.float32)
        ap, keep = ((rel.cumsum(1) / at) * rel).sum(1) / n_rel.clamp(min=1), n_rel > 0
        ap_total += float(ap[keep].sum())
        ap_counted += int(keep.sum())
        part = ap.double().cpu().numpy()
        part[~keep.cpu().numpy()] = np.nan
        aps.append(part)
    own_rank = torch.cat(ranks).numpy().astype(np.int64)
    figures = {"recall@1": float((own_rank == 0).mean())}
    if lab is None:
        return "recall@1", own_rank == 0, figures, None
    cmc1 = np.asarray(torch.cat(hits).numpy(), dtype=bool)
    figures["cmc@1"] = float(cmc1.mean())
    figures["map"] = float(ap_total / ap_counted) if ap_counted else 0.0
    return "cmc@1", cmc1, figures, np.concatenate(aps)


@dataclass
class Tally:
    """One candidate's fold fits so far: per-query hits, query-weighted figures, first fit, its adapters."""

    hits: list[np.ndarray[Any, np.dtype[np.bool_]]] = field(default_factory=list)
    aps: list[np.ndarray[Any, np.dtype[np.float64]]] = field(default_factory=list)
    weighted: dict[str, float] = field(default_factory=dict)
    first: TrainResult | None = None
    basis: str = "cmc@1"
    seconds: float = 0.0
    adapters: list[Any] = field(default_factory=list, repr=False)

    def pooled(self) -> dict[str, float]:
        n = sum(len(h) for h in self.hits)
        return {key: total / n for key, total in self.weighted.items()}


def fit_fold(
    trainer: AdapterTrainer, res: CandidateResult, tally: Tally, fold: Fold, device: str
) -> None:
    """``res``'s candidate fit on ``fold`` and scored on its held part (an error is kept)."""
    cand = res.candidate
    t0 = time.perf_counter()
    try:
        fitted = trainer.fit(
            cand.family, fold.fit.source, fold.fit.target, fold.fit.labels, options=cand.options
        )
    except (DimensionMismatch, TrainingDataError) as exc:
        res.error = exc.message
        return
    tally.first = fitted if tally.first is None else tally.first
    tally.adapters.append(fitted.adapter)  # the winner's fold fits serve its fused path's t
    tally.basis, fold_hits, figures, aps = _score(
        fitted.adapter.transform(fold.val.source), fold.val, device
    )
    tally.hits.append(fold_hits)
    if aps is not None:
        tally.aps.append(aps)
    for key, value in figures.items():  # means over the folds, weighted by their queries
        tally.weighted[key] = tally.weighted.get(key, 0.0) + value * len(fold_hits)
    res.epochs = max(res.epochs, fitted.epochs_run)
    res.folds += 1
    tally.seconds += time.perf_counter() - t0
    res.seconds = tally.seconds


class Serial(TrainerCallback):
    """A callback that fits in parallel threads call one at a time."""

    lock = threading.Lock()

    def __init__(self, inner: TrainerCallback) -> None:
        self.inner = inner

    def on_train_begin(self, start: TrainStart) -> None:
        with self.lock:
            self.inner.on_train_begin(start)

    def on_epoch_end(self, stats: EpochStats) -> bool | None:
        with self.lock:
            return self.inner.on_epoch_end(stats)

    def on_train_end(self, result: TrainResult) -> None:
        with self.lock:
            self.inner.on_train_end(result)


def race(
    results: list[CandidateResult],
    tallies: list[Tally],
    alive: list[int],
    done: int,
    n_folds: int,
    seed: int,
) -> list[int]:
    """The gradient candidates still running after ``done`` folds (see :mod:`.racing`).

    One stops when the leader is clearly ahead of it on the queries so far, or
    when a simpler candidate is as good on them and clearly ahead on mAP (of
    tied candidates the simplest near the top mAP is taken: it could not be).
    """
    scored = [
        i
        for i, r in enumerate(results)
        if r.error is None and r.stopped is None and len(tallies[i].hits) >= done
    ]
    hits = {i: np.concatenate(tallies[i].hits[:done]) for i in scored}
    aps = {i: np.concatenate(tallies[i].aps[:done]) for i in scored if tallies[i].aps}
    leader = max(scored, key=lambda i: (float(hits[i].mean()), -i))
    n_q = len(hits[leader])
    still = []
    for i in alive:
        why = None
        lead = clearly_behind(hits[leader], hits[i], seed) if i != leader else None
        if lead is not None:
            why = f"{results[leader].candidate.label} ahead on {tallies[i].basis}"
        for s in (s for s in scored if s < i and s in aps and i in aps and why is None):
            if hits[s].mean() >= hits[i].mean():
                lead = clearly_behind(aps[s], aps[i], seed)
                if lead is not None:
                    why = f"{results[s].candidate.label} (simpler) as good and ahead on mAP"
        if why is None or lead is None:
            still.append(i)
            continue
        results[i].stopped = (
            f"stopped after {done} of {n_folds} folds: {why} by {100 * lead[0]:+.1f} to "
            f"{100 * lead[1]:+.1f} points on their {n_q} queries"
        )
    return still


def rough_seconds(
    n_train: int, input_dim: int, output_dim: int, gradient: int, folds: int
) -> float:
    """A rough CPU estimate of ``auto``'s fitting time, said before it starts.

    About 1.3 ms per training pair, gradient candidate and fold at 384 → 384
    on one loaded CPU core, growing with the map's size: what it takes when
    every gradient candidate runs on every fold (bench/RESULTS.md, issue 28).
    The race often stops some early, so it is an upper end, not a promise.

    Example:
        >>> round(rough_seconds(1000, 384, 384, 5, 5))
        34
    """
    size = max(math.sqrt(input_dim * output_dim) / 384, 0.2)
    return 1.0 + 1.3e-3 * n_train * gradient * max(folds, 1) * size


def duration(seconds: float) -> str:
    """``25 s`` or ``4 min``."""
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5):.0f} s"
    return f"{seconds / 60:.0f} min"
