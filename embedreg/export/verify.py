"""Before an export is written: its vectors must be embedreg's own.

:func:`verify_export` loads the saved folder back with sentence-transformers
alone, encodes :data:`VERIFY_TEXTS` with its default ``encode()``, and
compares each vector with what embedreg computes for the same texts (the
source generation's :class:`~embedreg.models.Encoder` in float32 on the CPU,
then :meth:`QueryPath.apply <embedreg.routing.QueryPath.apply>`).  Every text
must reach a cosine of at least ``threshold`` (0.9999 by default) and a norm
within 0.1 %; otherwise :class:`~embedreg.errors.ExportMismatch` names the
worst text and nothing is written.

The texts are the fingerprint probes (short and long, several languages,
digits, symbols) and one text longer than any ``max_tokens``, so truncation
is checked too.

Example:
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    >>> compare(a, a * 1.0).min_cosine
    1.0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import ST_EXPORT_MIN_COSINE
from ..errors import ExportMismatch
from ..models import PROBE_TEXTS, Encoder
from .st_model import load_model, quiet, st_version
from .target import ExportPlan

__all__ = ["MAX_NORM_ERROR", "VERIFY_TEXTS", "Verification", "compare", "verify_export"]

#: The probes, and one text longer than any model's ``max_tokens`` (truncation).
VERIFY_TEXTS: tuple[str, ...] = (*PROBE_TEXTS, " ".join(PROBE_TEXTS * 8))
#: Largest relative difference of a vector's norm that still counts as the same vector.
MAX_NORM_ERROR = 1e-3


@dataclass(frozen=True)
class Verification:
    """How closely the exported model reproduced embedreg's path output.

    Attributes:
        texts: how many texts were compared.
        min_cosine: the lowest cosine over the texts.
        mean_cosine: the mean cosine.
        max_norm_error: the largest ``|‖a‖ / ‖b‖ − 1|``.
        worst: index (in :data:`VERIFY_TEXTS`) of the text with the lowest cosine.
        threshold: the cosine every text had to reach.
        library: the sentence-transformers version that loaded the export.
    """

    texts: int
    min_cosine: float
    mean_cosine: float
    max_norm_error: float
    worst: int
    threshold: float = ST_EXPORT_MIN_COSINE
    library: str = ""

    @property
    def passed(self) -> bool:
        """Every text at or above the threshold, every norm within :data:`MAX_NORM_ERROR`."""
        return self.min_cosine >= self.threshold and self.max_norm_error <= MAX_NORM_ERROR

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "texts": self.texts,
            "min_cosine": self.min_cosine,
            "mean_cosine": self.mean_cosine,
            "max_norm_error": self.max_norm_error,
            "threshold": self.threshold,
            "sentence_transformers": self.library,
            "passed": self.passed,
        }


def compare(
    expected: np.ndarray, got: np.ndarray, *, threshold: float = ST_EXPORT_MIN_COSINE
) -> Verification:
    """Row-wise cosines and norm ratios of ``got`` against ``expected`` (both ``(N, d)``)."""
    a = np.asarray(expected, dtype=np.float64)
    b = np.asarray(got, dtype=np.float64)
    if a.shape != b.shape:
        raise ExportMismatch(
            f"the exported model returns vectors of shape {b.shape}, embedreg {a.shape}",
            "report this: the export's modules do not match the path",
        )
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-30)
    norm_error = np.abs(nb / np.maximum(na, 1e-30) - 1.0)
    worst = int(np.argmin(cos))
    return Verification(
        texts=len(cos),
        min_cosine=float(cos[worst]),
        mean_cosine=float(cos.mean()),
        max_norm_error=float(norm_error.max()),
        worst=worst,
        threshold=threshold,
    )


def expected_vectors(plan: ExportPlan, texts: tuple[str, ...] = VERIFY_TEXTS) -> np.ndarray:
    """embedreg's own output for ``texts``: the source encoder (fp32, CPU), then the path."""
    encoder = Encoder(plan.source, device="cpu", precision="fp32", batch_size=8)
    vectors = encoder.encode(list(texts), role=plan.role)
    return np.asarray(plan.path.apply(vectors), dtype=np.float32)


def verify_export(
    plan: ExportPlan, folder: Path, *, threshold: float = ST_EXPORT_MIN_COSINE
) -> Verification:
    """Load ``folder`` with sentence-transformers and compare it with embedreg's path output.

    Raises:
        ExportMismatch: a text's cosine is below ``threshold``, or a norm differs by
            more than :data:`MAX_NORM_ERROR`.
    """
    library = st_version()
    expected = expected_vectors(plan)
    model = load_model(folder)
    with quiet():
        got = model.encode(list(VERIFY_TEXTS), batch_size=8, convert_to_numpy=True)
    found = compare(expected, got, threshold=threshold)
    found = dataclasses.replace(found, library=library)
    if not found.passed:
        text = VERIFY_TEXTS[found.worst]
        shown = text if len(text) <= 40 else text[:37] + "…"
        raise ExportMismatch(
            f"the exported model of {plan.label} does not reproduce embedreg's vectors: "
            f"cosine {found.min_cosine:.6f} on {shown!r} (at least {threshold} needed), "
            f"norms within {found.max_norm_error:.2e}; nothing was written",
            "the generation's recipe may be one sentence-transformers cannot express; "
            "report it with 'embedreg gen show' of both generations",
        )
    return found
