"""Search results: per query, the best item ids with their scores, segments and paths.

:class:`Hits` is what every gallery search returns (:mod:`.search`,
:mod:`.kinded`, :mod:`.crossmodal`), for a folder's gallery or a database's.

Example:
    >>> hits = Hits([["a"]], [[0.9]], [["v2"]])
    >>> hits.to_dict()["results"]
    [[{'id': 'a', 'score': 0.9, 'segment': 'v2'}]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..routing import QueryPath

__all__ = ["Hits"]


@dataclass
class Hits:
    """Search results: per query, the ``k`` best item ids with their scores.

    Attributes:
        ids: ``ids[q]`` lists item ids, best first (shorter than ``k`` when the
            gallery holds fewer items).
        scores: ``scores[q]`` the matching scores, higher is better (inner
            product for ``ip``; minus the squared distance for ``l2``).
        segments: ``segments[q]`` the segment (generation) each hit came from.
        paths: the query path used for each segment (a fused path's or a
            cascade's map, for those).
        kinds: segment → the chosen path of some kind (:mod:`.kinded`), when
            the search chose among kinds.
        written: items a ``write_back`` search moved into the query's segment.
    """

    ids: list[list[str]]
    scores: list[list[float]]
    segments: list[list[str]]
    paths: dict[str, QueryPath] = field(default_factory=dict)
    kinds: dict[str, Any] = field(default_factory=dict)
    written: int = 0

    def warnings(self) -> list[str]:
        """One line per segment whose path failed the compatibility criterion."""
        out = []
        for seg, path in self.paths.items():
            route = self.kinds.get(seg)
            if route is None:
                warning = path.warning()
            elif route.criterion == "fail":
                warning = f"{route.note()} failed the compatibility criterion on held-out data"
            else:
                warning = None
            if warning is not None:
                out.append(warning)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (each path carries its ``criterion``; ``warnings`` flags failures)."""
        return {
            "warnings": self.warnings(),
            "results": [
                [
                    {"id": i, "score": s, "segment": g}
                    for i, s, g in zip(ids, scores, segs, strict=False)
                ]
                for ids, scores, segs in zip(self.ids, self.scores, self.segments, strict=False)
            ],
            "paths": {seg: path.to_dict() for seg, path in self.paths.items()},
            "kinds": {seg: route.to_dict() for seg, route in self.kinds.items()},
            "written": self.written,
        }
