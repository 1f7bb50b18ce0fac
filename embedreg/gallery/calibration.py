"""Score calibration: putting the scores of differently embedded segments on one scale.

A query of generation ``Q`` reaches a segment of another generation through a
path, and its scores there (cosine in that segment's space) are not on the
same scale as its scores in a segment of ``Q`` itself: an adapter lands
queries near, not on, their items, so routed scores run lower.  Merged as
they come, the native segment wins most of the top ranks.  A
:class:`Calibration` is an affine map ``score · scale + shift`` fitted (by
:mod:`embedreg.upgrade`, on items embedded by both generations) so that a
routed score estimates the score the same item would have had in ``Q``'s
space; the manifest keeps one per (segment, query generation).

Example:
    >>> c = Calibration(scale=1.2, shift=0.05, pairs=400)
    >>> round(float(c.apply(0.5)), 3)
    0.65
    >>> parse_calibrations(calibrations_to_dict({"v1": {"v2": c}}))["v1"]["v2"] == c
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..constants import MergeMode
from ..errors import ValidationError
from ..util.fields import check_fields

__all__ = [
    "MERGES",
    "RRF_K",
    "Calibration",
    "Calibrations",
    "calibrations_to_dict",
    "merge_mode",
    "parse_calibrations",
    "rrf_scores",
]

#: The rank offset of reciprocal-rank fusion (Cormack et al.'s 60).
RRF_K = 60

#: How a search merges the segments' results: ``auto`` (calibrated when every
#: routed segment has a calibration for the query generation, else as scored),
#: ``score`` (as scored), ``calibrated`` (required), ``rrf`` (reciprocal-rank fusion).
MERGES: tuple[str, ...] = MergeMode.values()


@dataclass(frozen=True)
class Calibration:
    """An affine map of one segment's scores onto the query generation's scale.

    Attributes:
        scale, shift: ``calibrated = score * scale + shift``.
        pairs: score pairs it was fitted on.
        rmse: root-mean-square error of the fit on those pairs.
        basis: how it was fitted, in words.
    """

    scale: float
    shift: float
    pairs: int = 0
    rmse: float | None = None
    basis: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and math.isfinite(self.shift)) or self.scale <= 0:
            raise ValidationError(
                f"a calibration needs a finite positive scale and finite shift, "
                f"got {self.scale!r}, {self.shift!r}"
            )

    def apply(self, scores: Any) -> Any:
        """Calibrated scores (numpy arrays or floats)."""
        return scores * self.scale + self.shift

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scale": self.scale,
            "shift": self.shift,
            "pairs": self.pairs,
            "rmse": self.rmse,
            "basis": self.basis,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        check_fields(
            "calibration", data, {"scale", "shift", "pairs", "rmse", "basis"}, {"scale", "shift"}
        )
        return cls(
            scale=float(data["scale"]),
            shift=float(data["shift"]),
            pairs=int(data.get("pairs", 0)),
            rmse=None if data.get("rmse") is None else float(data["rmse"]),
            basis=str(data.get("basis", "")),
        )


#: Segment name → query generation → calibration.
Calibrations = dict[str, dict[str, Calibration]]


def parse_calibrations(data: Any) -> Calibrations:
    """Calibrations from their manifest form (``{}`` when absent)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValidationError("calibration must map segments to query generations")
    return {
        str(seg): {str(q): Calibration.from_dict(c) for q, c in by_query.items()}
        for seg, by_query in data.items()
    }


def calibrations_to_dict(calibrations: Calibrations) -> dict[str, Any]:
    """The manifest form of ``calibrations``."""
    return {
        seg: {q: c.to_dict() for q, c in sorted(by_query.items())}
        for seg, by_query in sorted(calibrations.items())
        if by_query
    }


def merge_mode(
    merge: str,
    paths: Mapping[str, object | None],
    calibration: Mapping[str, Calibration],
    query: str,
) -> str:
    """The merge a search uses: ``auto`` becomes ``calibrated`` or ``score``.

    Raises:
        ValidationError: an unknown mode, or ``calibrated`` with a routed
            segment that has no calibration for the query generation.
    """
    if merge not in MERGES:
        raise ValidationError(f"merge must be one of {', '.join(MERGES)}, got {merge!r}")
    routed = [name for name, path in paths.items() if path is not None]
    missing = [name for name in routed if name not in calibration]
    if merge == "calibrated" and missing:
        raise ValidationError(
            f"segment(s) {', '.join(missing)} have no score calibration for {query!r} queries",
            "merge by score or rrf, or calibrate with 'embedreg upgrade apply --strategy partial'",
        )
    if merge == "auto":
        return "calibrated" if routed and not missing else "score"
    return merge


def rrf_scores(fids: Any) -> Any:
    """Reciprocal-rank scores ``1 / (RRF_K + rank)`` of a FAISS result's columns (``-inf``: no hit).

    Example:
        >>> import numpy as np
        >>> [round(float(v), 4) for v in rrf_scores(np.array([[7, 3, -1]]))[0]]
        [0.0164, 0.0161, -inf]
    """
    import numpy as np

    ranks = np.arange(1, fids.shape[1] + 1, dtype=np.float32)
    return np.where(fids >= 0, 1.0 / (RRF_K + ranks), -np.inf).astype(np.float32)
