"""Reports: what a generation can search, the compatibility matrix, backfill curves, HTML reports.

This subpackage sits above :mod:`embedreg.gallery`: it needs routing (best paths),
the registered galleries and the evaluation maths.

- :mod:`.lookup`: :func:`compatible`, the registered galleries (and the
  generations) queries of a generation can reach, with quality, basis,
  interval and criterion;
- :mod:`.evalset`: :class:`EvalSet`, labelled or unlabelled items, or judged
  queries (BEIR qrels), embedded per generation and cached;
- :mod:`.matrix`: :func:`compatibility_matrix`, ``C[t][j]`` with AC and AM;
- :mod:`.backfill`: :func:`backfill`, quality as a gallery is re-embedded;
- :mod:`.report`, :mod:`.render`, :mod:`.plots`: :func:`write_report`, an
  HTML page with a Markdown twin and PNG plots (matplotlib, the ``plots`` extra).

Example:
    >>> from embedreg.reports import REPORT_FILES
    >>> REPORT_FILES[:2]
    ('report.html', 'report.md')
"""

from __future__ import annotations

from .backfill import REST_MODES, BackfillResult, backfill, backfill_vectors
from .evalset import EvalSet, EvalVectors
from .lookup import Compatibility, GalleryMatch, Unreachable, compatible
from .matrix import CompatibilityMatrix, compatibility_matrix
from .plots import plots_available
from .report import REPORT_FILES, Report, write_report

__all__ = [
    "REPORT_FILES",
    "REST_MODES",
    "BackfillResult",
    "Compatibility",
    "CompatibilityMatrix",
    "EvalSet",
    "EvalVectors",
    "GalleryMatch",
    "Report",
    "Unreachable",
    "backfill",
    "backfill_vectors",
    "compatibility_matrix",
    "compatible",
    "plots_available",
    "write_report",
]
