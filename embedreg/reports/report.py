"""An adapter's evaluation report: one self-contained HTML page, its Markdown twin, PNG plots.

:func:`write_report` measures a registered adapter on data (texts embedded by
both generations, two embeddings files, or judged queries), and writes into
a folder:

- ``report.html``: one page with inline styles and no script or remote
  resource; its only references are the PNG files beside it;
- ``report.md``: the same tables and the same images;
- ``cmc.png`` (CMC@k with labels, recall@k otherwise), ``backfill.png`` (the
  backfill curves, with labels or qrels) and ``matrix.png`` (the
  compatibility matrix, when a chain of generations is given).

The figures carry their bootstrap intervals, the criterion, the flips, and
next to them the figures the adapter was registered with.  Without matplotlib
the pages are written without images and say how to get them.  Files the
report would replace are refused unless ``overwrite=True`` (which also
removes the replaced report's images this one does not draw); each file is
written atomically.

Example:
    >>> data = EvalSet.from_texts("bbc.jsonl")  # doctest: +SKIP
    >>> rep = write_report(reg, "v2-short-to-v2.lambda-orth", "report", data=data)  # doctest: +SKIP
    >>> rep.html.name, rep.images  # doctest: +SKIP
    ('report.html', ['cmc.png', 'backfill.png'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..adapters import load_registered_adapter
from ..data.pairs import PairedEmbeddings
from ..devices import select_device
from ..errors import PlotsUnavailable, ReportExists, ValidationError
from ..evaluation import measure, measure_judged
from ..evaluation.backfill import misalignment
from ..evaluation.metrics import cmc, recall_at_k
from ..evaluation.qrels import recall_per_query
from ..evaluation.ranking import Judge
from ..models import EncodeOptions
from ..registry import AdapterRecord, Figures, Registry
from ..training.overlap import training_overlap
from ..util.atomic import atomic_write_bytes
from ..util.callbacks import NamedProgress
from ..util.clock import utc_now
from .backfill import BackfillResult, backfill_vectors
from .evalset import EvalSet, EvalVectors
from .matrix import CompatibilityMatrix, compatibility_matrix
from .plots import curve_plot, heatmap_plot, plots_available
from .render import render_html, render_markdown

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["REPORT_FILES", "Report", "write_report"]

#: Every file a report may write.
REPORT_FILES: tuple[str, ...] = (
    "report.html",
    "report.md",
    "cmc.png",
    "backfill.png",
    "matrix.png",
)
#: The k of the CMC / recall curves.
CURVE_KS: tuple[int, ...] = (1, 2, 3, 5, 10, 20)


@dataclass
class Report:
    """What :func:`write_report` measured and wrote."""

    adapter: AdapterRecord | None
    data: str
    kind: str
    figures: Figures
    curve: tuple[str, list[int], dict[str, list[float]]]
    backfill: BackfillResult | None = None
    backfill_note: str | None = None
    matrix: CompatibilityMatrix | None = None
    folder: Path = Path(".")
    images: list[str] = field(default_factory=list)
    plots_note: str | None = None
    overlap: dict[str, Any] | None = None
    created: str = field(default_factory=utc_now)
    version: str = __version__

    @property
    def html(self) -> Path:
        """The HTML page."""
        return self.folder / "report.html"

    @property
    def markdown(self) -> Path:
        """The Markdown twin."""
        return self.folder / "report.md"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "adapter": self.adapter.id if self.adapter is not None else None,
            "data": self.data,
            "kind": self.kind,
            "figures": self.figures.to_dict(),
            "curve": {"metric": self.curve[0], "k": self.curve[1], "series": self.curve[2]},
            "backfill": self.backfill.to_dict() if self.backfill else None,
            "backfill_note": self.backfill_note,
            "matrix": self.matrix.to_dict() if self.matrix else None,
            "html": str(self.html),
            "markdown": str(self.markdown),
            "images": self.images,
            "plots_note": self.plots_note,
            "training_overlap": self.overlap,
        }


def _check_free(folder: Path, overwrite: bool) -> None:
    if overwrite:
        return
    for name in REPORT_FILES:
        if (folder / name).exists():
            raise ReportExists(str(folder / name))


def write_report(
    registry: Registry,
    adapter_id: str,
    out: str | os.PathLike[str],
    *,
    data: EvalSet | None = None,
    pairs: PairedEmbeddings | None = None,
    chain: Sequence[str] = (),
    overwrite: bool = False,
    encode: EncodeOptions | None = None,
    progress: NamedProgress | None = None,
    step: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Measure ``adapter_id`` on ``data`` (or ``pairs``) and write the report into ``out``.

    Give exactly one of ``data`` (an :class:`EvalSet`: texts or judged
    queries) and ``pairs`` (the adapter's source and target vectors of the
    same items).  ``chain`` adds the compatibility matrix of those
    generations (it needs ``data`` with labels or qrels).

    Raises:
        ReportExists: a report file exists in ``out`` and ``overwrite`` is false.
        ValidationError: both or neither of ``data`` and ``pairs``, or a chain without data.
    """
    if (data is None) == (pairs is None):
        raise ValidationError("give either data (texts or qrels) or pairs, not both")
    if chain and data is None:
        raise ValidationError(
            "the matrix needs texts or judged queries to embed",
            "give --texts or --qrels with --chain",
        )
    folder = Path(out)
    _check_free(folder, overwrite)
    rec = registry.adapter(adapter_id)
    adapter = load_registered_adapter(registry, adapter_id).adapter
    encode = encode if encode is not None else EncodeOptions()
    dev = select_device(encode.device)

    def stage(name: str) -> Callable[[int, int], None]:
        def update(done: int, total: int) -> None:
            if step is not None:
                step(name, done, total)

        return update

    def embed(generation: str) -> EvalVectors:
        assert data is not None
        return data.embed(registry, generation, encode=encode, progress=progress)

    names = (rec.source, rec.target)
    if data is not None and data.kind == "qrels":
        report = _judged_report(names, adapter, rec.direction, data, embed, dev, stage)
    else:
        if pairs is None:
            assert data is not None
            pairs = _pairs_from(data, rec.direction, embed(rec.source), embed(rec.target))
        report = _paired_report(adapter, rec.direction, pairs, dev, stage)
        report.data = data.source if data is not None else "paired embeddings files"
    report.adapter = rec
    if data is not None:  # figures on the adapter's own training data are optimistic
        report.overlap = data.training_overlaps(registry, [rec.id]).get(rec.id)
    elif pairs is not None:
        found = training_overlap(rec.id, rec.provenance, pairs.ids, pairs.content_hash())
        report.overlap = found.to_dict() if found is not None else None
    if chain:
        assert data is not None
        report.matrix = compatibility_matrix(
            registry,
            chain,
            data,
            encode=encode,
            progress=progress,
            step=stage("matrix cells"),
        )
    folder.mkdir(parents=True, exist_ok=True)
    report.folder = folder
    _plots(report)
    atomic_write_bytes(folder / "report.md", render_markdown(report).encode("utf-8"))
    atomic_write_bytes(folder / "report.html", render_html(report).encode("utf-8"))
    if overwrite:  # images of the report replaced here that this one does not draw
        for name in REPORT_FILES:
            if name.endswith(".png") and name not in report.images:
                (folder / name).unlink(missing_ok=True)
    return report


@dataclass(frozen=True)
class _Sides:
    """Both generations' vectors: queries and items of the source, then of the target."""

    src_queries: FloatArray
    src_items: FloatArray
    tgt_queries: FloatArray
    tgt_items: FloatArray


def _backfill(
    adapter: Any,
    direction: str,
    sides: _Sides,
    judge: Judge,
    names: tuple[str, str],
    dev: str,
    step: Callable[[int, int], None],
) -> BackfillResult:
    """Backfill curves of the upgrade the adapter serves.

    Backward (src new, tgt old): the old gallery is searched through the
    adapter until re-embedded by src.  Forward (src old, tgt new): the old
    items are forward-adapted into tgt's space until re-embedded by tgt.
    """
    mapped_items = np.asarray(adapter.transform(sides.src_items), dtype=np.float32)
    bad = misalignment(mapped_items, sides.tgt_items)
    if direction == "forward":
        old, new, rest = names[0], names[1], "forward"
        q_new, items_new, q_rest, items_rest = (
            sides.tgt_queries,
            sides.tgt_items,
            sides.tgt_queries,
            mapped_items,
        )
        old_items = sides.src_items
    else:
        new, old, rest = names[0], names[1], "path"
        q_new, items_new, items_rest = sides.src_queries, sides.src_items, sides.tgt_items
        q_rest = np.asarray(adapter.transform(sides.src_queries), dtype=np.float32)
        old_items = sides.tgt_items
    betas, curves, areas = backfill_vectors(
        judge,
        queries_new=q_new,
        items_new=items_new,
        queries_rest=q_rest,
        items_rest=items_rest,
        bad=bad,
        old_items=old_items,
        device=dev,
        step=step,
    )
    return BackfillResult(old, new, rest, [], judge.metric, betas, curves, areas, judge.queries)


def _paired_report(
    adapter: Any,
    direction: str,
    pairs: PairedEmbeddings,
    dev: str,
    stage: Callable[[str], Callable[[int, int], None]],
) -> Report:
    pairs.check(min_pairs=2)
    figures = measure(adapter, pairs, device=dev)
    adapted = np.asarray(adapter.transform(pairs.source), dtype=np.float32)
    codes = pairs.label_codes()
    ks = [k for k in CURVE_KS if k < len(pairs)]
    if codes is not None:
        series = {
            "A(src) on tgt": list(
                cmc(adapted, pairs.target, codes, codes, ks, device=dev).values()
            ),
            "tgt on tgt": list(
                cmc(pairs.target, pairs.target, codes, codes, ks, device=dev).values()
            ),
            "src on src": list(
                cmc(pairs.source, pairs.source, codes, codes, ks, device=dev).values()
            ),
        }
        curve = ("CMC@k", ks, series)
    else:
        series = {
            "A(src) on tgt": list(recall_at_k(adapted, pairs.target, ks, device=dev).values())
        }
        curve = ("own-pair recall@k", ks, series)
    report = Report(None, "", "labels" if codes is not None else "unlabelled", figures, curve)
    if codes is None:
        report.backfill_note = (
            "the backfill curve needs relevance: give items with labels, or judged queries"
        )
        return report
    sides = _Sides(pairs.source, pairs.source, pairs.target, pairs.target)
    names = (pairs.source_generation or "source", pairs.target_generation or "target")
    report.backfill = _backfill(
        adapter, direction, sides, Judge.for_labels(codes), names, dev, stage("backfill points")
    )
    return report


def _judged_report(
    names: tuple[str, str],
    adapter: Any,
    direction: str,
    data: EvalSet,
    embed: Callable[[str], EvalVectors],
    dev: str,
    stage: Callable[[str], Callable[[int, int], None]],
) -> Report:
    src, tgt = embed(names[0]), embed(names[1])
    rel = data.relevance()
    queries = PairedEmbeddings(
        list(data.query_ids or []),
        src.queries,
        tgt.queries,
        source_generation=names[0],
        target_generation=names[1],
    )
    figures = measure_judged(adapter, queries, tgt.items, rel, device=dev)
    adapted = np.asarray(adapter.transform(src.queries), dtype=np.float32)
    ks = [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= len(data)]
    series = {
        label: [float(recall_per_query(q, g, rel, k, device=dev).mean()) for k in ks]
        for label, q, g in (
            ("A(src) on tgt", adapted, tgt.items),
            ("tgt on tgt", tgt.queries, tgt.items),
            ("src on src", src.queries, src.items),
        )
    }
    report = Report(None, data.source, "qrels", figures, ("recall@k", ks, series))
    sides = _Sides(src.queries, src.items, tgt.queries, tgt.items)
    report.backfill = _backfill(
        adapter, direction, sides, Judge.for_qrels(rel), names, dev, stage("backfill points")
    )
    return report


def _pairs_from(
    data: EvalSet, direction: str, src: EvalVectors, tgt: EvalVectors
) -> PairedEmbeddings:
    forward = direction == "forward"  # forward adapters map documents, backward ones queries
    return PairedEmbeddings(
        data.ids,
        src.items if forward else src.queries,
        tgt.items if forward else tgt.queries,
        data.labels,
        source_generation=src.generation,
        target_generation=tgt.generation,
    )


def _plots(report: Report) -> None:
    """Draw the report's PNG files (or note why there are none)."""
    if not plots_available():
        report.plots_note = PlotsUnavailable().hint
        return
    metric, ks, series = report.curve
    flag = ", on training data: optimistic" if report.overlap else ""
    curve_plot(
        report.folder / "cmc.png", ks, series, title=metric + flag, xlabel="k", ylabel=metric
    )
    report.images.append("cmc.png")
    if report.backfill is not None:
        b = report.backfill
        curve_plot(
            report.folder / "backfill.png",
            b.betas,
            {f"{o} (area {b.areas[o]:.3f})": v for o, v in b.curves.items()},
            title=f"backfill {b.gallery} → {b.new} ({b.metric}){flag}",
            xlabel="fraction re-embedded β",
            ylabel=b.metric,
        )
        report.images.append("backfill.png")
    if report.matrix is not None:
        m = report.matrix
        heatmap_plot(
            report.folder / "matrix.png",
            m.values,
            m.generations,
            title=f"compatibility matrix (AC {m.ac:.2f}, AM {m.am:.3f})",
            metric=m.metric,
            optimistic=[
                [m.optimistic(t, j) for j in range(len(row))] for t, row in enumerate(m.values)
            ],
        )
        report.images.append("matrix.png")
