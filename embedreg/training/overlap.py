"""Is a figure measured on an adapter's own training data?  The record says.

Figures on items an adapter was trained on are optimistic (an adapter can
look compatible on its training data and fail on anything else), so every
figure that measures an adapter on data of the user's choosing (``eval
report``, ``eval matrix``, ``eval backfill``, ``adapter eval``) checks the
data against what the adapter's record keeps of its training data:

* ``training_data.sha256``: the hash of the pairs it was given (training and
  held-out part); the same pairs measured again are its training data;
* ``training_data.item_ids``: a 12-hex-digit fingerprint (sha256) of each
  training item's id, kept when there are at most :data:`MAX_RECORDED_IDS`
  of them (adapters trained before embedreg recorded them have none, and
  only the hash is checked); items of the data with those ids are counted.

Example:
    >>> from embedreg.registry.provenance import Provenance, TrainingData
    >>> rec = Provenance(training_data=TrainingData(item_ids=tuple(id_fingerprints(["a", "b"]))))
    >>> training_overlap("x", rec, ["a", "c"]).text()
    "1 of 2 items (50%) were in x's training data (by item id)"
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..registry.provenance import Provenance

__all__ = [
    "MAX_RECORDED_IDS",
    "TrainingOverlap",
    "id_fingerprints",
    "overlaps",
    "training_overlap",
]

#: Training items whose id fingerprints an adapter's record keeps (beyond: the hash only).
MAX_RECORDED_IDS = 5000


def id_fingerprints(ids: Iterable[str]) -> list[str]:
    """Sorted 12-hex-digit sha256 prefixes of ``ids`` (what the record keeps).

    Example:
        >>> id_fingerprints(["b", "a"])
        ['3e23e8160039', 'ca978112ca1b']
    """
    return sorted({hashlib.sha256(i.encode("utf-8")).hexdigest()[:12] for i in ids})


@dataclass(frozen=True)
class TrainingOverlap:
    """How much of the measured data was the adapter's training data."""

    adapter: str
    items: int
    of: int
    basis: str

    @property
    def share(self) -> float:
        """The overlapping share of the measured items."""
        return self.items / self.of if self.of else 0.0

    def text(self) -> str:
        """One line for a headline."""
        if self.basis == "sha256":
            return f"the data is {self.adapter}'s own training data (the same sha256)"
        return (
            f"{self.items} of {self.of} items ({self.share:.0%}) were in "
            f"{self.adapter}'s training data (by item id)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "adapter": self.adapter,
            "items": self.items,
            "of": self.of,
            "share": round(self.share, 4),
            "basis": self.basis,
            "text": self.text(),
        }


def training_overlap(
    adapter: str,
    provenance: Provenance,
    ids: Sequence[str],
    data_sha256: str | None = None,
) -> TrainingOverlap | None:
    """The overlap of ``ids`` (or pairs hashing to ``data_sha256``) with the training data, if any."""
    recorded = provenance.training_data
    if data_sha256 is not None and recorded.sha256 == data_sha256:
        return TrainingOverlap(adapter, len(ids), len(ids), "sha256")
    fingerprints = recorded.item_ids
    if not fingerprints or not ids:
        return None
    known = set(fingerprints)
    hits = sum(1 for f in _each_fingerprint(ids) if f in known)
    return TrainingOverlap(adapter, hits, len(ids), "ids") if hits else None


def _each_fingerprint(ids: Iterable[str]) -> Iterable[str]:
    for i in ids:
        yield hashlib.sha256(i.encode("utf-8")).hexdigest()[:12]


def overlaps(
    provenance_of: Mapping[str, Provenance],
    ids: Sequence[str],
    data_sha256: str | None = None,
) -> dict[str, TrainingOverlap]:
    """:func:`training_overlap` of each adapter (id → its record's provenance) that overlaps."""
    out = {}
    for adapter, provenance in provenance_of.items():
        found = training_overlap(adapter, provenance, ids, data_sha256)
        if found is not None:
            out[adapter] = found
    return out
