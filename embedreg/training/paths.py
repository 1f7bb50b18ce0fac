"""Fused and cascade paths of an adapter: ``t`` fitted on the training pairs, figures held out.

What ``embedreg adapter train`` adds to a labelled adapter's record
(``provenance.paths``, a :class:`~embedreg.registry.PathsRecord`), besides its map's figures (issue 23;
:mod:`embedreg.evaluation.paths` is the arithmetic):

1. **t, by the k-fold machinery of auto.**  The training pairs are cut into
   the same folds as ``--family auto`` cuts them
   (:func:`~embedreg.training.selection.fold_rows`); the adapter's family is
   fit on all folds but one (auto's own fold fits are reused) and the held
   fold's mapped queries are fused with the gallery generation's own query
   vectors at every ``t`` of :data:`T_GRID`.  Each fold's queries search a
   gallery of **all** training items (their own left out), not of their
   fold alone: the best ``t`` moves with the gallery's size (a small gallery
   favours the map), and a served gallery is large.  The pooled per-query
   CMC@1 hits choose ``t`` by auto's rule (:func:`~.selection.choose`: the
   best, or a smaller ``t`` tied with it and within the tolerance on mAP).
2. **K, measured.**  Cascades re-score the top ``K`` of :data:`CASCADE_KS` of
   the map and of the fused path in the query generation's own space.
3. **Held out.**  Every variant is measured on the held-out pairs exactly as
   :func:`~embedreg.evaluation.measure` measures the map (leave-one-out on
   the gallery generation's held-out vectors): CMC@1 with its interval, mAP,
   retention (``cmc@1 / target.cmc@1``) with its interval, the criterion
   (``cmc@1 ≥ target.cmc@1``), and the cost: extra encoder passes per query
   and the µs per query of the arithmetic (fusion, re-scoring) on this machine.

Without labels nothing is fitted (CMC@1 needs classes): the record says why.

Example:
    >>> T_GRID[:3], CASCADE_KS
    ((0.0, 0.1, 0.2), (20, 50, 100))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..adapters import Adapter, FamilyConfig
from ..data.pairs import PairedEmbeddings
from ..errors import DimensionMismatch, TrainingDataError
from ..evaluation.bootstrap import bootstrap_interval
from ..evaluation.figures import interval_fields
from ..evaluation.paths import (
    cascade_scores,
    leave_out,
    normalize_rows,
    rank_figures,
    slerp_weights,
)
from ..registry.figures import Figures, GridPoint, Scores
from ..registry.provenance import PathCost, PathsRecord, PathVariant
from .config import TrainConfig
from .selection import AutoConfig, CandidateResult, FamilyCandidate, Selection, choose, fold_rows
from .trainer import AdapterTrainer

__all__ = [
    "CASCADE_KS",
    "T_GRID",
    "adapter_paths",
    "fit_paths",
    "path_rows",
    "path_variants",
    "variant_label",
]

#: The weights of the old model's query fusion tried (0: the gallery generation alone; 1: the map).
T_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
#: The cascade depths measured.
CASCADE_KS: tuple[int, ...] = (20, 50, 100)

Rows = np.ndarray[Any, np.dtype[np.intp]]


def _fold_scores(
    train: PairedEmbeddings, val: Rows, mapped: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(α-side scores, β-side scores, query-space scores, fusion weights' inputs) of one fold.

    The query-space scores keep each query's own item: :func:`cascade_scores` leaves it out.
    """
    old = normalize_rows(train.target)
    new = normalize_rows(train.source)
    a = old[val]
    b = normalize_rows(mapped)
    return a @ old.T, b @ old.T, new[val] @ new.T, np.stack([a, b])


def _fuse(
    sa: np.ndarray[Any, Any], sb: np.ndarray[Any, Any], ab: np.ndarray[Any, Any], t: float, own: Any
) -> np.ndarray[Any, Any]:
    """Scores of ``slerp(a, b, t)`` from each side's scores, each query's own item left out."""
    alpha, beta = slerp_weights(ab[0], ab[1], t)
    return leave_out(alpha[:, None] * sa + beta[:, None] * sb, own)


def _result(label: str, hits: list[Any], aps: list[Any]) -> CandidateResult:
    h = np.concatenate(hits)
    ap = np.concatenate(aps)
    res = CandidateResult(FamilyCandidate("fused", FamilyConfig(), label))
    res.hits = h
    res.figures = {"cmc@1": float(h.mean()), "map": float(ap.mean())}
    res.figure = res.figures["cmc@1"]
    return res


def _validation(result: CandidateResult) -> Figures:
    """The pooled validation figures :func:`_result` gave ``result``."""
    return Figures(cmc_at_1=result.figures["cmc@1"], map=result.figures["map"])


def _choose_t(
    train: PairedEmbeddings,
    folds: Sequence[tuple[Rows, Rows]],
    outputs: Sequence[np.ndarray[Any, Any]],
    tolerance: float,
    seed: int,
) -> tuple[float, str, list[CandidateResult], dict[str, Figures]]:
    """The fitted ``t``, why, each ``t``'s pooled result, and the cascades' validation figures."""
    codes = np.asarray(train.label_codes())
    hits: dict[float, list[Any]] = {t: [] for t in T_GRID}
    aps: dict[float, list[Any]] = {t: [] for t in T_GRID}
    cached = []
    for (_, val), mapped in zip(folds, outputs, strict=True):
        sa, sb, sq, ab = _fold_scores(train, val, mapped)
        cached.append((val, sa, sb, sq, ab))
        for t in T_GRID:
            h, ap = rank_figures(_fuse(sa, sb, ab, t, val), codes[val], codes)
            hits[t].append(h)
            aps[t].append(ap)
    results = [_result(f"t={t:g}", hits[t], aps[t]) for t in T_GRID]
    chosen, reason = choose(results, tolerance, seed)
    t_best = T_GRID[chosen]
    cascades: dict[str, Figures] = {}
    for first in ("map", "fused"):
        t = 1.0 if first == "map" else t_best
        for k in CASCADE_KS:
            ch, ca = [], []
            for val, sa, sb, sq, ab in cached:
                scores, _ = cascade_scores(_fuse(sa, sb, ab, t, val), sq, k, own=val)
                h, ap = rank_figures(scores, codes[val], codes)
                ch.append(h)
                ca.append(ap)
            hh, aa = np.concatenate(ch), np.concatenate(ca)
            cascades[f"{first}:{k}"] = Figures(cmc_at_1=float(hh.mean()), map=float(aa.mean()))
    return t_best, reason, results, cascades


def path_variants(
    old_query: Any, mapped: Any, old_items: Any, new_query: Any, new_items: Any, t: float
) -> dict[str, tuple[np.ndarray[Any, Any], float]]:
    """Each variant's scores over the items (leave-one-out) and its arithmetic µs per query.

    Rows of the five arrays are the same items: query ``i``'s own item ``i`` is
    left out.  Keys: ``old/old``, ``new/new``, ``map``, ``fused``,
    ``cascade:map:K`` and ``cascade:fused:K`` for each ``K`` of :data:`CASCADE_KS`.
    """
    n = len(old_items)
    own = np.arange(n)
    a, b = normalize_rows(old_query), normalize_rows(mapped)
    g_old, g_new = normalize_rows(old_items), normalize_rows(new_items)
    sa, sb = a @ g_old.T, b @ g_old.T
    sq = leave_out(normalize_rows(new_query) @ g_new.T, own)
    t0 = time.perf_counter()
    fused = _fuse(sa, sb, np.stack([a, b]), t, own)
    micros = (time.perf_counter() - t0) / max(n, 1) * 1e6
    out: dict[str, tuple[np.ndarray[Any, Any], float]] = {
        "old/old": (leave_out(sa, own), 0.0),
        "new/new": (sq, 0.0),
        "map": (leave_out(sb, own), 0.0),
    }
    out["fused"] = (fused, micros)
    for k in CASCADE_KS:
        for first, scores, base in (("map", sb, 0.0), ("fused", fused, out["fused"][1])):
            t0 = time.perf_counter()
            rescored, _ = cascade_scores(scores, sq, k, own=own)
            per_query = (time.perf_counter() - t0) / max(n, 1) * 1e6
            out[f"cascade:{first}:{k}"] = (rescored, base + per_query)
    return out


def _heldout_figures(
    scores: np.ndarray[Any, Any], codes: Any, before: Any, reference: float
) -> tuple[Figures, Any]:
    hits, ap = rank_figures(scores, codes, codes)
    n = len(hits)
    cmc1 = float(hits.mean())
    cmc_span, cmc_note = interval_fields(bootstrap_interval(hits), n)
    retention_span, retention_note = interval_fields(bootstrap_interval(hits, before), n)
    spans = {"cmc@1.interval": cmc_span, "retention.interval": retention_span}
    figs = Figures(
        cmc_at_1=cmc1,
        map=float(ap.mean()),
        retention=cmc1 / reference if reference > 0 else 0.0,
        retention_basis="cmc@1",
        criterion=bool(cmc1 >= reference),
        cmc_at_1_interval=cmc_span,
        cmc_at_1_interval_note=cmc_note,
        retention_interval=retention_span,
        retention_interval_note=retention_note,
        nulls=frozenset(k for k, v in spans.items() if v is None),
    )
    return figs, hits


def _variant(
    key: str,
    figures: Figures,
    micros: float,
    t_best: float,
    results: list[CandidateResult],
    cascade_validation: dict[str, Figures],
) -> PathVariant:
    """The stored variant ``key`` of :func:`path_variants`."""
    parts = key.split(":")
    kind = parts[0]
    first = parts[1] if kind == "cascade" else None
    k = int(parts[2]) if kind == "cascade" else None
    fused = kind == "fused" or first == "fused"
    t = t_best if fused else None
    nulls = {"first": first, "t": t, "k": k}
    return PathVariant(
        kind=kind,
        first=first,
        t=t,
        k=k,
        figures=figures,
        validation=(
            cascade_validation[f"{first}:{k}"]
            if kind == "cascade"
            else _validation(results[T_GRID.index(t_best if fused else 1.0)])
        ),
        cost=PathCost(
            extra_encodes=(1 if fused else 0) + (k or 0),
            second_model=fused,
            arith_us_per_query=round(micros, 3),
        ),
        nulls=frozenset(name for name, v in nulls.items() if v is None),
    )


def fit_paths(
    train: PairedEmbeddings,
    heldout: PairedEmbeddings,
    adapter: Adapter,
    folds: Sequence[tuple[Rows, Rows]],
    outputs: Sequence[np.ndarray[Any, Any]],
    *,
    tolerance: float = 0.0025,
    seed: int = 0,
) -> PathsRecord:
    """The fused and cascade variants of ``adapter``: ``t`` fitted, every variant held out.

    ``outputs[i]`` are the source vectors of fold ``i``'s validation rows
    mapped by the family fit on its other rows.  Returns what the record
    stores (``provenance.paths``).
    """
    if train.labels is None or heldout.labels is None:
        return _not_fitted("no labels: CMC@1 (the criterion's figure) needs classes")
    t0 = time.perf_counter()
    t_best, reason, results, cascade_validation = _choose_t(train, folds, outputs, tolerance, seed)
    codes = np.asarray(heldout.label_codes())
    variants = path_variants(
        heldout.target,
        adapter.transform(heldout.source),
        heldout.target,
        heldout.source,
        heldout.source,
        t_best,
    )
    base, before = _heldout_figures(variants["old/old"][0], codes, np.ones(len(codes)), 1.0)
    assert base.cmc_at_1 is not None
    reference = base.cmc_at_1
    new_new, _ = _heldout_figures(variants["new/new"][0], codes, before, reference)
    rows = []
    for key, (scores, micros) in variants.items():
        if key in ("old/old", "new/new"):
            continue
        figs, _ = _heldout_figures(scores, codes, before, reference)
        rows.append(_variant(key, figs, micros, t_best, results, cascade_validation))
    return PathsRecord(
        fitted=True,
        basis="cmc@1",
        folds=len(folds),
        validation_pairs=int(sum(len(v) for _, v in folds)),
        validation_gallery=len(train),
        heldout=len(heldout),
        t=t_best,
        t_reason=reason,
        t_grid=tuple(
            GridPoint(t=t, cmc_at_1=r.figures["cmc@1"], map=r.figures["map"])
            for t, r in zip(T_GRID, results, strict=True)
        ),
        target=Scores(cmc_at_1=reference, map=base.map),
        source=Scores(cmc_at_1=new_new.cmc_at_1, map=new_new.map),
        variants=tuple(rows),
        seconds=round(time.perf_counter() - t0, 3),
    )


def _not_fitted(reason: str) -> PathsRecord:
    return PathsRecord(fitted=False, reason=reason)


#: The most folds fitted when the pairs are too few for 5 (each fold must leave enough to fit).
MAX_FOLDS = 40


def _folds(family: str, train: PairedEmbeddings) -> int:
    """5 folds, or more when 4/5 of the pairs are too few to fit ``family`` (at most :data:`MAX_FOLDS`)."""
    import math

    from ..adapters import family_class

    need = family_class(family).min_train_pairs(train.source_dim)
    n = len(train)
    if n * 4 // 5 >= need or n <= need:
        return 5
    return min(MAX_FOLDS, max(5, math.ceil(n / (n - need))))


def adapter_paths(
    family: str,
    options: FamilyConfig | None,
    train: PairedEmbeddings,
    heldout: PairedEmbeddings,
    adapter: Adapter,
    config: TrainConfig,
    selection: Selection | None,
) -> PathsRecord:
    """:func:`fit_paths` for a trained adapter: its family's fit on each of the folds auto cuts.

    With ``selection`` (auto's), the chosen candidate's own fold fits are
    reused when it ran on every fold (``selection.fold_fits``); otherwise
    the family and options (``family``, ``options``) are fit on each fold
    here, on the folds auto would cut.

    Example::

        paths = adapter_paths("procrustes", None, train, heldout, adapter, TrainConfig(), None)
        paths.t, [v.kind for v in paths.variants]
    """
    if train.labels is None or heldout.labels is None:
        return fit_paths(train, heldout, adapter, [], [])
    if selection is not None and selection.fold_fits:  # auto fit it on these folds already
        reused = [(fit, val) for fit, val, _ in selection.fold_fits]
        mapped = [
            np.asarray(fold_adapter.transform(train.source[val]), np.float32)
            for _, val, fold_adapter in selection.fold_fits
        ]
        return fit_paths(train, heldout, adapter, reused, mapped, seed=config.seed)
    try:
        folds = fold_rows(len(train), AutoConfig(folds=_folds(family, train)), config.seed + 1)
    except TrainingDataError as exc:
        return _not_fitted(exc.message)
    trainer = AdapterTrainer(config)
    outputs = []
    for fit_rows, val_rows in folds:
        fit = train.subset(fit_rows)
        try:
            fitted = trainer.fit(family, fit.source, fit.target, fit.labels, options=options)
        except (DimensionMismatch, TrainingDataError) as exc:
            return _not_fitted(exc.message)
        outputs.append(np.asarray(fitted.adapter.transform(train.source[val_rows]), np.float32))
    return fit_paths(train, heldout, adapter, folds, outputs, seed=config.seed)


def variant_label(variant: PathVariant) -> str:
    """``fused t=0.3``, ``cascade K=50 over map``, … for one stored variant.

    Example:
        >>> variant_label(PathVariant(kind="cascade", first="fused", t=0.2, k=50))
        'cascade K=50 over fused t=0.2'
    """
    kind = str(variant.kind)
    if kind == "fused":
        return f"fused t={float(variant.t or 0):g}"
    if kind == "cascade":
        first = str(variant.first)
        over = f"fused t={float(variant.t or 0):g}" if first == "fused" else first
        return f"cascade K={variant.k} over {over}"
    return kind


def path_rows(paths: PathsRecord | None) -> list[dict[str, str]]:
    """One display row per stored variant (``adapter show``, the Hub card).

    Example:
        >>> path_rows(PathsRecord(fitted=False, reason="no labels"))
        []
    """
    if paths is None or not paths.fitted:
        return []
    rows = []
    for v in paths.variants:
        figs, cost = v.figures, v.cost
        ci = figs.cmc_at_1_interval
        band = f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci is not None else "—"
        rows.append(
            {
                "path": variant_label(v),
                "cmc": f"{100 * float(figs.cmc_at_1 or 0):.2f}",
                "interval": band,
                "map": f"{100 * float(figs.map or 0):.2f}",
                "retention": f"{float(figs.retention or 0):.3f}",
                "criterion": "pass" if figs.criterion else "FAIL",
                "encodes": str(cost.extra_encodes or 0),
                "us": f"{float(cost.arith_us_per_query or 0):.1f}",
            }
        )
    return rows
