"""What an embedding run wrote (:class:`EmbedResult`), and the output check every run makes first.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "e.safetensors"
    >>> check_output(out, out.with_name("docs.txt"), overwrite=False)  # nothing there yet: fine
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadImage, ConflictError

if TYPE_CHECKING:
    from ..data.embeddings import EmbeddingsWriter
    from ..registry import Generation
    from .encoder import Encoder

__all__ = ["EmbedResult", "check_output"]


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
        seconds: wall time of reading, encoding and writing (model load excluded,
            except in the processes of a sharded run).
        device: where the model ran.
        precision: in which precision.
        processes: how many processes embedded (see :mod:`.sharded`).
        process: this process's rank (0: the main one, which wrote the file).
        tower: which tower made the vectors (``text`` or ``image``).
        skipped: the images left out (``embed_images(skip_bad=True)``).
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
    processes: int = 1
    process: int = 0
    tower: str = "text"
    skipped: tuple[BadImage, ...] = ()

    @classmethod
    def written(
        cls,
        writer: EmbeddingsWriter,
        generation: Generation,
        encoder: Encoder,
        *,
        role: str,
        started: float,
        tower: str = "text",
        skipped: tuple[BadImage, ...] = (),
    ) -> EmbedResult:
        """The result of a one-process run that wrote ``writer``, begun at ``started``
        (a :func:`time.perf_counter` reading)."""
        return cls(
            path=writer.path,
            generation=generation.name,
            pin=generation.pin,
            role=role,
            count=writer.count,
            dimension=generation.dimension,
            seconds=time.perf_counter() - started,
            device=encoder.device,
            precision=encoder.precision,
            tower=tower,
            skipped=skipped,
        )

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
            "processes": self.processes,
            "tower": self.tower,
            "skipped": [
                {"image": e.image, "problem": e.problem, "error": e.message} for e in self.skipped
            ],
        }


def check_output(
    output_path: str | os.PathLike[str], input_path: str | os.PathLike[str], *, overwrite: bool
) -> None:
    """Refuse to write over the input, or over an existing file unless ``overwrite``.

    Raises:
        ConflictError: naming the path and the option that allows it.
    """
    out, source = Path(output_path), Path(input_path)
    if out.exists() and source.exists() and _same_or_inside(source, out):
        raise ConflictError(
            f"the output {out} is the input file {source}", "write the vectors to another path"
        )
    if out.exists() and not overwrite:
        raise ConflictError(
            f"the output {out} exists", "choose another path, or pass --force to replace it"
        )
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """Raise :class:`OSError` naming the folder when ``out`` could not be written there.

    Checked before any model loads: the nearest existing folder above ``out``
    must be a folder this process may write into.
    """
    folder = out.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(folder))


def _same_or_inside(source: Path, out: Path) -> bool:
    if os.path.samefile(source, out):
        return True
    return out.is_dir() and source.resolve().is_relative_to(out.resolve())
