"""Fingerprints: does a generation's model still give the vectors it was registered with?

When a generation is added, a small fixed probe set (:data:`PROBE_TEXTS`) is
embedded, and each probe vector is stored compactly: its norm and its
projection onto 16 fixed random ±1 directions (a Johnson-Lindenstrauss
sketch, so distances between sketches estimate distances between vectors).
The whole fingerprint is about 1.4 kB of base64 in ``registry.json``.

:func:`verify_generation` re-embeds the probes and compares. Fingerprints are
made and checked in float32, where CPU and GPU agree to ~1e-5; the tolerance
(relative distance 5e-4) is far above that and far below what a changed
weight does (one element of one weight matrix moved by 0.5 moves the probe
vectors of the models in the test bed by 1e-2). Checking in lower precision is
allowed, with the looser tolerance that precision needs (fp16 5e-3, bf16 2e-2).

A local folder is also re-hashed against its sha256 pin, which catches any
byte change; the fingerprint adds what a hash cannot: a changed tokenizer or
config, a different transformers version that computes differently, or a Hub
source that is not what it was.

Example:
    >>> report = verify_generation(registry.generation("v2"))  # doctest: +SKIP
    >>> report.ok, report.max_distance < report.tolerance  # doctest: +SKIP
    (True, True)
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    ConflictError,
    FingerprintMismatch,
    ModelChanged,
    NoFingerprint,
    ValidationError,
)
from ..registry import SKETCH_SIZE, Fingerprint, Generation, Registry
from .encoder import PRECISIONS, Encoder
from .folders import model_folder

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PROBE_SET",
    "PROBE_TEXTS",
    "TOLERANCES",
    "Fingerprint",
    "VerifyReport",
    "compute_fingerprint",
    "record_fingerprint",
    "verify_generation",
]

#: Name of the built-in probe set; stored with each fingerprint.
PROBE_SET = "embedreg-probe-1"

#: The built-in probes: short and long, several languages, digits, symbols.
PROBE_TEXTS: tuple[str, ...] = (
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Two dogs are playing in the snow.",
    "The new movie is awesome.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "How do I reset my password?",
    "Quantum computers use qubits that can be in superposition.",
    "Paris is the capital of France.",
    "Le chat dort sur le canapé.",
    "Der Zug nach Berlin hat zwanzig Minuten Verspätung.",
    "El mercado abre a las nueve de la mañana.",
    "Order #4521 shipped on 2024-03-15 for $129.99.",
    "def add(a, b): return a + b",
    "🙂 great service, would come again!",
    (
        "The committee met on Tuesday to review the budget. After a long discussion about "
        "schools, roads and hospitals, members agreed to postpone the vote until the auditors "
        "had published their report, which is expected early next month."
    ),
)

#: Largest relative distance between a probe vector and its fingerprint that
#: still counts as "the same vector", by the precision of the check.
TOLERANCES: dict[str, float] = {"fp32": 5e-4, "fp16": 5e-3, "bf16": 2e-2}


def _directions(dimension: int) -> np.ndarray:
    """(dimension x SKETCH_SIZE) fixed ±1/sqrt(k) directions, derived from sha256.

    Hash-derived rather than from a random generator, so they never change
    with a numpy version.
    """
    import numpy as np

    need = dimension * SKETCH_SIZE
    blocks = []
    for counter in range(math.ceil(need / 256)):
        blocks.append(hashlib.sha256(f"{PROBE_SET}/{dimension}/{counter}".encode()).digest())
    bits = np.unpackbits(np.frombuffer(b"".join(blocks), dtype=np.uint8))[:need]
    signs = bits.astype(np.float32) * 2.0 - 1.0
    return (signs / math.sqrt(SKETCH_SIZE)).reshape(dimension, SKETCH_SIZE)


def sketch_vectors(vectors: np.ndarray) -> np.ndarray:
    """Sketch rows of ``vectors``: projections of each unit vector, then its norm."""
    import numpy as np

    data = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    units = data / np.maximum(norms, 1e-12)
    projected = units @ _directions(data.shape[1]).astype(np.float64)
    return np.hstack([projected, norms]).astype(np.float32)


def _encode_probes(
    generation: Generation,
    *,
    device: str,
    precision: str,
    folder: str | Path | None,
    verify_pin: bool,
    check_dimension: bool = True,
) -> tuple[np.ndarray, str]:
    encoder = Encoder(
        generation,
        device=device,
        precision=precision,
        batch_size=len(PROBE_TEXTS),
        folder=folder,
        verify_pin=verify_pin,
        check_dimension=check_dimension,
    )
    return encoder.encode(list(PROBE_TEXTS), role="document"), encoder.device


def compute_fingerprint(
    generation: Generation,
    *,
    device: str = "auto",
    folder: str | Path | None = None,
    verify_pin: bool = True,
    check_dimension: bool = True,
) -> Fingerprint:
    """Embed the probe set with ``generation`` (in float32) and sketch it.

    With ``check_dimension=False`` the generation's declared dimension is not
    enforced, and the fingerprint's :attr:`~Fingerprint.dimension` is the
    model's real one (how ``gen add`` probes a dimension no config file gives).

    Example:
        >>> fp = compute_fingerprint(gen, device="cpu")  # doctest: +SKIP
        >>> fp.dimension, len(fp.rows())  # doctest: +SKIP
        (384, 16)
    """
    import numpy as np

    vectors, used = _encode_probes(
        generation,
        device=device,
        precision="fp32",
        folder=folder,
        verify_pin=verify_pin,
        check_dimension=check_dimension,
    )
    sketch = sketch_vectors(vectors).astype("<f4")
    return Fingerprint(
        probe_set=PROBE_SET,
        dimension=int(vectors.shape[1]),
        sketch=base64.b64encode(np.ascontiguousarray(sketch).tobytes()).decode("ascii"),
        precision="fp32",
        device=used,
    )


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_generation` found.

    Attributes:
        generation: the generation's name.
        pin_ok: local folder: do the weight bytes match the sha256 pin?
            ``None`` for a Hub source (a commit is content-addressed).
        fingerprint_ok: are all probe vectors within :attr:`tolerance`?
        max_distance: largest relative distance ``|v' - v| / |v|`` found
            (estimated from the sketch).
        max_norm_change: largest relative change of a probe vector's norm.
        tolerance: the tolerance for the precision used.
        device: where the probes were re-embedded.
        precision: in which precision.
        detail: one line on what failed, empty when all is well.
    """

    generation: str
    pin_ok: bool | None
    fingerprint_ok: bool
    max_distance: float
    max_norm_change: float
    tolerance: float
    device: str
    precision: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the pin (if checked) and the fingerprint both match."""
        return self.fingerprint_ok and self.pin_ok is not False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json``)."""
        return {
            "generation": self.generation,
            "ok": self.ok,
            "pin_ok": self.pin_ok,
            "fingerprint_ok": self.fingerprint_ok,
            "max_distance": self.max_distance,
            "max_norm_change": self.max_norm_change,
            "tolerance": self.tolerance,
            "device": self.device,
            "precision": self.precision,
            "detail": self.detail,
        }

    def raise_for_mismatch(self) -> None:
        """Raise :class:`FingerprintMismatch` naming the generation unless :attr:`ok`."""
        if not self.ok:
            raise FingerprintMismatch(self.generation, self.detail)


def compare(
    fingerprint: Fingerprint, vectors: np.ndarray, tolerance: float
) -> tuple[bool, float, float, str]:
    """Compare re-embedded probe ``vectors`` with ``fingerprint``.

    Returns ``(ok, max relative distance, max relative norm change, detail)``.
    """
    import numpy as np

    if vectors.shape[1] != fingerprint.dimension:
        return (
            False,
            math.inf,
            math.inf,
            f"the model now gives {vectors.shape[1]}-d vectors, the fingerprint has {fingerprint.dimension}-d",
        )
    stored = fingerprint.rows()
    if stored.shape[0] != vectors.shape[0]:
        raise ValidationError(
            f"fingerprint holds {stored.shape[0]} probes, the probe set has {vectors.shape[0]}"
        )
    now = sketch_vectors(vectors).astype(np.float64)
    old = stored.astype(np.float64)
    distance = float(np.linalg.norm(now[:, :-1] - old[:, :-1], axis=1).max())
    norm_change = float(np.max(np.abs(now[:, -1] - old[:, -1]) / np.maximum(old[:, -1], 1e-12)))
    ok = distance <= tolerance and norm_change <= tolerance
    detail = (
        ""
        if ok
        else f"probe vectors moved by up to {distance:.2g} (norms by {norm_change:.2g}), "
        f"tolerance {tolerance:g}"
    )
    return ok, distance, norm_change, detail


def verify_generation(
    generation: Generation,
    *,
    device: str = "auto",
    precision: str = "fp32",
    folder: str | Path | None = None,
) -> VerifyReport:
    """Re-embed the probe set and compare with ``generation``'s fingerprint.

    A local folder's weights are re-hashed too; a changed folder is reported
    (``pin_ok=False``) and still probed, so the report says whether its
    vectors changed as well.

    Raises:
        NoFingerprint: the generation was registered without one.
        ModelLoadError: the model cannot be loaded at all.

    Example:
        >>> verify_generation(reg.generation("v2"), device="cpu").ok  # doctest: +SKIP
        True
    """
    fingerprint = generation.fingerprint
    if fingerprint is None:
        raise NoFingerprint(generation.name)
    if fingerprint.probe_set != PROBE_SET:
        raise ValidationError(
            f"generation {generation.name!r} has a fingerprint of probe set "
            f"{fingerprint.probe_set!r}, this embedreg knows {PROBE_SET!r}",
            "upgrade embedreg",
        )
    if precision not in PRECISIONS or precision == "auto":
        raise ValidationError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
    pin_ok: bool | None = None
    pin_detail = ""
    if folder is None and generation.source.kind == "local":
        try:
            model_folder(generation, verify_pin=True)
            pin_ok = True
        except ModelChanged as exc:
            pin_ok = False
            pin_detail = exc.message
    vectors, used = _encode_probes(
        generation,
        device=device,
        precision=precision,
        folder=folder,
        verify_pin=False,
        check_dimension=False,
    )
    tolerance = TOLERANCES[precision]
    ok, distance, norm_change, detail = compare(fingerprint, vectors, tolerance)
    details = [d for d in (pin_detail, detail) if d]
    if pin_ok is False and ok:
        details.append("the probe vectors still match")
    return VerifyReport(
        generation=generation.name,
        pin_ok=pin_ok,
        fingerprint_ok=ok,
        max_distance=distance,
        max_norm_change=norm_change,
        tolerance=tolerance,
        device=used,
        precision=precision,
        detail="; ".join(details),
    )


def record_fingerprint(
    registry: Registry, name: str, *, device: str = "auto", replace: bool = False
) -> Generation:
    """Compute generation ``name``'s fingerprint and store it in ``registry``.

    For generations registered without one. An existing fingerprint is
    refused (before the model loads) unless ``replace``.

    Example:
        >>> record_fingerprint(reg, "v2", device="cpu").fingerprint.precision  # doctest: +SKIP
        'fp32'
    """
    gen = registry.generation(name)
    if gen.fingerprint is not None and not replace:
        raise ConflictError(
            f"generation {gen.name!r} has a fingerprint already",
            f"check the model against it with 'embedreg gen verify {gen.name}' "
            "(or pass --replace if the model is known good)",
        )
    fingerprint = compute_fingerprint(gen, device=device)
    return registry.set_fingerprint(gen.name, fingerprint, replace=replace)
