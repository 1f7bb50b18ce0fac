"""What an upgrade plan stands on: the gallery's segments and paths, rates measured here, sizes.

:func:`survey_gallery` reads what a gallery holds for a move to a target
generation (its old segments, their items with a text, the paths between
them and the target); :func:`measure_rates` measures on this machine what
the move's estimates need (:mod:`.costs`); :class:`Sizes` gives its disk and
memory.  :func:`~embedreg.upgrade.plan` turns them into its rows.

Example:
    >>> s = survey_gallery(reg, Path("galleries/news"), "v3", Resolver(reg))  # doctest: +SKIP
    >>> measure_rates(s, 64, "cpu", 32).encode_seconds(1000)  # doctest: +SKIP
    12.5
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EmbedRegError, ModelLoadError, NoCompatiblePath
from ..gallery import Gallery
from ..registry import Generation, Registry
from ..routing import QueryPath, Resolver
from . import costs

__all__ = ["Rates", "Sizes", "Survey", "measure_rates", "survey_gallery"]


def _path(resolver: Resolver, query: str, gallery: str) -> QueryPath | None:
    try:
        return resolver.resolve(query, gallery)
    except NoCompatiblePath:
        return None


@dataclass(frozen=True, kw_only=True)
class Survey:
    """What the gallery at ``root`` holds for a move to ``target``, and the paths it has."""

    root: Path
    gallery: Gallery
    target: Generation
    segments: dict[str, int]  # every segment → its items
    old: dict[str, int]  # the segments to move (not the target's, not empty) → their items
    texts: dict[str, list[str]]  # an old segment → the ids of its items with a stored text
    back: dict[str, QueryPath | None]  # the target's queries → an old segment
    fwd: dict[str, QueryPath | None]  # an old segment → the target

    @property
    def n_old(self) -> int:
        """Items in the old segments."""
        return sum(self.old.values())

    @property
    def pool(self) -> list[str]:
        """Ids of the old items a model can re-embed (they have a text)."""
        return [i for s in self.old for i in self.texts[s]]

    @property
    def untexted(self) -> int:
        """Old items without a text (built from an embeddings file)."""
        return self.n_old - sum(len(v) for v in self.texts.values())


def survey_gallery(registry: Registry, root: Path, to: str, resolver: Resolver) -> Survey:
    """What the gallery at ``root`` holds for a move to ``to``; its paths found by ``resolver``.

    Raises:
        NotFound / GalleryError: no readable gallery at ``root``.
        UnknownGeneration: ``to`` is not registered.
    """
    g = Gallery.load(root)
    target = registry.generation(to)
    segments = {name: seg.count for name, seg in g.segments.items()}
    old = {name: n for name, n in segments.items() if name != target.name and n > 0}
    return Survey(
        root=root,
        gallery=g,
        target=target,
        segments=segments,
        old=old,
        texts={s: [i for i in g.ids(s) if g.item(i).text] for s in old},
        back={s: _path(resolver, target.name, s) for s in old},
        fwd={s: _path(resolver, s, target.name) for s in old},
    )


@dataclass(frozen=True, kw_only=True)
class Rates:
    """The rates measured on this machine (:mod:`.costs`) and why one is missing."""

    encode: costs.EncodeRate | None  # the target encoding a sample of the items
    add: float  # FAISS adds per second
    maps: dict[str, float]  # an old segment → vectors its forward path maps per second
    query_us: dict[str, float]  # an old segment → microseconds its path adds to a query
    notes: list[str]

    def encode_seconds(self, n: int) -> float | None:
        """Seconds to re-embed ``n`` items and add them (``None`` without an encoding rate)."""
        if self.encode is None:
            return None
        return self.encode.load_seconds + n / self.encode.items_per_second + n / self.add

    def forward_seconds(self, survey: Survey) -> float:
        """Seconds to map every old item by its forward path and add it."""
        return sum(survey.old[s] / r for s, r in self.maps.items()) + survey.n_old / self.add

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the plan's ``rates``)."""
        return {
            **({"encode": self.encode.to_dict()} if self.encode is not None else {}),
            "faiss_add_per_second": round(self.add, 1),
            "forward_map_per_second": {s: round(r, 1) for s, r in self.maps.items()},
            "query_us": {s: round(v, 2) for s, v in self.query_us.items()},
        }


def measure_rates(survey: Survey, sample: int, device: str, batch_size: int) -> Rates:
    """Encode ``sample`` of the items with the target, time FAISS adds and the paths' maps.

    A target that cannot be loaded, or ``sample`` 0, leaves the encoding rate
    out (with a note why); the other rates then use random probe vectors.
    """
    import numpy as np

    g, target, pool = survey.gallery, survey.target, survey.pool
    notes: list[str] = []
    encode: costs.EncodeRate | None = None
    if sample > 0 and pool:
        picks = [pool[int(k)] for k in np.linspace(0, len(pool) - 1, min(sample, len(pool)))]
        try:
            encode = costs.measure_encoding(
                target,
                [g.item(i).text or "" for i in picks],
                device=device,
                batch_size=batch_size,
            )
        except (ModelLoadError, EmbedRegError) as exc:
            notes.append(f"{target.name} could not be loaded to measure it: {exc}")
    elif sample == 0:
        notes.append("no sample encoded (--sample 0): re-embedding times unknown")
    probe = encode.vectors if encode is not None else None
    if probe is None:
        rng = np.random.default_rng(0)
        probe = rng.standard_normal((64, target.dimension)).astype(np.float32)
    return Rates(
        encode=encode,
        add=costs.measure_add(g.index_spec, g.metric, np.tile(probe, (8, 1))),
        maps={
            s: costs.measure_map(path, g.vectors(g.ids(s)[:2048]))
            for s, path in survey.fwd.items()
            if path is not None
        },
        query_us={s: costs.measure_query_overhead(p, probe) for s, p in survey.back.items() if p},
        notes=notes,
    )


@dataclass(frozen=True)
class Sizes:
    """Disk and memory of a move, from the index kind, the dimensions and the item counts."""

    survey: Survey
    items_size: int  # bytes of the gallery's items file

    @classmethod
    def of(cls, survey: Survey) -> Sizes:
        """The sizes of ``survey``'s move."""
        items_file = survey.root / str(survey.gallery.manifest()["items_file"] or "")
        return cls(survey, items_file.stat().st_size if items_file.is_file() else 0)

    def new_version(self, reembedded: int) -> int:
        """Disk of the new version when ``reembedded`` old items move to the target."""
        g, target, n_old = self.survey.gallery, self.survey.target, self.survey.n_old
        kept = sum(
            costs.index_bytes(g.index_spec, seg.dimension, seg.count)
            for name, seg in g.segments.items()
            if name != target.name
        ) * (1 - reembedded / n_old if n_old else 0)
        done = self.survey.segments.get(target.name, 0) + reembedded
        return int(kept + costs.index_bytes(g.index_spec, target.dimension, done) + self.items_size)

    def work(self, reembedded: int) -> int:
        """Disk of the job's work files (chunks of vectors, the items to embed)."""
        share = self.items_size * reembedded / max(len(self.survey.gallery), 1)
        return reembedded * (4 * self.survey.target.dimension + 48) + int(share)

    def switch_memory(self) -> int:
        """Peak memory of the switch: the live indexes and the target's whole one."""
        g, target = self.survey.gallery, self.survey.target
        live = sum(
            costs.index_bytes(g.index_spec, seg.dimension, seg.count) for seg in g.segments.values()
        )
        moved = self.survey.n_old + self.survey.segments.get(target.name, 0)
        return live + costs.index_bytes(g.index_spec, target.dimension, moved)
