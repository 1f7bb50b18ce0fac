"""The switch: an upgrade job's new gallery version, written atomically, and what follows it.

Under the gallery's lock, the live gallery is read as it is *now* (other
writers may have added or removed items while the job embedded), and the
new version is built from it: items the job re-embedded take their new
vectors (when the live item is still the one the job read: same id, same
FAISS id), items added since are embedded or mapped on the spot, items
removed since are gone, and everything else keeps its vector and segment.
The manifest being replaced is first retained (``.retained/previous.json``)
so its files survive until ``upgrade finalize``; then the new version is
saved, whose manifest replacing the old one is the single commit point.
The new version's sources name the job, so a crash right after the switch
is recognised and never switched twice.

Example:
    >>> switched(
    ...     {"sources": [{"kind": "upgrade", "job": "abc"}]}, "abc"
    ... )
    True
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import UPGRADE_PREVIOUS
from ..errors import GenerationMismatch, NoCompatiblePath
from ..gallery import Calibration, Gallery, retention, storage
from ..models import Encoder
from ..models.sharded import read_chunks
from ..registry import Generation, Registry
from ..routing import Resolver
from ..util.callbacks import StageFn
from ..util.clock import utc_now
from .calibrate import fit_calibration
from .job import Job, items_path, remove_work, work_dir, write_job

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["after_switch", "registered_record", "switch", "switched"]


def switched(manifest: dict[str, Any], job_id: str) -> bool:
    """True when ``manifest`` is (or descends from) the version that job ``job_id`` wrote."""
    return any(
        isinstance(s, dict) and s.get("kind") == "upgrade" and s.get("job") == job_id
        for s in manifest.get("sources", [])
    )


def _todo(root: Path) -> dict[str, tuple[int, str]]:
    """The job's items: id → (FAISS id when the job read it, segment)."""
    out: dict[str, tuple[int, str]] = {}
    path = items_path(root)
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out[row["id"]] = (int(row["fid"]), row["segment"])
    return out


def _new_vectors(root: Path, job: Job) -> dict[str, Any]:
    if job.counts.get("reembed", 0) == 0:
        return {}
    vectors: dict[str, Any] = {}
    for chunk in read_chunks(work_dir(root)):
        for item_id, row in zip(chunk.ids or [], chunk.vectors, strict=True):
            vectors[item_id] = row
    return vectors


def switch(
    registry: Registry,
    root: Path,
    job: Job,
    resolver: Resolver,
    *,
    device: str = "auto",
    on_stage: StageFn | None = None,
) -> Job:
    """Write the job's new version (under the gallery lock) and record it; returns the job."""
    import numpy as np

    target = registry.generation(job.target.name)
    if not target.same_space(job.target):
        raise GenerationMismatch(
            f"the upgrade job of {root}",
            f"{job.target.name!r} pinned {job.target.pin}",
            f"{target.name!r} pinned {target.pin}",
            "the registry's generation changed since the job began; roll the job back",
        )
    with storage.locked(root):
        raw = storage.read_manifest(root)
        if switched(raw, job.id):
            return job
        live = Gallery.load(root)
        if on_stage:
            on_stage(f"Switching {root} to a new version")
        todo = _todo(root)
        fresh = _new_vectors(root, job)
        gens: dict[str, Generation] = {}
        for name, seg in live.segments.items():
            if name != target.name:
                gens[name] = registry.generation(name)
                seg.check(gens[name], f"gallery {root}")
        gens[target.name] = target
        # what goes where: segment → (ids, texts, vectors)
        parts: dict[str, tuple[list[str], list[str | None], list[Any]]] = {}
        late: list[tuple[str, str | None, str]] = []  # added since the job read the gallery
        by_segment: dict[str, list[str]] = {}
        for item_id in live.ids():
            by_segment.setdefault(live.item(item_id).segment, []).append(item_id)
        stored = {
            s: dict(zip(ids, live.vectors(ids), strict=True)) for s, ids in by_segment.items()
        }
        for item_id in live.ids():
            rec = live.item(item_id)
            in_seg, text = rec.segment, rec.text
            known = todo.get(item_id)
            if in_seg != target.name and known == (rec.key, in_seg) and item_id in fresh:
                _put(parts, target.name, item_id, text, fresh[item_id])
            elif in_seg != target.name and job.strategy in ("reembed", "forward"):
                late.append((item_id, text, in_seg))
            else:
                _put(parts, in_seg, item_id, text, stored[in_seg][item_id])
        mapped = _place_late(parts, late, stored, job, target, resolver, device)
        calibration = _calibrate(live, parts, stored, fresh, todo, target, resolver)
        sources = [
            *live.sources,
            {
                "kind": "upgrade",
                "job": job.id,
                "strategy": job.strategy,
                "to": target.name,
                "from": sorted(g for g in live.segments if g != target.name),
                "forward": job.forward,
                "at": utc_now(),
            },
        ]
        new = Gallery(
            metric=live.metric,
            index=live.index_spec,
            segments={},
            name=live.name,
            created=live.created,
            sources=sources,
            path=root,
            version=int(raw.get("version", 0)),
            calibration=calibration,
        )
        order = [target.name, *sorted(s for s in parts if s != target.name)]
        for seg_name in order:
            if seg_name not in parts:
                continue
            ids, texts, vecs = parts[seg_name]
            new.add_segment(gens[seg_name])
            new.add(np.vstack(vecs), ids, generation=gens[seg_name], texts=texts)
        if target.name not in new.segments:
            new.add_segment(target)
        job.state = "switching"
        job.counts["mapped"] = mapped
        job.restore = _restore_info(registry, root, job)
        job.calibration = {
            s: {q: c.to_dict() for q, c in by.items()} for s, by in calibration.items()
        }
        write_job(root, job)
        retention.retain(root, UPGRADE_PREVIOUS, raw)
        new.save(root)  # the commit point: the manifest switches
        info = new.manifest()
        job.result_version, job.result_hash = int(info["version"]), info["content_hash"]
        write_job(root, job)
    return job


def _put(
    parts: dict[str, tuple[list[str], list[str | None], list[Any]]],
    seg: str,
    item_id: str,
    text: str | None,
    vector: Any,
) -> None:
    ids, texts, vecs = parts.setdefault(seg, ([], [], []))
    ids.append(item_id)
    texts.append(text)
    vecs.append(vector)


def _place_late(
    parts: dict[str, tuple[list[str], list[str | None], list[Any]]],
    late: list[tuple[str, str | None, str]],
    stored: dict[str, dict[str, Any]],
    job: Job,
    target: Generation,
    resolver: Resolver,
    device: str,
) -> int:
    """Embed (reembed) or map (forward) items the job did not embed; returns how many were mapped."""
    if not late:
        return 0
    if job.strategy == "forward":
        mapped = 0
        for seg in sorted({s for _, _, s in late}):
            rows = [(i, t) for i, t, s in late if s == seg]
            path = resolver.resolve(seg, target.name)
            job.forward[seg] = path.adapter_ids
            vectors = path.apply(_stack([stored[seg][i] for i, _ in rows]))
            for (item_id, text), vec in zip(rows, vectors, strict=True):
                _put(parts, target.name, item_id, text, vec)
            mapped += len(rows)
        return mapped
    with_text = [(i, t) for i, t, _ in late if t]
    if with_text:
        encoder = Encoder(target, device=device)
        vectors = encoder.encode([t for _, t in with_text if t], role="document")
        for (item_id, text), vec in zip(with_text, vectors, strict=True):
            _put(parts, target.name, item_id, text, vec)
    for item_id, text, seg in late:
        if not text:  # nothing to embed: it stays where it is
            _put(parts, seg, item_id, text, stored[seg][item_id])
    return 0


def _stack(rows: list[Any]) -> Any:
    import numpy as np

    return np.vstack(rows).astype(np.float32)


def _calibrate(
    live: Gallery,
    parts: dict[str, tuple[list[str], list[str | None], list[Any]]],
    stored: dict[str, dict[str, Any]],
    fresh: dict[str, Any],
    todo: dict[str, tuple[int, str]],
    target: Generation,
    resolver: Resolver,
) -> dict[str, dict[str, Calibration]]:
    """Calibrations of the segments that stay old (and of the new one for old queries)."""
    out = {s: dict(c) for s, c in live.calibration.items()}
    for seg in sorted(s for s in parts if s != target.name):
        pairs = [i for i, (_, s) in todo.items() if s == seg and i in fresh and i in stored[seg]]
        if len(pairs) < 3:
            continue
        g, h = _stack([fresh[i] for i in pairs]), _stack([stored[seg][i] for i in pairs])
        back = resolver.resolve(target.name, seg)
        cal = fit_calibration(g, g, back.apply(g), h, metric=live.metric)
        if cal is not None:
            out.setdefault(seg, {})[target.name] = cal
        try:
            fwd = resolver.resolve(seg, target.name)
        except NoCompatiblePath:  # old queries cannot reach the new segment: nothing to fit
            continue
        cal = fit_calibration(h, h, fwd.apply(h), g, metric=live.metric)
        if cal is not None:
            out.setdefault(target.name, {})[seg] = cal
    return out


def registered_record(registry: Registry, root: Path) -> Any:
    """The registry's record of the gallery in ``root`` (by location), or ``None``."""
    here = os.path.realpath(root)
    for rec in registry.galleries():
        if os.path.realpath(rec.location) == here:
            return rec
    return None


def _restore_info(registry: Registry, root: Path, job: Job) -> dict[str, Any]:
    rec = registered_record(registry, root)
    info: dict[str, Any] = {"record": rec.to_dict() if rec else None, "alias": {}}
    if job.promote:
        info["alias"] = {job.promote: registry.aliases().get(job.promote)}
    return info


def after_switch(registry: Registry, root: Path, job: Job) -> list[str]:
    """Bring the registry in line with the switched gallery; mark the job done (idempotent).

    Returns what was done, in words.
    """
    said: list[str] = []
    live = Gallery.load(root, verify=False)
    wholly = live.generations == [job.target.name]
    rec = registered_record(registry, root)
    if rec is not None and wholly and rec.generation != job.target.name:
        registry.add_gallery(replace(rec, generation=job.target.name), replace=True)
        said.append(f"gallery record {rec.name!r} now says {job.target.name}")
    if job.promote:
        if wholly:
            registry.set_alias(job.promote, job.target.name)
            said.append(f"alias {job.promote!r} → {job.target.name}")
        else:
            said.append(
                f"alias {job.promote!r} not moved: the gallery still holds "
                f"{', '.join(g for g in live.generations if g != job.target.name)} items"
            )
    job.state = "done"
    write_job(root, job)
    remove_work(root)
    return said
