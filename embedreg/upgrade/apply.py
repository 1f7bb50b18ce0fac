"""``embedreg upgrade apply`` and ``resume``: an upgrade as a journaled, resumable job.

:func:`apply` creates the job in the gallery folder (:mod:`.job`): the items
to re-embed, with their texts, are written beside it and embedded in
checkpointed chunks (:mod:`embedreg.models.sharded`: one process, N
processes with ``num_processes``, or the processes of an ``accelerate
launch``).  All the while the gallery answers from its current version,
which nothing touches.  When every chunk exists, the job switches the
gallery to a new version atomically (:mod:`.switch`), keeping the replaced
one for :func:`~embedreg.upgrade.rollback` until
:func:`~embedreg.upgrade.finalize`.  :func:`resume` continues a job that was
killed, from its last complete chunk.  One job per gallery: a second
:func:`apply` is refused while a job runs, is interrupted, or awaits
finalize.

Example:
    >>> r = apply(reg, "galleries/news", "v3", "reembed", promote="production")  # doctest: +SKIP
    >>> r.state, r.segments  # doctest: +SKIP
    ('done', {'v3': 600})
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..constants import Strategy
from ..errors import ConflictError, NotFound, ValidationError
from ..gallery import Gallery
from ..models.encoder import ProgressCallback
from ..models.sharded import (
    WorkSpec,
    completed,
    load_spec,
    on_main,
    prepare,
    processes,
    run,
)
from ..registry import Generation, Registry
from ..routing import Resolver, RoutingPolicy
from ..util.atomic import atomic_write_bytes
from ..util.callbacks import StageFn
from ..util.clock import utc_now
from ..util.hashing import file_sha256
from .job import Job, items_path, job_dir, job_lock, read_job, work_dir, write_job
from .options import JobOptions, PartialChoice
from .selection import round_trip, select
from .switch import after_switch, switch

__all__ = ["APPLY_STRATEGIES", "UpgradeResult", "apply", "resume"]

#: Strategies :func:`apply` carries out (``adapt-queries`` changes nothing on disk).
APPLY_STRATEGIES: tuple[str, ...] = Strategy.values()


@dataclass(frozen=True)
class UpgradeResult:
    """What an :func:`apply` or :func:`resume` did.

    Attributes:
        state: ``done`` (switched), ``unchanged`` (adapt-queries), or
            ``worker`` (a non-main process of a launch: it embedded its share).
        embedded: items this run re-embedded (all processes).
        notes: what else happened (registry record, alias), in words.
    """

    gallery: str
    job: str | None
    strategy: str
    target: str
    state: str
    version: int | None
    content_hash: str | None
    segments: dict[str, int]
    embedded: int
    mapped: int
    seconds: float
    processes: int
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "seconds": round(self.seconds, 2)}


def _refuse_existing(root: Path, job: Job) -> None:
    if job.state in ("rolling-back", "finalizing"):
        verb = "rollback" if job.state == "rolling-back" else "finalize"
        raise ConflictError(
            f"a {verb} of the last upgrade of {root} was interrupted",
            f"finish it with 'embedreg upgrade {verb} {root}' first",
        )
    if job.state == "done":
        raise ConflictError(
            f"the last upgrade of {root} (to {job.target.name}) is kept for rollback",
            f"finalize it with 'embedreg upgrade finalize {root}' or undo it with "
            f"'embedreg upgrade rollback {root}' first",
        )
    raise ConflictError(
        f"an interrupted upgrade job of {root} (to {job.target.name}, {job.strategy}) is pending",
        f"continue it with 'embedreg upgrade resume {root}' or discard it with "
        f"'embedreg upgrade rollback {root}'",
    )


def _new_job(
    registry: Registry,
    root: Path,
    to: str,
    strategy: str,
    *,
    partial: PartialChoice,
    promote: str | None,
    options: JobOptions,
    resolver: Resolver,
) -> Job:
    """Choose the items, write them and the work spec, then the journal (the commit point)."""
    fraction = partial.fraction if strategy == Strategy.PARTIAL else 1.0
    g = Gallery.load(root)
    target = registry.generation(to)
    candidates = [i for i in g.ids() if g.item(i).segment != target.name]
    _check_request(root, target.name, strategy, promote, candidates)
    todo, forward = _choose(g, target.name, strategy, partial, candidates, resolver)
    _check_sizes(g, target.name, strategy, len(todo), len(candidates))
    _write_work(root, g, target, todo, options)
    info = g.manifest()
    moved = len(candidates) if strategy == "forward" else 0
    job = Job(
        id=uuid.uuid4().hex[:12],
        state="running",
        target=target,
        strategy=strategy,
        fraction=fraction,
        order=partial.order,
        seed=partial.seed,
        promote=promote,
        base_version=int(info["version"]),
        base_hash=info["content_hash"],
        counts={
            "items": len(g),
            "reembed": len(todo),
            "forward": moved,
            "kept": len(g) - len(todo) - moved,
        },
        chunk_size=options.chunk_size,
        created=utc_now(),
        forward=forward,
    )
    write_job(root, job)
    return job


def _check_request(
    root: Path, target: str, strategy: str, promote: str | None, candidates: list[str]
) -> None:
    """Refuse an upgrade with nothing to move, or a promotion a partial upgrade cannot earn."""
    if not candidates:
        raise ValidationError(
            f"every item of {root} is already embedded by {target}", "no upgrade is needed"
        )
    if promote is not None and strategy == "partial":
        raise ValidationError(
            f"--promote {promote} moves the alias once the gallery is wholly {target}, "
            "and a partial upgrade leaves part of it as it is",
            "promote after a reembed or forward upgrade",
        )


def _choose(
    g: Gallery,
    target: str,
    strategy: str,
    partial: PartialChoice,
    candidates: list[str],
    resolver: Resolver,
) -> tuple[list[str], dict[str, list[str]]]:
    """The items to re-embed (in the gallery's order) and each old segment's forward path.

    ``partial`` takes a fraction of the ``candidates`` in its order (``worst``
    scores each item by how far its vector moves on a round trip through the
    forward and back paths); ``reembed`` takes them all, ``forward`` none.
    """
    old = [s for s in g.generations if s != target and g.segments[s].count]
    order = partial.order
    forward: dict[str, list[str]] = {}
    if strategy in ("forward",) or (strategy == "partial" and order == "worst"):
        forward = {s: resolver.resolve(s, target).adapter_ids for s in old}
    if strategy == "reembed":
        return candidates, forward
    if strategy != "partial":
        return [], forward
    back = {s: resolver.resolve(target, s) for s in old}  # the rest must stay searchable
    count = max(1, round(partial.fraction * len(candidates)))
    scores: dict[str, float] | None = None
    if order == "worst":
        scores = {}
        for s in old:
            ids = g.ids(s)
            fwd = resolver.resolve(s, target)
            values = round_trip(g.vectors(ids), fwd, back[s])
            scores.update(zip(ids, values.tolist(), strict=True))
    chosen = set(select(candidates, count, order, seed=partial.seed, scores=scores))
    return [i for i in candidates if i in chosen], forward


def _write_work(
    root: Path, g: Gallery, target: Generation, todo: list[str], options: JobOptions
) -> None:
    """Write the items to re-embed, with their texts, and the work spec of their chunks."""
    untexted = [i for i in todo if not g.item(i).text]
    if untexted:
        raise ValidationError(
            f"{len(untexted)} item(s) of {root} have no text to re-embed (e.g. {untexted[0]!r}; "
            "the gallery was built from an embeddings file)",
            f"rebuild it from the original inputs: embedreg gallery build {target.name} INPUT -o NEWDIR",
        )
    job_dir(root).mkdir(exist_ok=True)
    items = items_path(root)
    lines = []
    for item_id in todo:
        rec = g.item(item_id)
        row = {"id": item_id, "text": rec.text, "fid": rec.key, "segment": rec.segment}
        lines.append(json.dumps(row, ensure_ascii=False))
    atomic_write_bytes(items, ("\n".join(lines) + ("\n" if lines else "")).encode())
    if todo:
        spec = WorkSpec(
            target,
            str(items.resolve()),
            input_sha256=file_sha256(items),
            count=len(todo),
            chunk_size=options.chunk_size,
            batch_size=options.batch_size,
        )
        prepare(work_dir(root), spec)


def _check_sizes(g: Gallery, target: str, strategy: str, todo: int, candidates: int) -> None:
    """Refuse up front a switch that could not write its index (IVF trains on each segment)."""
    need = g.index_spec.training_size
    if not need:
        return
    moved = candidates if strategy in ("reembed", "forward") else todo
    sizes = {target: g.segments[target].count + moved if target in g.segments else moved}
    if strategy == "partial":
        left = candidates - todo
        sizes["old"] = left
    small = {s: n for s, n in sizes.items() if 0 < n < need}
    if small:
        raise ValidationError(
            f"an ivfpq gallery trains each segment on its items, and the upgrade would leave "
            f"{', '.join(f'{n} in {s}' for s, n in small.items())} (at least {need} needed)",
            "re-embed a larger fraction, or all of it",
        )


def _start_run(root: Path, job: Job, processes_: int) -> None:
    """Record a (re)start in the journal: status computes the rate from it."""
    done = completed(work_dir(root)) if job.counts.get("reembed") else 0
    job.runs.append(
        {
            "started": utc_now(),
            "at": time.time(),
            "pid": os.getpid(),
            "processes": processes_,
            "done": done,
        }
    )
    write_job(root, job)


def _result(
    root: Path, job: Job, state: str, embedded: int, started: float, n: int, notes: list[str]
) -> UpgradeResult:
    segments: dict[str, int] = {}
    if state == "done":
        segments = {s: seg.count for s, seg in Gallery.load(root, verify=False).segments.items()}
    return UpgradeResult(
        gallery=str(root),
        job=job.id,
        strategy=job.strategy,
        target=job.target.name,
        state=state,
        version=job.result_version,
        content_hash=job.result_hash,
        segments=segments,
        embedded=embedded,
        mapped=job.counts.get("mapped", 0),
        seconds=time.perf_counter() - started,
        processes=n,
        notes=notes,
    )


def apply(
    registry: Registry,
    folder: str | os.PathLike[str],
    to: str,
    strategy: str,
    *,
    partial: PartialChoice | None = None,
    promote: str | None = None,
    job: JobOptions | None = None,
    policy: RoutingPolicy | None = None,
    progress: ProgressCallback | None = None,
    on_stage: StageFn | None = None,
) -> UpgradeResult:
    """Upgrade the gallery at ``folder`` to generation ``to`` by ``strategy``, as a job.

    Args:
        strategy: ``reembed`` (every item), ``partial`` (the items ``partial``
            chooses: a fraction of them, ``given``, ``random`` with a seed, or
            ``worst`` first), ``forward`` (map the stored vectors by the
            forward path) or ``adapt-queries`` (nothing changes; checks the paths).
        promote: an alias moved to ``to`` once the gallery is wholly ``to``.
        job: how the job runs (chunk size, processes, device, batch size).
        policy: which query paths are accepted (routing defaults if ``None``).
        progress: ``(items embedded, total)``; ``on_stage``: a line per step.

    Raises:
        ConflictError: another job runs, is interrupted, or awaits finalize.
        NoCompatiblePath: a path the strategy needs is missing.
        ValidationError: nothing to upgrade, items without text, bad options.
    """
    started = time.perf_counter()
    root = Path(folder)
    if strategy not in APPLY_STRATEGIES:
        raise ValidationError(
            f"strategy must be one of {', '.join(APPLY_STRATEGIES)}, got {strategy!r}"
        )
    partial = partial if partial is not None else PartialChoice()
    options = job if job is not None else JobOptions()
    resolver = Resolver(registry, policy)
    if strategy == Strategy.ADAPT_QUERIES:
        return _adapt_queries(registry, root, to, promote, resolver, started)

    def create() -> Job:
        existing = read_job(root)
        if existing is not None:
            _refuse_existing(root, existing)
        return _new_job(
            registry,
            root,
            to,
            strategy,
            partial=partial,
            promote=promote,
            options=options,
            resolver=resolver,
        )

    return _launch(registry, root, create, options, resolver, progress, on_stage, started)


def _launch(
    registry: Registry,
    root: Path,
    begin: Callable[[], Job],
    options: JobOptions,
    resolver: Resolver,
    progress: ProgressCallback | None,
    on_stage: StageFn | None,
    started: float,
) -> UpgradeResult:
    """Under the job lock (on the main process), ``begin`` the job and record the run; then run it."""
    procs = processes(options.device)
    with contextlib.ExitStack() as stack:

        def start() -> str:
            stack.enter_context(job_lock(root))
            job = begin()
            _start_run(root, job, max(procs.world, options.num_processes))
            return job.id

        on_main(procs, start)
        job = read_job(root)
        assert job is not None
        before = completed(work_dir(root)) if job.counts.get("reembed") else 0
        if job.state == "running" and job.counts.get("reembed"):
            if on_stage and procs.is_main:
                on_stage(f"Re-embedding {job.counts['reembed']} item(s) with {job.target.name}")
            run(
                work_dir(root),
                num_processes=options.num_processes,
                device=options.device,
                progress=progress,
                procs=procs,
            )
        if not procs.is_main:  # the main process switches; the others are done
            return _result(root, job, "worker", 0, started, procs.world, [])
        embedded = (completed(work_dir(root)) if job.counts.get("reembed") else 0) - before
        job = switch(registry, root, job, resolver, device=options.device, on_stage=on_stage)
        notes = after_switch(registry, root, job)
        world = max(procs.world, options.num_processes)
        return _result(root, job, "done", embedded, started, world, notes)


def _adapt_queries(
    registry: Registry, root: Path, to: str, promote: str | None, resolver: Resolver, started: float
) -> UpgradeResult:
    g = Gallery.load(root)
    target = registry.generation(to)
    if promote is not None:
        raise ValidationError(
            f"--promote {promote} moves the alias once the gallery is wholly {target.name}; "
            "adapt-queries leaves the gallery as it is",
            "promote after a reembed or forward upgrade, or move it with 'embedreg alias set'",
        )
    paths = g.routes(target, resolver=resolver)
    notes = [
        f"{target.name} queries reach segment {s} through "
        + (" → ".join(p.adapter_ids) + f" (quality {p.quality:.3f})" if p else "no mapping")
        for s, p in paths.items()
    ]
    info = g.manifest()
    return UpgradeResult(
        gallery=str(root),
        job=None,
        strategy="adapt-queries",
        target=target.name,
        state="unchanged",
        version=int(info["version"]),
        content_hash=info["content_hash"],
        segments={s: seg.count for s, seg in g.segments.items()},
        embedded=0,
        mapped=0,
        seconds=time.perf_counter() - started,
        processes=1,
        notes=notes,
    )


def resume(
    registry: Registry,
    folder: str | os.PathLike[str],
    *,
    job: JobOptions | None = None,
    policy: RoutingPolicy | None = None,
    progress: ProgressCallback | None = None,
    on_stage: StageFn | None = None,
) -> UpgradeResult:
    """Continue the interrupted upgrade job of the gallery at ``folder`` from its last chunk.

    ``job`` is how it runs now (processes and device; the chunk and batch
    sizes are the job's own).

    Raises:
        NotFound: the gallery has no job to resume.
        ConflictError: the job is running, or already done.
    """
    started = time.perf_counter()
    root = Path(folder)
    resolver = Resolver(registry, policy)

    def check() -> Job:
        found = read_job(root)
        if found is None:
            Gallery.load(root, verify=False)  # no gallery at all: say so
            raise NotFound(
                f"the gallery at {root} has no upgrade job to resume",
                f"start one with 'embedreg upgrade apply {root} --to GEN --strategy S'",
            )
        if found.state in ("rolling-back", "finalizing"):
            _refuse_existing(root, found)
        if found.state == "done":
            raise ConflictError(
                f"the upgrade of {root} to {found.target.name} is already done",
                f"finalize it with 'embedreg upgrade finalize {root}' or roll it back",
            )
        if found.counts.get("reembed") and found.state == "running":
            prepare(work_dir(root), load_spec(work_dir(root)))  # clear dead writers' leftovers
        return found

    options = job if job is not None else JobOptions()
    return _launch(registry, root, check, options, resolver, progress, on_stage, started)
