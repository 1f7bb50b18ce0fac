"""Embed an input file into an embeddings file, streaming, with a generation's recipe.

:func:`embed_inputs` is what ``embedreg embed`` runs: items are read from a
``.txt`` / ``.jsonl`` / ``.csv`` file a chunk at a time, encoded (length
sorted within the chunk) and streamed to an :class:`~embedreg.embeddings.EmbeddingsWriter`,
so memory holds one chunk of texts and vectors whatever the input's size. The
ids (and labels, when the input has them) are stored with the vectors.

Example:
    >>> result = embed_inputs(reg.generation("v2"), "docs.txt", "e.safetensors")  # doctest: +SKIP
    >>> result.count, result.dimension  # doctest: +SKIP
    (500, 384)
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constants import DEFAULT_SHARD_ROWS
from .errors import InputError
from .inputs import count_lines, read_inputs

if TYPE_CHECKING:
    from .encoding import Encoder, ProgressCallback
    from .generation import Generation

__all__ = ["EmbedResult", "embed_inputs"]


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_inputs` wrote.

    Attributes:
        path: the embeddings file (or sharded folder).
        generation: the generation's name.
        pin: its pin.
        role: ``query`` or ``document``.
        count: vectors written.
        dimension: their dimension.
        seconds: wall time of reading, encoding and writing (model load excluded).
        device: where the model ran.
        precision: in which precision.
    """

    path: Path
    generation: str
    pin: str
    role: str
    count: int
    dimension: int
    seconds: float
    device: str
    precision: str

    @property
    def items_per_second(self) -> float:
        """Throughput over :attr:`seconds`."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": str(self.path),
            "generation": self.generation,
            "pin": self.pin,
            "role": self.role,
            "count": self.count,
            "dimension": self.dimension,
            "seconds": round(self.seconds, 3),
            "items_per_second": round(self.items_per_second, 2),
            "device": self.device,
            "precision": self.precision,
        }


def embed_inputs(
    generation: Generation,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    role: str = "document",
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "auto",
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    chunk_size: int = 8192,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    encoder: Encoder | None = None,
    progress: ProgressCallback | None = None,
) -> EmbedResult:
    """Embed every item of ``input_path`` with ``generation`` into ``output_path``.

    Args:
        generation: the generation to embed with.
        input_path: a ``.txt``, ``.jsonl`` or ``.csv`` file (see :mod:`embedreg.inputs`).
        output_path: the embeddings file to write (atomically; a folder of
            shards beyond ``shard_rows`` rows).
        role: ``query`` or ``document`` (chooses the recipe's prefix).
        batch_size, device, precision: passed to the :class:`~embedreg.encoding.Encoder`.
        text_field, id_field, label_field: passed to :func:`~embedreg.inputs.read_inputs`.
        chunk_size: items read, encoded and written at a time.
        shard_rows: rows per shard file.
        encoder: an already loaded encoder of ``generation`` to reuse.
        progress: called with ``(items done, estimated total)`` after each batch.

    Raises:
        InputError: a bad input file (named, with the line) or one with no items.
        ModelChanged, ModelLoadError: the model cannot be loaded as pinned.

    Example:
        >>> embed_inputs(gen, "queries.jsonl", "q.safetensors", role="query").count  # doctest: +SKIP
        120
    """
    from .embeddings import EmbeddingsWriter
    from .encoding import Encoder

    source = Path(input_path)
    items = read_inputs(source, text_field=text_field, id_field=id_field, label_field=label_field)
    if not source.is_file():
        raise InputError(str(source), None, "does not exist or is not a file", "check the path")
    total = count_lines(source) - (1 if source.suffix.lower() == ".csv" else 0)
    if encoder is None:
        encoder = Encoder(generation, device=device, batch_size=batch_size, precision=precision)
    elif encoder.generation != generation:
        raise ValueError("the encoder given belongs to another generation")
    if progress is not None:
        progress(0, total)
    started = time.perf_counter()
    with EmbeddingsWriter(output_path, generation, role, shard_rows=shard_rows) as writer:
        while True:
            chunk = list(itertools.islice(items, chunk_size))
            if not chunk:
                break
            done = writer.count

            def report(n: int, _total: int | None, base: int = done) -> None:
                if progress is not None:
                    progress(base + n, max(total, base + n))

            vectors = encoder.encode([item.text for item in chunk], role=role, progress=report)
            labels = [item.label for item in chunk]
            writer.write(
                vectors,
                ids=[item.id for item in chunk],
                labels=None if labels[0] is None else [str(x) for x in labels],
            )
        if writer.count == 0:
            raise InputError(str(source), None, "holds no items", "give it at least one item")
    return EmbedResult(
        path=writer.path,
        generation=generation.name,
        pin=generation.pin,
        role=role,
        count=writer.count,
        dimension=generation.dimension,
        seconds=time.perf_counter() - started,
        device=encoder.device,
        precision=encoder.precision,
    )
