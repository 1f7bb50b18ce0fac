"""The upgrade job's journal inside a gallery folder.

Layout::

    DIR/.upgrade/job.json        the job: what it does and which step it reached
    DIR/.upgrade/job.lock        held by the process running the job
    DIR/.upgrade/work/           the items to re-embed and their checkpointed chunks
                                 (an embedreg.models.sharded work folder)
    DIR/.retained/previous.json  the manifest the job replaced (kept until finalize)

``job.json`` is replaced atomically at each step, so the job is always in one
of its states:

=============  ============================================================
``running``    created; chunks are being embedded (or were, until a kill)
``switching``  every chunk exists; the new version is being written
``done``       the gallery switched; the replaced version is kept for rollback
``rolling-back``  a rollback started (it finishes when run again after a kill)
``finalizing``    a finalize started (it finishes when run again after a kill)
=============  ============================================================

The lock is an OS file lock: it is released when its process ends, however
it ends, so a job whose lock is free and whose state is not ``done`` was
interrupted and can be resumed.

Example:
    >>> job_dir(Path("galleries/news"))
    PosixPath('galleries/news/.upgrade')
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..constants import (
    UPGRADE_DIR,
    UPGRADE_JOB,
    UPGRADE_JOB_FORMAT,
    UPGRADE_JOB_FORMAT_VERSION,
    UPGRADE_LOCK,
)
from ..errors import ConflictError, EmbedRegError, GalleryError
from ..registry import Generation
from ..util.atomic import atomic_write_bytes, remove_stale_temps

__all__ = [
    "JOB_STATES",
    "Job",
    "items_path",
    "job_dir",
    "job_lock",
    "lock_holder",
    "read_job",
    "remove_job",
    "remove_work",
    "work_dir",
    "write_job",
]

JOB_STATES: tuple[str, ...] = ("running", "switching", "done", "rolling-back", "finalizing")


@dataclass
class Job:
    """An upgrade job as its journal records it.

    Attributes:
        id: a unique id (recorded in the new version's sources, so a switch
            is recognised after a crash).
        state: one of :data:`JOB_STATES`.
        target: the generation the gallery is upgraded to.
        strategy: ``reembed``, ``partial`` or ``forward``.
        fraction, order, seed: which items ``partial`` re-embeds.
        promote: an alias to move to the target once the gallery is wholly it.
        base_version, base_hash: the gallery version the job started from.
        counts: items in all, to re-embed, to map forward, to keep.
        forward: segment → adapter ids of the forward path used.
        created: when the job was created.
        runs: each start or resume: time, pid, processes.
        result_version, result_hash: the version the switch wrote.
        restore: what rollback puts back in the registry (gallery record, alias).
        calibration: the calibrations fitted at the switch (for display).
    """

    id: str
    state: str
    target: Generation
    strategy: str
    fraction: float
    order: str
    seed: int
    promote: str | None
    base_version: int
    base_hash: str | None
    counts: dict[str, int]
    chunk_size: int
    created: str
    forward: dict[str, list[str]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    result_version: int | None = None
    result_hash: str | None = None
    restore: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``job.json`` holds)."""
        data = asdict(self)
        data["target"] = self.target.to_dict()
        return {"format": UPGRADE_JOB_FORMAT, "format_version": UPGRADE_JOB_FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != UPGRADE_JOB_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {UPGRADE_JOB_FORMAT!r}")
        if data.get("format_version", 0) > UPGRADE_JOB_FORMAT_VERSION:
            raise ValueError(f"format version {data['format_version']} is newer than this embedreg")
        fields = {k: v for k, v in data.items() if k not in ("format", "format_version")}
        fields["target"] = Generation.from_dict(fields["target"])
        job = cls(**fields)
        if job.state not in JOB_STATES:
            raise ValueError(f"unknown state {job.state!r}")
        _check_types(job)
        return job


#: Job field → the type(s) ``job.json`` must hold there (a tampered journal is refused).
_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "strategy": str,
    "fraction": (int, float),
    "order": str,
    "seed": int,
    "promote": (str, type(None)),
    "base_version": int,
    "base_hash": (str, type(None)),
    "counts": dict,
    "chunk_size": int,
    "created": str,
    "forward": dict,
    "runs": list,
    "result_version": (int, type(None)),
    "result_hash": (str, type(None)),
    "restore": dict,
    "calibration": dict,
}


def _check_types(job: Job) -> None:
    for name, kind in _TYPES.items():
        value = getattr(job, name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise TypeError(f"{name} is {type(value).__name__}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in job.counts.values()):
        raise TypeError("counts must be integers")


def job_dir(folder: Path) -> Path:
    """The job folder inside the gallery folder ``folder``."""
    return folder / UPGRADE_DIR


def work_dir(folder: Path) -> Path:
    """The job's embedding work folder."""
    return job_dir(folder) / "work"


def read_job(folder: Path) -> Job | None:
    """The job of the gallery in ``folder``, or ``None`` when there is none.

    Raises:
        GalleryError: the journal is damaged.
    """
    path = job_dir(folder) / UPGRADE_JOB
    try:
        return Job.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, EmbedRegError) as exc:
        detail = exc.message if isinstance(exc, EmbedRegError) else str(exc)
        raise GalleryError(
            f"upgrade journal {path} is damaged ({detail})",
            "the gallery itself is intact; remove the .upgrade folder to forget the job",
        ) from None


def write_job(folder: Path, job: Job) -> None:
    """Replace the journal atomically."""
    job_dir(folder).mkdir(exist_ok=True)
    text = json.dumps(job.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(job_dir(folder) / UPGRADE_JOB, text.encode())


def items_path(folder: Path) -> Path:
    """The job's items (id, text, FAISS id, segment), one JSON line each."""
    return job_dir(folder) / "items.jsonl"


def remove_work(folder: Path) -> None:
    """Delete the job's items and chunks (no longer needed once it switched)."""
    shutil.rmtree(work_dir(folder), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        items_path(folder).unlink()


def remove_job(folder: Path) -> None:
    """Forget the job: its journal first (the commit point), then its work."""
    with contextlib.suppress(FileNotFoundError):
        (job_dir(folder) / UPGRADE_JOB).unlink()
    remove_work(folder)


def _pid_file(folder: Path) -> Path:
    return job_dir(folder) / f"{UPGRADE_LOCK}.pid"


@contextlib.contextmanager
def job_lock(folder: Path) -> Iterator[None]:
    """Hold the job lock for the ``with`` block; refuse if another process holds it.

    Raises:
        ConflictError: a process is running the job.
    """
    from filelock import FileLock, Timeout

    job_dir(folder).mkdir(exist_ok=True)
    lock = FileLock(str(job_dir(folder) / UPGRADE_LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        pid = lock_holder(folder)
        raise ConflictError(
            f"an upgrade job of {folder} is running" + (f" (pid {pid})" if pid else ""),
            f"wait for it, follow it with 'embedreg upgrade status {folder}', or stop that process",
        ) from None
    try:
        remove_stale_temps(job_dir(folder))  # what killed holders left (the lock is ours now)
        atomic_write_bytes(_pid_file(folder), str(os.getpid()).encode())
        yield
    finally:
        lock.release()


def lock_holder(folder: Path) -> int | None:
    """The pid running the job of ``folder``, or ``None`` when no process holds its lock."""
    from filelock import FileLock, Timeout

    path = job_dir(folder) / UPGRADE_LOCK
    if not path.exists():
        return None
    probe = FileLock(str(path), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        try:
            return int(_pid_file(folder).read_text())
        except (OSError, ValueError):
            return -1
    probe.release()
    return None
