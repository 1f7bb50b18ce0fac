"""Embedding in checkpointed chunks, on one process or many (Hugging Face accelerate).

A **work folder** holds one embedding job: ``spec.json`` (the generation,
the input file and how to read it, the chunk size) and ``chunks/``, where
each chunk of ``chunk_size`` consecutive items, once embedded, appears
atomically as an ordinary embeddings file ``chunk-000042.safetensors``
holding the items' ids (and labels).  A chunk is the unit of work and of
checkpointing: a process killed at any instant loses at most the chunk it
was embedding, and running the work again embeds only the missing chunks.
Chunk boundaries depend on the spec alone, so any number of processes
produces the same chunks.

**Processes.** In one process the missing chunks are embedded in order.
Under ``accelerate launch`` (or ``torchrun``), each of the N processes
embeds every N-th missing chunk on its own device (``cuda:<local rank>`` on
GPUs, the CPU otherwise); the main process waits until every chunk exists,
and its caller merges them in item order (:func:`read_chunks`).
:func:`launch` starts such processes for a work folder from an ordinary
program (``--num-processes N``) through accelerate's own launcher::

    python -m accelerate.commands.launch --multi_gpu --num_processes N \\
        -m embedreg.models.sharded WORK_FOLDER --device auto

(``--multi_gpu`` makes accelerate start N processes with ``torchrun``, on CPUs
too: each process then joins a ``gloo`` group as accelerate's ``MULTI_CPU``.)

Example:
    >>> spec = WorkSpec(gen, "/data/docs.jsonl", input_sha256="…", count=1000)  # doctest: +SKIP
    >>> prepare(work, spec)  # doctest: +SKIP
    >>> run(work, num_processes=2)  # doctest: +SKIP
    >>> [len(c) for c in read_chunks(work)][:2]  # doctest: +SKIP
    [256, 256]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import (
    DEFAULT_CHUNK_ITEMS,
    ENV_PARENT_PID,
    WORK_CHUNKS,
    WORK_FORMAT,
    WORK_FORMAT_VERSION,
    WORK_LOGS,
    WORK_SPEC,
)
from ..data.embeddings import Embeddings, load_embeddings, read_meta, save_embeddings
from ..data.inputs import read_inputs
from ..errors import EmbeddingsFileError, EmbedRegError, GenerationMismatch, ValidationError
from ..registry import Generation
from ..util.atomic import atomic_write_bytes
from .encoder import Encoder, ProgressCallback
from .processes import Processes, free_port, launched, on_main, parent_alive, processes

__all__ = [
    "Processes",
    "WorkSpec",
    "chunk_path",
    "completed",
    "embed_share",
    "launch",
    "launched",
    "load_spec",
    "on_main",
    "prepare",
    "processes",
    "read_chunks",
    "run",
]


_CHUNK_NAME = "chunk-{:06d}.safetensors"


@dataclass(frozen=True)
class WorkSpec:
    """What a work folder embeds.

    Attributes:
        generation: the generation that embeds (its pin is checked on load).
        input: the ``.txt``/``.jsonl``/``.csv`` file of the items (absolute path).
        input_sha256: the input's sha256 when the work was prepared.
        count: items in the input.
        role: ``document`` or ``query``.
        text_field, id_field, label_field: how to read the input.
        chunk_size: items per checkpointed chunk.
        batch_size: texts per forward pass (may change between runs).
        precision: encoder precision (``auto``, ``fp32``, ``fp16``, ``bf16``).
    """

    generation: Generation
    input: str
    input_sha256: str
    count: int
    role: str = "document"
    text_field: str = "text"
    id_field: str | None = None
    label_field: str | None = None
    chunk_size: int = DEFAULT_CHUNK_ITEMS
    batch_size: int = field(default=32, compare=False)
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.count < 0:
            raise ValidationError(f"chunk size must be positive, got {self.chunk_size}")

    @property
    def chunks(self) -> int:
        """Number of chunks."""
        return -(-self.count // self.chunk_size)

    def rows(self, chunk: int) -> int:
        """Items in ``chunk``."""
        return min(self.chunk_size, self.count - chunk * self.chunk_size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``spec.json`` holds)."""
        return {
            "format": WORK_FORMAT,
            "format_version": WORK_FORMAT_VERSION,
            "generation": self.generation.to_dict(),
            "input": self.input,
            "input_sha256": self.input_sha256,
            "count": self.count,
            "role": self.role,
            "text_field": self.text_field,
            "id_field": self.id_field,
            "label_field": self.label_field,
            "chunk_size": self.chunk_size,
            "batch_size": self.batch_size,
            "precision": self.precision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkSpec:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != WORK_FORMAT or data.get("format_version", 0) > WORK_FORMAT_VERSION:
            raise ValueError(f"not an embedreg work spec of version ≤ {WORK_FORMAT_VERSION}")
        fields = {k: v for k, v in data.items() if k not in ("format", "format_version")}
        fields["generation"] = Generation.from_dict(fields["generation"])
        return cls(**fields)


def chunk_path(folder: Path, chunk: int) -> Path:
    """Where chunk number ``chunk`` of the work in ``folder`` goes."""
    return folder / WORK_CHUNKS / _CHUNK_NAME.format(chunk)


def load_spec(folder: str | os.PathLike[str]) -> WorkSpec:
    """The spec of the work folder ``folder``.

    Raises:
        EmbedRegError: ``folder`` is not a readable work folder.
    """
    path = Path(folder) / WORK_SPEC
    try:
        return WorkSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise EmbedRegError(f"{folder} is not an embedding work folder (no {WORK_SPEC})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbedRegError(
            f"work spec {path} is invalid ({exc})", "delete the work folder and start again"
        ) from None


def prepare(folder: str | os.PathLike[str], spec: WorkSpec) -> bool:
    """Make ``folder`` the work folder of ``spec``; ``True`` when it resumes earlier work.

    A folder that already holds the same work (equal spec: generation, input
    bytes, fields, chunk size) keeps its chunks; other work in it is
    replaced.  Leftovers of writers that died are deleted, so call this
    before any process embeds.

    Raises:
        ValidationError: ``folder`` exists and is not a work folder.
    """
    root = Path(folder)
    same = False
    if (root / WORK_SPEC).exists():
        with contextlib.suppress(EmbedRegError):
            same = load_spec(root) == spec
        if not same:
            shutil.rmtree(root / WORK_CHUNKS, ignore_errors=True)
    elif root.exists() and any(root.iterdir()):
        raise ValidationError(
            f"{root} exists and is not an embedding work folder", "remove it or choose another path"
        )
    (root / WORK_CHUNKS).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(root / WORK_SPEC, (json.dumps(spec.to_dict(), indent=2) + "\n").encode())
    for entry in (root / WORK_CHUNKS).iterdir():
        if entry.name.startswith(".") and entry.is_dir():  # a dead writer's staging folder
            shutil.rmtree(entry, ignore_errors=True)
    for chunk in _present(root, spec):
        try:
            meta = read_meta(chunk_path(root, chunk))
            good = meta.count == spec.rows(chunk) and meta.pin == spec.generation.pin
        except EmbeddingsFileError:
            good = False
        if not good:
            chunk_path(root, chunk).unlink()
    return same


def _present(folder: Path, spec: WorkSpec) -> set[int]:
    found = set()
    for entry in (folder / WORK_CHUNKS).glob("chunk-*.safetensors"):
        with contextlib.suppress(ValueError):
            found.add(int(entry.name[6:12]))
    return {k for k in found if 0 <= k < spec.chunks}


def completed(folder: str | os.PathLike[str], spec: WorkSpec | None = None) -> int:
    """Items embedded so far (in chunks that are complete on disk)."""
    root = Path(folder)
    spec = spec or load_spec(root)
    return sum(spec.rows(k) for k in _present(root, spec))


# --- embedding -------------------------------------------------------------------------


def embed_share(
    folder: str | os.PathLike[str],
    procs: Processes,
    *,
    progress: ProgressCallback | None = None,
    encoder: Encoder | None = None,
) -> int:
    """Embed this process's share of the missing chunks; returns the items it embedded."""
    root = Path(folder)
    spec = load_spec(root)
    # the main process says what is missing, so that every process divides the same list
    missing = on_main(procs, lambda: sorted(set(range(spec.chunks)) - _present(root, spec)))
    mine = set(missing[procs.rank :: procs.world])
    if progress is not None:
        progress(completed(root, spec), spec.count)
    if not mine:
        return 0
    if encoder is None:
        encoder = Encoder(
            spec.generation,
            device=procs.device,
            batch_size=spec.batch_size,
            precision=spec.precision,
        )
    elif encoder.generation != spec.generation:
        raise GenerationMismatch("the encoder given", encoder.generation.name, spec.generation.name)
    items = read_inputs(
        spec.input,
        text_field=spec.text_field,
        id_field=spec.id_field,
        label_field=spec.label_field,
    )
    done = 0
    for chunk in range(spec.chunks):
        batch = list(itertools.islice(items, spec.rows(chunk)))
        if chunk not in mine:
            continue
        if len(batch) != spec.rows(chunk):
            raise EmbedRegError(
                f"{spec.input} ended before chunk {chunk} (it changed since the work began)",
                "start the work again",
            )
        if not parent_alive():
            raise EmbedRegError("the process that launched this work is gone; stopping")
        vectors = encoder.encode([item.text for item in batch], role=spec.role)
        labels = [item.label for item in batch]
        save_embeddings(
            chunk_path(root, chunk),
            vectors,
            generation=spec.generation,
            role=spec.role,
            ids=[item.id for item in batch],
            labels=None if labels[0] is None else [str(x) for x in labels],
        )
        done += len(batch)
        if progress is not None:
            progress(completed(root, spec), spec.count)
    return done


def _wait_all(
    root: Path, spec: WorkSpec, progress: ProgressCallback | None, alive: Callable[[], bool]
) -> None:
    while (done := completed(root, spec)) < spec.count:
        if progress is not None:
            progress(done, spec.count)
        if not alive():
            raise EmbedRegError(
                f"the embedding processes of {root} stopped with {done} of {spec.count} items done",
                "run the command again to embed the rest",
            )
        time.sleep(0.5)
    if progress is not None:
        progress(spec.count, spec.count)


def launch(
    folder: str | os.PathLike[str],
    num_processes: int,
    *,
    device: str = "auto",
    progress: ProgressCallback | None = None,
) -> None:
    """Embed the missing chunks with ``num_processes`` processes started by accelerate.

    The processes' output goes to ``logs/launch.log`` in the work folder;
    progress is read from the chunks as they appear.  The processes stop by
    themselves if this process dies.

    Raises:
        EmbedRegError: the processes failed (the log's last error is quoted).
    """
    root = Path(folder).resolve()
    spec = load_spec(root)
    (root / WORK_LOGS).mkdir(exist_ok=True)
    log_path = root / WORK_LOGS / "launch.log"
    threads = max(1, (os.cpu_count() or 1) // num_processes)
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--num_cpu_threads_per_process",
        str(threads),
        "--main_process_port",
        str(free_port()),
        "-m",
        __name__,
        str(root),
        "--device",
        device,
    ]
    env = {**os.environ, ENV_PARENT_PID: str(os.getpid())}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_all(root, spec, progress, lambda: proc.poll() is None)
        finally:
            if proc.poll() is None and completed(root, spec) < spec.count:
                proc.terminate()
            code = proc.wait()
    if code != 0 and completed(root, spec) < spec.count:
        raise EmbedRegError(
            f"the {num_processes} embedding processes failed (exit code {code}): "
            f"{_last_error(log_path)}",
            f"see {log_path}; run the command again to embed the rest",
        )


def _last_error(log_path: Path) -> str:
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("Error: "):
            return line[len("Error: ") :]
    errors = [ln for ln in lines if "Error" in ln.split(":")[0]]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def run(
    folder: str | os.PathLike[str],
    *,
    num_processes: int = 1,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    encoder: Encoder | None = None,
    procs: Processes | None = None,
) -> bool:
    """Embed the work in ``folder`` until every chunk exists; ``True`` on the main process.

    Inside a launch, this process embeds its share and the main one waits
    for the others' chunks; otherwise ``num_processes`` > 1 launches that
    many processes (:func:`launch`), and 1 embeds here.  Only the main
    process should go on to merge (:func:`read_chunks`).
    """
    procs = procs or processes(device)
    if procs.world > 1:
        embed_share(folder, procs, progress=progress if procs.is_main else None)
        if procs.is_main:
            _wait_all(Path(folder), load_spec(folder), progress, lambda: True)
        return procs.is_main
    if num_processes > 1:
        launch(folder, num_processes, device=device, progress=progress)
    else:
        embed_share(folder, procs, progress=progress, encoder=encoder)
    return True


def read_chunks(folder: str | os.PathLike[str]) -> Iterator[Embeddings]:
    """The embedded chunks in item order (each checked against the spec).

    Raises:
        EmbedRegError: a chunk is missing or holds other rows than the spec says.
    """
    root = Path(folder)
    spec = load_spec(root)
    for chunk in range(spec.chunks):
        path = chunk_path(root, chunk)
        if not path.exists():
            raise EmbedRegError(f"chunk {chunk} of {root} is missing", "run the work again")
        emb = load_embeddings(path, generation=spec.generation)
        if len(emb) != spec.rows(chunk):
            raise EmbedRegError(f"chunk {chunk} of {root} holds {len(emb)} rows, not the spec's")
        yield emb


def main(argv: list[str] | None = None) -> int:
    """``python -m embedreg.models.sharded FOLDER [--device D]``: one process's share."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m embedreg.models.sharded")
    parser.add_argument("folder")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    try:
        procs = processes(args.device)
        embed_share(args.folder, procs)
    except EmbedRegError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
