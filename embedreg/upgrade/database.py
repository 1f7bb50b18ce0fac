"""Upgrades of galleries in vector databases: new collections, one atomic switch, rollback.

An upgrade of a database gallery (:class:`~embedreg.gallery.database.DatabaseGallery`)
never changes the collections the gallery answers from.  :func:`apply`
records the job in the gallery's manifest (the commit point of the plan:
items to re-embed, chosen as a folder's upgrade chooses them, and the new
collections), then fills new collections: the target generation's with the
re-embedded items (and the items it held), and one per older segment with
the items that stay.  Every write is an upsert by id, so :func:`resume`
after a kill skips what is there and ends where an unkilled run ends.  The
switch is one manifest write (a Qdrant metadata update, a Milvus property
update, a PostgreSQL transaction) followed by moving the gallery's alias
(Qdrant and Milvus aliases, a PostgreSQL view replaced in a transaction).
The previous collections stay until :func:`finalize`; :func:`rollback`
switches back to them (or discards an unfinished job).

Strategies: ``partial`` (a fraction re-embedded, the rest searched through
its path), ``reembed`` (every item) and ``forward`` (every stored vector
mapped into the target's space by the forward path, no model run, no text
needed).  Each step copies or embeds
``JobOptions.chunk_size`` items as upserts by id: a rerun redoes no more.

Example:
    >>> url = "qdrant:///srv/vectors?collection=news"
    >>> r = apply(reg, url, "v3", "partial", partial=PartialChoice(0.25))  # doctest: +SKIP
    >>> r["segments"]  # doctest: +SKIP
    {'v2': 300, 'v3': 300}
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import ConflictError, NoCompatiblePath, NotFound, ValidationError
from ..gallery import Calibration
from ..gallery.backend import GalleryBackend
from ..gallery.calibration import calibrations_to_dict, parse_calibrations
from ..gallery.database import DatabaseGallery
from ..gallery.storage import Segment
from ..models import Encoder
from ..registry import Generation, Registry
from ..routing import QueryPath, Resolver
from ..util.clock import utc_now
from .calibrate import fit_calibration
from .dbregistry import after_switch, registry_before, restore_registry
from .options import JobOptions, PartialChoice
from .selection import round_trip, select

__all__ = ["DB_STRATEGIES", "apply", "finalize", "resume", "rollback", "status"]

#: Strategies a database gallery's upgrade carries out.
DB_STRATEGIES: tuple[str, ...] = ("partial", "reembed", "forward")

Progress = Callable[[int, "int | None"], None]


def _job(g: DatabaseGallery) -> dict[str, Any] | None:
    job = g.state.get("upgrade")
    return dict(job) if isinstance(job, dict) else None


def _collection_name(g: DatabaseGallery, generation: str, job_id: str) -> str:
    return f"{g.backend.gallery_name}__{re.sub(r'[^a-z0-9_]', '_', generation)}_{job_id}"


def apply(
    registry: Registry,
    url: str,
    to: str,
    strategy: str,
    *,
    partial: PartialChoice | None = None,
    job: JobOptions | None = None,
    promote: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Upgrade the gallery at ``url`` to generation ``to`` (see the module); the result as a dict.

    ``promote`` names a registry alias moved to ``to`` once the gallery is
    wholly ``to`` (a ``reembed``); the registry's record of the gallery then
    says ``to`` too.  :func:`rollback` puts both back.

    ``partial`` chooses the items a ``partial`` upgrade re-embeds, ``job``
    how it runs (its ``chunk_size`` is the items per resumable step), as for
    a folder's :func:`~embedreg.upgrade.apply`.

    Raises:
        ConflictError: the gallery has an upgrade job already (resume, roll back or finalize it).
        ValidationError: an unknown strategy or order, nothing to upgrade, items without texts.
    """
    partial = partial if partial is not None else PartialChoice()
    options = _options(job)
    if strategy not in DB_STRATEGIES:
        raise ValidationError(
            f"a database gallery's upgrade is one of {', '.join(DB_STRATEGIES)}, not {strategy!r}",
            "use --strategy partial, reembed or forward",
        )
    if promote is not None and strategy == "partial":
        raise ValidationError(
            f"--promote {promote} moves the alias once the gallery is wholly {to}, "
            "which a partial upgrade does not make it",
            "promote after a reembed or forward upgrade, or move it with 'embedreg alias set'",
        )
    target = registry.generation(to)
    with DatabaseGallery.open(url, write=True) as g:
        known = _job(g)
        if known is not None:
            raise ConflictError(
                f"gallery {url} has an upgrade job {known['id']} ({known['phase']})",
                "resume it ('embedreg upgrade resume'), roll it back, or finalize it",
            )
        old = [s for s in g.generations if s != target.name]
        candidates = [i for s in old for i in g.ids(s)]
        if not candidates:
            raise ValidationError(
                f"every item of {url} is already embedded by {target.name}", "no upgrade is needed"
            )
        count = {
            "reembed": len(candidates),
            "forward": 0,  # nothing re-embedded: every stored vector mapped by the forward path
        }.get(strategy, max(1, round(partial.fraction * len(candidates))))
        worst = strategy == "partial" and partial.order == "worst"
        scores = _round_trips(registry, g, old, target.name) if worst else None
        todo = sorted(select(candidates, count, partial.order, seed=partial.seed, scores=scores))
        forward = (
            {s: Resolver(registry).resolve(s, target.name).adapter_ids for s in old}
            if strategy == "forward"
            else {}
        )
        texts = {i: t for s in old for i, t in g.texts(s).items()}
        untexted = [i for i in todo if not texts.get(i)]
        if untexted:
            raise ValidationError(
                f"{len(untexted)} item(s) of {url} have no text to re-embed (e.g. {untexted[0]!r})",
                f"rebuild it from the original inputs: embedreg gallery build {target.name} INPUT -o URL",
            )
        job_id = uuid.uuid4().hex[:8]
        segs = [target.name] if strategy == "forward" else [*old, target.name]
        g.state = {
            **g.state,
            "upgrade": {
                "id": job_id,
                "to": target.name,
                "strategy": strategy,
                "promote": promote,
                "phase": "running",
                "created": utc_now(),
                "todo": todo,
                "forward": forward,
                "new": {s: _collection_name(g, s, job_id) for s in segs},
                "previous": {
                    "segments": {n: s.to_dict() for n, s in g.segment_table().items()},
                    "collections": g.collections,
                    "sources": g.sources,
                    "alias": g.alias,
                    "calibration": calibrations_to_dict(g.calibration),
                    "registry": registry_before(registry, url, promote),
                },
            },
        }
        g.save()  # the commit point of the plan: a kill from here on is resumed
        return _run(registry, g, target, options, progress)


def _round_trips(
    registry: Registry, g: DatabaseGallery, old: list[str], target: str
) -> dict[str, float]:
    """Each old item's round-trip score (the ``worst`` order, :func:`.selection.round_trip`).

    Raises:
        NoCompatiblePath: a segment has no forward path to ``target`` (or none back).
    """
    resolver = Resolver(registry)
    scores: dict[str, float] = {}
    for seg in old:
        forward, back = resolver.resolve(seg, target), resolver.resolve(target, seg)
        ids = g.ids(seg)
        for start in range(0, len(ids), 1024):
            chunk = ids[start : start + 1024]
            values = round_trip(g.vectors(chunk), forward, back)
            scores.update(zip(chunk, values.tolist(), strict=True))
    return scores


def _options(job: JobOptions | None) -> JobOptions:
    options = job if job is not None else JobOptions()
    if options.num_processes != 1:
        raise ValidationError(
            "a database gallery's upgrade re-embeds in one process",
            "drop --num-processes (or set it to 1)",
        )
    return options


def resume(
    registry: Registry,
    url: str,
    *,
    job: JobOptions | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Continue the interrupted upgrade of the gallery at ``url`` from what its collections hold."""
    options = _options(job)
    with DatabaseGallery.open(url, write=True) as g:
        state = _job(g)
        if (
            state is not None
            and state["phase"] == "switched"
            and state.get("registry") == "pending"
        ):
            return after_switch(registry, g, state, {"embedded": 0, "seconds": 0.0})
        if state is None or state["phase"] != "running":
            raise NotFound(f"no interrupted upgrade job in {url}", "start one with 'upgrade apply'")
        return _run(registry, g, registry.generation(state["to"]), options, progress)


def _run(
    registry: Registry,
    g: DatabaseGallery,
    target: Generation,
    options: JobOptions,
    progress: Progress | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    step = options.chunk_size
    job = _job(g)
    assert job is not None
    todo = set(job["todo"])
    new: dict[str, str] = job["new"]
    prev = job["previous"]
    backend = g.backend
    for seg_name, coll in new.items():
        if backend.collection_binding(coll) is None:
            seg = (
                Segment.from_dict(prev["segments"][seg_name])
                if seg_name != target.name
                else Segment.of(target)
            )
            backend.create_collection(coll, seg, g.metric)
    # the items that stay, copied to their segment's new collection (forward: mapped into
    # the target's); every step writes only the items the destination lacks
    paths = _forward_paths(registry, job)
    for seg_name, old_coll in prev["collections"].items():
        path = paths.get(seg_name)
        ids = [i for i, _ in backend.items(old_coll) if i not in todo]
        _copy(backend, old_coll, new[target.name if path else seg_name], ids, step, path)
    # the items re-embedded by the target generation
    ordered = sorted(todo)
    texts: dict[str, str | None] = {}
    for seg_name, old_coll in prev["collections"].items():
        if seg_name != target.name and ordered:
            for item_id, (text, _) in backend.fetch(old_coll, ordered).items():
                texts[item_id] = text
    encoder = (
        Encoder(target, device=options.device, batch_size=options.batch_size) if ordered else None
    )
    dest = new[target.name]
    done = 0
    if progress:
        progress(0, len(ordered))
    embedded = 0
    for start in range(0, len(ordered), step):
        chunk = ordered[start : start + step]
        there = backend.fetch(dest, chunk)
        missing = [i for i in chunk if i not in there]
        if missing and encoder is not None:
            vectors = encoder.encode([texts[i] or "" for i in missing], role="document")
            backend.upsert(dest, missing, vectors, [texts[i] for i in missing])
            embedded += len(missing)
        done += len(chunk)
        if progress:
            progress(done, len(ordered))
    g.calibration = _calibrate(registry, g, target, job)
    switched = _switch(g, target, job)
    return after_switch(
        registry, g, switched, {"embedded": embedded, "seconds": time.perf_counter() - started}
    )


def _forward_paths(registry: Registry, job: dict[str, Any]) -> dict[str, QueryPath]:
    """A ``forward`` job's path per old segment, as the job recorded it.

    Raises:
        ConflictError: the registry now routes a segment through other adapters.
    """
    paths: dict[str, QueryPath] = {}
    resolver = Resolver(registry)
    for seg, adapters in (job.get("forward") or {}).items():
        path = resolver.resolve(seg, job["to"])
        if list(path.adapter_ids) != list(adapters):
            raise ConflictError(
                f"the forward path {seg} → {job['to']} is {' + '.join(path.adapter_ids)} now, "
                f"not {' + '.join(adapters)} as when the upgrade started",
                "roll the upgrade back ('embedreg upgrade rollback') and apply it again",
            )
        paths[seg] = path
    return paths


def _copy(
    backend: GalleryBackend,
    source: str,
    dest: str,
    ids: list[str],
    step: int,
    path: QueryPath | None,
) -> None:
    """Copy items ``dest`` lacks from ``source`` (their vectors mapped by ``path``, if any)."""
    import numpy as np

    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        there = backend.fetch(dest, chunk)
        missing = [i for i in chunk if i not in there]
        if missing:
            rows = backend.fetch(source, missing)
            vectors = np.vstack([rows[i][1] for i in missing]).astype(np.float32)
            if path is not None:
                vectors = np.asarray(path.apply(vectors), dtype=np.float32)
            backend.upsert(dest, missing, vectors, [rows[i][0] for i in missing])


def _calibrate(
    registry: Registry, g: DatabaseGallery, target: Generation, job: dict[str, Any]
) -> dict[str, dict[str, Calibration]]:
    """Score calibrations of the segments that stay old, fitted on the re-embedded items.

    As a folder's upgrade fits them (:mod:`.calibrate`): the moved items are
    known in both spaces, their old vectors in the previous collections and
    their new ones in the target's new collection.
    """
    import numpy as np

    out = {s: dict(c) for s, c in g.calibration.items()}
    resolver = Resolver(registry)
    fresh = g.backend.fetch(job["new"][target.name], job["todo"])
    for seg, coll in job["previous"]["collections"].items():
        if seg == target.name:
            continue
        old = g.backend.fetch(coll, job["todo"])
        pairs = [i for i in job["todo"] if i in old and i in fresh]
        if len(pairs) < 3:
            continue
        new_v = np.vstack([fresh[i][1] for i in pairs])
        old_v = np.vstack([old[i][1] for i in pairs])
        try:
            back = resolver.resolve(target.name, seg)
        except NoCompatiblePath:
            continue
        cal = fit_calibration(new_v, new_v, back.apply(new_v), old_v, metric=g.metric)
        if cal is not None:
            out.setdefault(seg, {})[target.name] = cal
    return out


def _switch(g: DatabaseGallery, target: Generation, job: dict[str, Any]) -> dict[str, Any]:
    """The one manifest write that puts the new collections in place; the job as switched."""
    backend = g.backend
    new: dict[str, str] = job["new"]
    counts = {s: backend.count(c) for s, c in new.items()}
    for s, c in new.items():
        if counts[s] == 0:
            backend.drop_collection(c)  # a segment the upgrade emptied
    prev_segments = {n: Segment.from_dict(d) for n, d in job["previous"]["segments"].items()}
    segments = {s: prev_segments.get(s) or Segment.of(target) for s in new if counts[s]}
    segments[target.name] = Segment.of(target)
    g.replace_segments(segments, {s: new[s] for s in segments})
    g.sources.append(
        {
            "kind": "upgrade",
            "to": target.name,
            "strategy": job["strategy"],
            "job": job["id"],
            "at": utc_now(),
        }
    )
    switched = {**job, "phase": "switched", "todo": [], "registry": "pending"}
    g.state = {**g.state, "upgrade": switched}
    g.journal_alias(new[target.name])
    g.save()  # the switch: readers see the old collections or the new ones
    g.finish_alias()  # a kill before this is finished by the next command that opens it
    return switched


def status(url: str) -> dict[str, Any]:
    """The upgrade job of the gallery at ``url``: ``none``, ``running`` (interrupted) or ``switched``."""
    with DatabaseGallery.open(url) as g:
        job = _job(g)
        if job is None:
            return {"gallery": url, "state": "none"}
        out = {k: job[k] for k in ("id", "to", "strategy", "created")}
        out.update(gallery=url, state=job["phase"])
        if job["phase"] == "running":
            coll = job["new"][job["to"]]
            found = g.backend.collection_binding(coll) is not None
            out["done"] = len(g.backend.fetch(coll, job["todo"])) if found else 0
            out["total"] = len(job["todo"])
        return out


def rollback(url: str, registry: Registry | None = None) -> dict[str, Any]:
    """Switch the gallery at ``url`` back to its collections before the upgrade, or discard a job.

    With ``registry``, the gallery's record and a promoted alias are put back too.
    """
    with DatabaseGallery.open(url, write=True) as g:
        job = _job(g)
        if job is None:
            raise NotFound(f"no upgrade of {url} to roll back", "nothing to do")
        prev = job["previous"]
        action = "discarded the unfinished job"
        if job["phase"] == "switched":
            segments = {n: Segment.from_dict(d) for n, d in prev["segments"].items()}
            g.replace_segments(segments, dict(prev["collections"]))
            g.sources = [dict(s) for s in prev["sources"]]
            g.calibration = parse_calibrations(prev.get("calibration") or {})
            action = "switched back to the previous collections"
        g.state = {k: v for k, v in g.state.items() if k != "upgrade"}
        if prev.get("alias"):
            g.journal_alias(prev["alias"])
        g.save()  # the switch back (or the job forgotten)
        g.finish_alias()
        for coll in job["new"].values():
            if coll not in prev["collections"].values():
                g.backend.drop_collection(coll)
        notes = (
            restore_registry(registry, url, job)
            if registry is not None and job["phase"] == "switched"
            else []
        )
        return {"gallery": url, "action": action, "job": job["id"], "registry": notes}


def finalize(url: str) -> dict[str, Any]:
    """Drop the collections the last upgrade of ``url`` replaced (no rollback after this)."""
    with DatabaseGallery.open(url, write=True) as g:
        job = _job(g)
        if job is None or job["phase"] != "switched":
            raise NotFound(f"no finished upgrade of {url} to finalize", "nothing to do")
        g.state = {k: v for k, v in g.state.items() if k != "upgrade"}
        g.save()
        live = set(g.collections.values())
        dropped = [c for c in job["previous"]["collections"].values() if c not in live]
        for coll in dropped:
            g.backend.drop_collection(coll)
        return {"gallery": url, "dropped": dropped, "job": job["id"]}
