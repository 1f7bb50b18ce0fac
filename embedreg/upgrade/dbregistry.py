"""The registry's side of a database gallery's upgrade: its record, a promoted alias.

After the switch (:mod:`.database`), :func:`after_switch` makes the
registry's record of the gallery say the target generation once the gallery
is wholly it, and moves a ``--promote`` alias there; the job marks this
``registry: done`` in the manifest afterwards, so ``upgrade resume`` redoes
it after a kill (every step is idempotent).  :func:`restore_registry` puts
both back on ``rollback``, from what :func:`registry_before` recorded when
the job started.

Example:
    >>> registry_before(reg, "qdrant:///srv/v?collection=news", "prod")  # doctest: +SKIP
    {'record': {...}, 'alias': {'prod': 'v2'}}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..gallery.database import DatabaseGallery
from ..registry import GalleryRecord, Registry

__all__ = ["after_switch", "record_of", "registry_before", "restore_registry"]


def registry_before(registry: Registry, url: str, promote: str | None) -> dict[str, Any]:
    """What :func:`rollback` restores in the registry: the gallery's record, the promoted alias."""
    rec = record_of(registry, url)
    alias = {promote: registry.aliases().get(promote)} if promote else {}
    return {"record": rec.to_dict() if rec is not None else None, "alias": alias}


def record_of(registry: Registry, url: str) -> GalleryRecord | None:
    return next((r for r in registry.galleries() if r.location == url), None)


def after_switch(
    registry: Registry, g: DatabaseGallery, job: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    """Bring the registry in line with the switched gallery (idempotent), then mark it done.

    A kill before the mark leaves ``registry: pending``; ``upgrade resume`` does this again.
    """
    said: list[str] = []
    target = job["to"]
    wholly = g.generations == [target]
    rec = record_of(registry, g.url)
    if rec is not None and wholly and rec.generation != target:
        registry.add_gallery(replace(rec, generation=target), replace=True)
        said.append(f"gallery record {rec.name!r} now says {target}")
    if job.get("promote"):
        if wholly:
            registry.set_alias(job["promote"], target)
            said.append(f"alias {job['promote']!r} → {target}")
        else:
            said.append(f"alias {job['promote']!r} not moved: the gallery is not wholly {target}")
    g.state = {**g.state, "upgrade": {**job, "registry": "done"}}
    g.save()
    return {
        "gallery": g.url,
        "target": target,
        "strategy": job["strategy"],
        "job": job["id"],
        "segments": {s: g.count(s) for s in g.generations},
        "embedded": run["embedded"],
        "seconds": run["seconds"],
        "registry": said,
        "state": "done",
    }


def restore_registry(registry: Registry, url: str, job: dict[str, Any]) -> list[str]:
    """Put the gallery's record and the promoted alias back as they were before the upgrade."""
    notes: list[str] = []
    before = job["previous"].get("registry") or {}
    rec, old = record_of(registry, url), before.get("record")
    if rec is not None and old and rec.generation == job["to"] != old["generation"]:
        registry.add_gallery(GalleryRecord.from_dict(old), replace=True)
        notes.append(f"gallery record {rec.name!r} says {old['generation']} again")
    for alias, was in (before.get("alias") or {}).items():
        now = registry.aliases().get(alias)
        if now == was or (now is not None and now != job["to"]):
            continue  # as it was, or moved by someone since
        if was:
            registry.set_alias(alias, was)
            notes.append(f"alias {alias!r} → {was} again")
        else:
            registry.remove_alias(alias)
            notes.append(f"alias {alias!r} removed (it did not exist before)")
    return notes
