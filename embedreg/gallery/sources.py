"""Reading a gallery's items from a file: raw inputs embedded on the way, or an embeddings file.

Example:
    >>> is_embeddings_source("vectors.safetensors")
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import EMBEDDINGS_INDEX_FILENAME
from ..data.embeddings import iter_embeddings, read_meta
from ..data.inputs import check_regular_file, count_lines, input_ids, read_inputs
from ..models import Encoder
from ..registry import Generation
from ..util.hashing import file_sha256

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CHUNK",
    "Progress",
    "check_source",
    "is_embeddings_source",
    "source_items",
    "source_record",
]

#: ``progress(done, total)``; ``total`` is ``None`` when unknown.
Progress = Callable[[int, "int | None"], None]

#: Items embedded and added per step when building from raw inputs.
CHUNK = 4096


def is_embeddings_source(path: str | os.PathLike[str]) -> bool:
    """True for an embeddings file (``.safetensors``) or a sharded embeddings folder."""
    p = Path(path)
    return p.suffix == ".safetensors" or (p.is_dir() and (p / EMBEDDINGS_INDEX_FILENAME).exists())


def check_source(source: Path, *, text_field: str, id_field: str | None) -> list[str] | None:
    """Check an input before any model loads or lock is taken; the ids of raw inputs.

    Raw inputs must be a regular file whose every line parses, with at least
    one item and no id given twice; an embeddings file must be readable.
    ``None`` for an embeddings file (its ids are read as it is added).

    Raises:
        InputError: not a regular file, a bad line, no items, a repeated id.
    """
    if is_embeddings_source(source):
        if not source.is_dir():
            check_regular_file(source)
        read_meta(source)
        return None
    return input_ids(source, text_field=text_field, id_field=id_field)


def source_items(
    generation: Generation,
    source: Path,
    *,
    text_field: str,
    id_field: str | None,
    device: str,
    batch_size: int,
    progress: Progress | None,
    skip: frozenset[str] = frozenset(),
) -> Iterator[tuple[np.ndarray, list[str], list[str | None]]]:
    """Vectors, ids and texts, a chunk at a time, from an embeddings file or raw inputs.

    Items whose id is in ``skip`` are left out (raw inputs: before they are embedded).
    """
    if is_embeddings_source(source):
        total = read_meta(source).count
        if progress:
            progress(0, total)
        for batch in iter_embeddings(source, batch_rows=CHUNK * 4, generation=generation):
            ids = batch.ids or [str(batch.start + n) for n in range(len(batch))]
            keep = [n for n, i in enumerate(ids) if i not in skip]
            if keep:
                yield batch.vectors[keep], [ids[n] for n in keep], [None] * len(keep)
            if progress:
                progress(batch.start + len(batch), total)
        return
    items = (
        item
        for item in read_inputs(source, text_field=text_field, id_field=id_field)
        if item.id not in skip
    )
    total = count_lines(source) - (1 if source.suffix.lower() == ".csv" else 0) - len(skip)
    encoder = Encoder(generation, device=device, batch_size=batch_size)
    if progress:
        progress(0, total)  # the work's size is known from its start
    done = 0
    while True:
        chunk = [item for _, item in zip(range(CHUNK), items, strict=False)]
        if not chunk:
            return
        texts = [item.text for item in chunk]

        def report(n: int, _total: int | None, base: int = done) -> None:
            if progress:
                progress(base + n, max(total, base + n))

        vectors = encoder.encode(texts, role="document", progress=report)
        done += len(chunk)
        yield vectors, [item.id for item in chunk], list(texts)


def source_record(source: Path, text_field: str, id_field: str | None) -> dict[str, Any]:
    """What items came from: the file and what identifies its content."""
    path = os.path.abspath(source)
    if is_embeddings_source(source):
        meta = read_meta(source)
        return {"kind": "embeddings", "path": path, "meta": meta.to_dict()}
    record: dict[str, Any] = {"kind": "inputs", "path": path, "sha256": file_sha256(source)}
    if source.suffix.lower() in (".jsonl", ".csv"):
        record["text_field"] = text_field
        if id_field:
            record["id_field"] = id_field
    return record
