"""``embedreg upgrade status``, ``rollback`` and ``finalize``: following and undoing an upgrade.

- :func:`status`: the job's state (``running`` while a process holds its
  lock, ``interrupted`` when none does, ``done`` once switched), its progress
  from the chunks on disk, the rate of the current (or last) run and an ETA;
- :func:`rollback`: before the switch, discards the job (the gallery never
  changed); after it, puts the replaced version's manifest back (its files
  were retained), so the gallery's content hash is exactly the one before the
  upgrade, and undoes the registry changes (gallery record, promoted alias).
  A gallery changed since the upgrade is refused unless ``force``;
- :func:`finalize`: forgets the replaced version and deletes its files.

Example:
    >>> status("galleries/news").state  # doctest: +SKIP
    'interrupted'
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import GALLERY_RETAINED_DIR, UPGRADE_PREVIOUS
from ..errors import ConflictError, GalleryError, NotFound
from ..gallery import retention, storage
from ..models.sharded import chunk_path, completed, load_spec
from ..registry import GalleryRecord, Registry
from ..util.atomic import remove_stale_temps
from .costs import human_bytes
from .job import Job, job_dir, job_lock, lock_holder, read_job, remove_job, work_dir, write_job
from .switch import registered_record, switched

__all__ = ["JobStatus", "finalize", "rollback", "status"]


@dataclass(frozen=True)
class JobStatus:
    """Where the upgrade of a gallery stands.

    Attributes:
        state: ``none``, ``running``, ``interrupted``, ``done``, or ``rolling-back`` /
            ``finalizing`` while (or when killed while) a rollback or finalize runs.
        total, done: items to re-embed, and embedded so far (in complete chunks).
        rate: items per second of the current run (of the last one when
            interrupted); ``eta_seconds`` the time left at that rate.
        previous: the version kept for rollback (``version``, ``content_hash``).
    """

    gallery: str
    state: str
    job: str | None = None
    strategy: str | None = None
    target: str | None = None
    created: str | None = None
    total: int = 0
    done: int = 0
    rate: float | None = None
    eta_seconds: float | None = None
    pid: int | None = None
    runs: int = 0
    version: int | None = None
    previous: dict[str, Any] | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "gallery": self.gallery,
            "state": self.state,
            "job": self.job,
            "strategy": self.strategy,
            "target": self.target,
            "created": self.created,
            "total": self.total,
            "done": self.done,
            "rate": None if self.rate is None else round(self.rate, 2),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "pid": self.pid,
            "runs": self.runs,
            "version": self.version,
            "previous": self.previous,
            "message": self.message,
            "details": self.details,
        }


def _progress(root: Path, job: Job, running: bool) -> tuple[int, float | None]:
    """Items done, and the rate of the current or last run."""
    if not job.counts.get("reembed") or not (work_dir(root) / "spec.json").exists():
        return (job.counts.get("reembed", 0) if job.state == "done" else 0), None
    spec = load_spec(work_dir(root))
    done = completed(work_dir(root), spec)
    if not job.runs:
        return done, None
    # the chunks this run wrote, by time: the rate between the first and the last
    # (model loading before the first one does not count)
    since = float(job.runs[-1]["at"])
    stamps = sorted(
        (path.stat().st_mtime, spec.rows(k))
        for k in range(spec.chunks)
        if (path := chunk_path(work_dir(root), k)).exists() and path.stat().st_mtime >= since
    )
    if len(stamps) < 2:
        return done, None
    end = time.time() if running else stamps[-1][0]
    gained = sum(rows for _, rows in stamps[1:])
    elapsed = end - stamps[0][0]
    return done, (gained / elapsed if elapsed > 0 else None)


def status(folder: str | os.PathLike[str]) -> JobStatus:
    """The upgrade job of the gallery at ``folder``: state, progress, rate, ETA.

    Raises:
        NotFound: no gallery at ``folder``.
    """
    root = Path(folder)
    manifest = storage.read_manifest(root)
    version = int(manifest.get("version", 0))
    job = read_job(root)
    if job is None:
        return JobStatus(str(root), "none", version=version, message="no upgrade job")
    pid = lock_holder(root)
    running = pid is not None
    if job.state in ("rolling-back", "finalizing"):
        return _undoing(root, job, version, running)
    state = "done" if job.state == "done" else ("running" if running else "interrupted")
    done, rate = _progress(root, job, running)
    total = job.counts.get("reembed", 0)
    eta = (total - done) / rate if rate and state != "done" else None
    previous = retention.retained(root, UPGRADE_PREVIOUS)
    kept = (
        {"version": previous.get("version"), "content_hash": previous.get("content_hash")}
        if previous and job.state == "done"
        else None
    )
    if state == "done":
        message = (
            f"switched to version {job.result_version}; version {job.base_version} is kept: "
            f"'embedreg upgrade rollback {root}' returns to it, "
            f"'embedreg upgrade finalize {root}' deletes it"
        )
    elif state == "running":
        message = f"running (pid {pid}): {done} of {total} item(s) re-embedded"
    else:
        message = (
            f"interrupted at {done} of {total} item(s): 'embedreg upgrade resume {root}' "
            f"continues it, 'embedreg upgrade rollback {root}' discards it"
        )
    return JobStatus(
        str(root),
        state,
        job=job.id,
        strategy=job.strategy,
        target=job.target.name,
        created=job.created,
        total=total,
        done=done,
        rate=rate,
        eta_seconds=eta,
        pid=pid if pid and pid > 0 else None,
        runs=len(job.runs),
        version=version,
        previous=kept,
        message=message,
        details={"counts": dict(job.counts), "calibration": job.calibration},
    )


def _undoing(root: Path, job: Job, version: int, running: bool) -> JobStatus:
    """The status of a job whose rollback or finalize started (and was killed, or runs)."""
    verb = "rollback" if job.state == "rolling-back" else "finalize"
    message = (
        f"a {verb} of the upgrade to {job.target.name} is running"
        if running
        else f"a {verb} of the upgrade to {job.target.name} was interrupted: the gallery is at "
        f"version {version}; 'embedreg upgrade {verb} {root}' finishes it"
    )
    return JobStatus(
        str(root),
        job.state,
        job=job.id,
        strategy=job.strategy,
        target=job.target.name,
        created=job.created,
        runs=len(job.runs),
        version=version,
        message=message,
        details={"counts": dict(job.counts), "calibration": job.calibration},
    )


@dataclass(frozen=True)
class RollbackResult:
    """What :func:`rollback` or :func:`finalize` did (``action``: ``discarded``, ``restored``, ``finalized``)."""

    gallery: str
    job: str
    action: str
    version: int | None
    content_hash: str | None
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "gallery": self.gallery,
            "job": self.job,
            "action": self.action,
            "version": self.version,
            "content_hash": self.content_hash,
            "notes": list(self.notes),
        }


def _need_job(root: Path) -> Job:
    job = read_job(root)
    if job is None:
        storage.read_manifest(root)  # no gallery at all: say that instead
        raise NotFound(f"the gallery at {root} has no upgrade to undo or finalize", "nothing to do")
    return job


def _files(manifest: dict[str, Any]) -> set[str]:
    names = {str(manifest["items_file"])} if manifest.get("items_file") else set()
    for seg in (manifest.get("segments") or {}).values():
        if seg.get("index_file"):
            names.add(str(seg["index_file"]))
    return names


def rollback(
    registry: Registry, folder: str | os.PathLike[str], *, force: bool = False
) -> RollbackResult:
    """Undo the last upgrade of the gallery at ``folder`` (see the module docstring).

    The job's journal says ``rolling-back`` before the manifest is restored
    (the commit point) and goes last, so a rollback killed at any instant is
    reported as such by :func:`status` and finished by running it again.

    Raises:
        NotFound: there is no upgrade job.
        ConflictError: the job is running or being finalized, or the gallery
            changed since the switch (without ``force``).
        GalleryError: the replaced version's files are missing or damaged.
    """
    root = Path(folder)
    with job_lock(root):
        job = _need_job(root)
        if job.state == "finalizing":
            raise ConflictError(
                f"finalizing the upgrade of {root} was interrupted: the replaced version is "
                "partly deleted",
                f"finish it with 'embedreg upgrade finalize {root}'",
            )
        resuming = job.state == "rolling-back"
        raw = storage.read_manifest(root)
        previous = retention.retained(root, UPGRADE_PREVIOUS)
        if not resuming and not switched(raw, job.id) and not (previous and job.state == "done"):
            retention.release(root, UPGRADE_PREVIOUS)
            remove_job(root)
            return RollbackResult(
                str(root),
                job.id,
                "discarded",
                int(raw.get("version", 0)),
                raw.get("content_hash"),
                ["the job had not switched the gallery: its work was discarded"],
            )
        if previous is None and not resuming:
            raise GalleryError(
                f"the version that upgrade {job.id} replaced is no longer kept in {root}",
                "it was finalized or removed; rebuild the old gallery if you need it",
            )
        with storage.locked(root):
            raw = storage.read_manifest(root)
            if previous is not None and raw.get("content_hash") != previous.get("content_hash"):
                if not resuming and raw.get("content_hash") != job.result_hash and not force:
                    raise ConflictError(
                        f"the gallery at {root} changed since the upgrade (content hash "
                        f"{str(raw.get('content_hash'))[:12]}…, the upgrade wrote "
                        f"{str(job.result_hash)[:12]}…): rolling back drops those changes",
                        "pass --force to roll back anyway",
                    )
                _check_files(root, previous)
                if not resuming:
                    job.state = "rolling-back"
                    write_job(root, job)  # from here on, a rerun finishes the rollback
                storage.write_manifest(root, previous)  # the commit point
            elif not resuming:
                job.state = "rolling-back"
                write_job(root, job)
        restored = previous or storage.read_manifest(root)
        notes = _restore_registry(registry, root, job)
        with storage.locked(root):
            retention.release(root, UPGRADE_PREVIOUS)
            storage.remove_stale(root, _files(storage.read_manifest(root)))
            _remove_temps(root)
        remove_job(root)  # last: until here, the journal says a rollback is under way
    return RollbackResult(
        str(root),
        job.id,
        "restored",
        int(restored.get("version", 0)),
        restored.get("content_hash"),
        # the version itself is in the result: the command says it once
        (["an interrupted rollback was finished"] if resuming else []) + notes,
    )


def _remove_temps(root: Path) -> None:
    """Temporary files that killed writers left in the gallery folder (we hold its lock)."""
    for folder in (root, root / GALLERY_RETAINED_DIR, job_dir(root)):
        remove_stale_temps(folder)


def _check_files(root: Path, manifest: dict[str, Any]) -> None:
    m = {**manifest}
    segments = {n: storage.Segment.from_dict(s) for n, s in (m.get("segments") or {}).items()}
    items = root / str(m.get("items_file"))
    if not items.is_file():
        raise GalleryError(f"the kept items file {items} is missing", "restore it from a backup")
    from ..util.hashing import file_sha256

    storage.verify_files(root, segments, file_sha256(items), m.get("content_hash"))


def _restore_registry(registry: Registry, root: Path, job: Job) -> list[str]:
    """Put the gallery record and the promoted alias back as they were; say what could not be."""
    notes = []
    restore = job.restore or {}
    rec = registered_record(registry, root)
    old = restore.get("record")
    gens = {g.name for g in registry.generations()}
    if old and rec is None:
        old_rec = GalleryRecord.from_dict(old)
        if old_rec.generation not in gens:
            notes.append(
                f"gallery record {old_rec.name!r} not registered again: generation "
                f"{old_rec.generation!r} is gone"
            )
        elif old_rec.name in {g.name for g in registry.galleries()}:
            notes.append(f"gallery record {old_rec.name!r} not registered again: the name is taken")
        else:
            registry.add_gallery(old_rec)
            notes.append(f"gallery record {old_rec.name!r} registered again (it had been removed)")
    elif rec is not None and old and rec.generation == job.target.name != old["generation"]:
        registry.add_gallery(GalleryRecord.from_dict(old), replace=True)
        notes.append(f"gallery record {rec.name!r} says {old['generation']} again")
    for alias, before in (restore.get("alias") or {}).items():
        now = registry.aliases().get(alias)
        if now == before:
            continue
        if now is not None and now != job.target.name:
            notes.append(f"alias {alias!r} left at {now} (it was moved after the upgrade)")
        elif before and before not in gens:
            notes.append(f"alias {alias!r} not restored: generation {before!r} is gone")
        elif before:
            registry.set_alias(alias, before)
            gone = " (it had been removed)" if now is None else ""
            notes.append(f"alias {alias!r} → {before} again{gone}")
        else:
            registry.remove_alias(alias)
            notes.append(f"alias {alias!r} removed (it did not exist before)")
    return notes


def finalize(folder: str | os.PathLike[str]) -> RollbackResult:
    """Forget the version the last upgrade replaced, and delete its files.

    The journal says ``finalizing`` before anything is deleted and goes last,
    so a finalize killed at any instant is finished by running it again.

    Raises:
        NotFound: there is no upgrade job.
        ConflictError: the job has not switched yet (resume it or roll it back).
    """
    root = Path(folder)
    with job_lock(root):
        job = _need_job(root)
        if job.state == "rolling-back":
            raise ConflictError(
                f"a rollback of the upgrade of {root} was interrupted",
                f"finish it with 'embedreg upgrade rollback {root}'",
            )
        if job.state not in ("done", "finalizing"):
            raise ConflictError(
                f"the upgrade of {root} to {job.target.name} has not finished",
                f"resume it ('embedreg upgrade resume {root}') or roll it back",
            )
        if job.state == "done":
            job.state = "finalizing"
            write_job(root, job)  # from here on, a rerun finishes the finalize
        previous = retention.retained(root, UPGRADE_PREVIOUS) or {}
        with storage.locked(root):
            current = storage.read_manifest(root)
            freed = sum(
                (root / name).stat().st_size
                for name in _files(previous) - _files(current)
                if (root / name).exists()
            )
            retention.release(root, UPGRADE_PREVIOUS)
            storage.remove_stale(root, _files(current))
            _remove_temps(root)
        remove_job(root)  # last: until here, the journal says a finalize is under way
    return RollbackResult(
        str(root),
        job.id,
        "finalized",
        int(current.get("version", 0)),
        current.get("content_hash"),
        [f"version {job.base_version} deleted ({human_bytes(freed)} freed)"],
    )
