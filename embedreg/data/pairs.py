"""Paired embeddings: the same items embedded by two generations, checked and split.

A backward adapter learns from pairs ``(h_t(x), h_k(x))``: the *source*
side is what the adapter takes (the new generation for a backward adapter),
the *target* side what it must produce.  :class:`PairedEmbeddings` holds
both sides with the items' ids and optional class labels, refuses data that
cannot train an adapter (:func:`check_pairs`), hashes it for provenance and
splits it reproducibly.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pairs = PairedEmbeddings(
    ...     ids=[str(i) for i in range(100)],
    ...     source=rng.standard_normal((100, 4)).astype(np.float32),
    ...     target=rng.standard_normal((100, 3)).astype(np.float32),
    ... )
    >>> train, heldout = pairs.split(0.2, seed=0)
    >>> len(train), len(heldout)
    (80, 20)
    >>> pairs.swapped().source.shape
    (100, 3)
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import TrainingDataError
from ..registry import Registry
from .embeddings import Embeddings, load_embeddings
from .labels import label_codes

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: Fewest held-out pairs that figures are computed on.
MIN_HELDOUT = 20


def minimum_pairs(input_dim: int, heldout: float = 0.0) -> int:
    """Fewest pairs that can fit an affine map from ``input_dim`` dimensions.

    Each output coordinate of an affine map has ``input_dim + 1`` unknowns,
    so the training part needs at least ``input_dim + 1`` pairs; with a
    held-out fraction the total grows to ``ceil((input_dim + 1) / (1 − heldout))``
    and at least :data:`MIN_HELDOUT` more.

    Example:
        >>> minimum_pairs(384, 0.2)
        482
    """
    train = input_dim + 1
    if heldout <= 0:
        return train
    return max(math.ceil(train / (1.0 - heldout)), train + MIN_HELDOUT)


def _rows_not_finite(x: FloatArray) -> npt.NDArray[np.intp]:
    return np.flatnonzero(~np.isfinite(x).all(axis=1))


def _name_some(ids: Sequence[str], rows: Sequence[int] | npt.NDArray[np.intp]) -> str:
    shown = ", ".join(repr(ids[int(i)]) for i in list(rows)[:3])
    return shown + (f" … {len(rows) - 3} more" if len(rows) > 3 else "")


def _first_duplicate(ids: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    return None


def check_pairs(
    source: FloatArray,
    target: FloatArray,
    *,
    ids: Sequence[str] | None = None,
    min_pairs: int = 1,
    what: str = "training pairs",
) -> None:
    """Refuse paired arrays that cannot train or measure an adapter.

    Raises:
        TrainingDataError: row counts differ, an array is not 2-D, a row holds
            NaN or Inf, or there are fewer than ``min_pairs`` rows.
    """
    for name, arr in (("source", source), ("target", target)):
        if arr.ndim != 2:
            raise TrainingDataError(f"{what}: {name} vectors must be a 2-D array, got {arr.shape}")
    if source.shape[0] != target.shape[0]:
        raise TrainingDataError(
            f"{what}: {source.shape[0]} source vectors but {target.shape[0]} target vectors",
            "both sides must hold the same items in the same order",
        )
    names = list(ids) if ids is not None else [f"row {i}" for i in range(source.shape[0])]
    for name, arr in (("source", source), ("target", target)):
        bad = _rows_not_finite(arr)
        if bad.size:
            raise TrainingDataError(
                f"{what}: {bad.size} {name} vector(s) hold NaN or Inf ({_name_some(names, bad)})",
                "re-embed those items or drop them from both files",
            )
        zero = np.flatnonzero(~arr.any(axis=1))
        if zero.size:
            raise TrainingDataError(
                f"{what}: {zero.size} {name} vector(s) are all zeros ({_name_some(names, zero)})",
                "a zero vector points nowhere: re-embed those items or drop them from both files",
            )
    if source.shape[0] < min_pairs:
        raise TrainingDataError(
            f"{what}: {source.shape[0]} pairs are too few for a "
            f"{source.shape[1]} → {target.shape[1]} adapter (at least {min_pairs} needed)",
            "embed more items with both generations",
        )


@dataclass(frozen=True)
class PairedEmbeddings:
    """Items embedded by two generations, row ``i`` of each side being item ``ids[i]``.

    Attributes:
        ids: item ids, unique.
        source: ``(N, n)`` float32 vectors the adapter takes.
        target: ``(N, d)`` float32 vectors it must produce.
        labels: optional class label per item (enables CMC/mAP and SupCon).
        source_generation / target_generation: generation names, when known.
        source_space / target_space: ``(pin, recipe hash)`` of the generation
            that made each side, when known (embeddings files record them), so
            a generation re-registered under the same name is noticed.
    """

    ids: list[str]
    source: FloatArray
    target: FloatArray
    labels: list[str] | None = None
    source_generation: str | None = None
    target_generation: str | None = None
    source_space: tuple[str, str] | None = None
    target_space: tuple[str, str] | None = None
    _hash: list[str] = field(init=False, default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", np.ascontiguousarray(self.source, dtype=np.float32))
        object.__setattr__(self, "target", np.ascontiguousarray(self.target, dtype=np.float32))
        n = len(self.ids)
        if self.source.ndim != 2 or self.target.ndim != 2:
            raise TrainingDataError("paired embeddings must be 2-D arrays")
        if self.source.shape[0] != n or self.target.shape[0] != n:
            raise TrainingDataError(
                f"{n} ids but {self.source.shape[0]} source and {self.target.shape[0]} target vectors"
            )
        if len(set(self.ids)) != n:
            dup = _first_duplicate(self.ids)
            raise TrainingDataError(f"item id {dup!r} appears more than once", "ids must be unique")
        if self.labels is not None and len(self.labels) != n:
            raise TrainingDataError(f"{n} items but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def source_dim(self) -> int:
        """Dimension of the source side."""
        return int(self.source.shape[1])

    @property
    def target_dim(self) -> int:
        """Dimension of the target side."""
        return int(self.target.shape[1])

    def check(self, *, min_pairs: int = 1) -> None:
        """:func:`check_pairs` on both sides, naming offending items by id."""
        check_pairs(self.source, self.target, ids=self.ids, min_pairs=min_pairs)

    def content_hash(self) -> str:
        """sha256 over ids, both sides' float32 bytes and labels (the training-data hash)."""
        if not self._hash:
            digest = hashlib.sha256()
            for part in (
                "\n".join(self.ids).encode("utf-8"),
                np.asarray(self.source.shape, dtype=np.int64).tobytes(),
                self.source.tobytes(),
                np.asarray(self.target.shape, dtype=np.int64).tobytes(),
                self.target.tobytes(),
                "\n".join(self.labels).encode("utf-8") if self.labels is not None else b"",
            ):
                digest.update(hashlib.sha256(part).digest())
            self._hash.append(digest.hexdigest())
        return self._hash[0]

    def subset(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> PairedEmbeddings:
        """The pairs at ``rows``, in that order."""
        idx = np.asarray(rows, dtype=np.intp)
        return PairedEmbeddings(
            ids=[self.ids[int(i)] for i in idx],
            source=self.source[idx],
            target=self.target[idx],
            labels=[self.labels[int(i)] for i in idx] if self.labels is not None else None,
            source_generation=self.source_generation,
            target_generation=self.target_generation,
            source_space=self.source_space,
            target_space=self.target_space,
        )

    def split(self, heldout: float, seed: int = 0) -> tuple[PairedEmbeddings, PairedEmbeddings]:
        """A reproducible random split into (train, held-out); ``heldout`` is a fraction.

        The permutation depends only on ``seed`` and the number of pairs.
        """
        if not 0.0 < heldout < 1.0:
            raise TrainingDataError(f"held-out fraction must be in (0, 1), got {heldout}")
        n = len(self)
        order = np.random.default_rng(seed).permutation(n)
        n_test = max(1, round(n * heldout))
        return self.subset(np.sort(order[n_test:])), self.subset(np.sort(order[:n_test]))

    def swapped(self) -> PairedEmbeddings:
        """The same pairs with source and target exchanged (for a forward adapter)."""
        return replace(
            self,
            source=self.target,
            target=self.source,
            source_generation=self.target_generation,
            target_generation=self.source_generation,
            source_space=self.target_space,
            target_space=self.source_space,
        )

    def label_codes(self) -> npt.NDArray[np.int64] | None:
        """Labels as integer codes (``None`` without labels)."""
        if self.labels is None:
            return None
        return label_codes(self.labels, len(self))


def pairs_from_embeddings(
    new_ids: Sequence[str] | None,
    new_vectors: FloatArray,
    new_labels: Sequence[str] | None,
    old_ids: Sequence[str] | None,
    old_vectors: FloatArray,
    old_labels: Sequence[str] | None,
    *,
    new_generation: str | None = None,
    old_generation: str | None = None,
    what: tuple[str, str] = ("new file", "old file"),
) -> PairedEmbeddings:
    """Pair two generations' vectors of the same items by id (the new side's order).

    Without ids on either side, rows pair by position and counts must agree.

    Raises:
        TrainingDataError: one side has ids and the other not, the id sets
            differ, counts differ, or the two sides give an item different labels.
    """
    n_new, n_old = new_vectors.shape[0], old_vectors.shape[0]
    if (new_ids is None) != (old_ids is None):
        has, lacks = what if new_ids is not None else what[::-1]
        raise TrainingDataError(
            f"the {has} has item ids but the {lacks} has none",
            "embed both from the same input so that ids match",
        )
    if new_ids is None or old_ids is None:
        if n_new != n_old:
            raise TrainingDataError(
                f"the {what[0]} holds {n_new} vectors, the {what[1]} {n_old}",
                "both must embed the same items",
            )
        ids = [str(i) for i in range(n_new)]
        order = np.arange(n_old)
    else:
        ids = list(new_ids)
        position = {item: i for i, item in enumerate(old_ids)}
        if len(position) != len(old_ids):
            raise TrainingDataError(
                f"item id {_first_duplicate(old_ids)!r} appears twice in the {what[1]}"
            )
        missing = [i for i in ids if i not in position]
        extra = len(old_ids) - (len(ids) - len(missing))
        if missing or extra:
            detail = []
            if missing:
                shown = ", ".join(repr(i) for i in missing[:3])
                detail.append(
                    f"{len(missing)} id(s) of the {what[0]} are not in the {what[1]} ({shown})"
                )
            if extra:
                detail.append(f"{extra} id(s) of the {what[1]} are not in the {what[0]}")
            raise TrainingDataError(
                "the two files do not hold the same items: " + "; ".join(detail),
                "embed the same input with both generations",
            )
        order = np.fromiter((position[i] for i in ids), dtype=np.intp, count=len(ids))
    labels: list[str] | None = None
    aligned_old_labels = [old_labels[int(j)] for j in order] if old_labels is not None else None
    if new_labels is not None:
        labels = list(new_labels)
        if aligned_old_labels is not None:
            for item, a, b in zip(ids, labels, aligned_old_labels, strict=True):
                if a != b:
                    raise TrainingDataError(
                        f"item {item!r} is labelled {a!r} in the {what[0]} but {b!r} in the {what[1]}"
                    )
    else:
        labels = aligned_old_labels
    return PairedEmbeddings(
        ids=ids,
        source=new_vectors,
        target=old_vectors[order],
        labels=labels,
        source_generation=new_generation,
        target_generation=old_generation,
    )


def pair_embeddings(
    new: Embeddings,
    old: Embeddings,
    *,
    new_generation: str,
    old_generation: str,
    what: tuple[str, str],
) -> PairedEmbeddings:
    """:func:`pairs_from_embeddings` for two :class:`~embedreg.data.embeddings.Embeddings`.

    The pairs remember the pin and recipe hash each file was made with.
    """
    pairs = pairs_from_embeddings(
        new.ids,
        new.vectors,
        new.labels,
        old.ids,
        old.vectors,
        old.labels,
        new_generation=new_generation,
        old_generation=old_generation,
        what=what,
    )
    return replace(
        pairs,
        source_space=(new.meta.pin, new.meta.recipe_hash),
        target_space=(old.meta.pin, old.meta.recipe_hash),
    )


def load_pairs(
    registry: Registry,
    new: str,
    old: str,
    new_file: str | os.PathLike[str],
    old_file: str | os.PathLike[str],
) -> PairedEmbeddings:
    """Pair two embeddings files of the same items: ``new_file`` by ``new``, ``old_file`` by ``old``.

    Each file must have been made by the generation it is given for (name,
    pin and recipe; else :class:`~embedreg.errors.GenerationMismatch`); items
    are matched by id.

    Example:
        >>> pairs = load_pairs(reg, "v3", "v2", "v3.safetensors", "v2.safetensors")  # doctest: +SKIP
    """
    doc = registry.document()
    new_gen, old_gen = doc.generation(new), doc.generation(old)
    return pair_embeddings(
        load_embeddings(new_file, generation=new_gen),
        load_embeddings(old_file, generation=old_gen),
        new_generation=new_gen.name,
        old_generation=old_gen.name,
        what=(f"{new_gen.name} file {new_file}", f"{old_gen.name} file {old_file}"),
    )
