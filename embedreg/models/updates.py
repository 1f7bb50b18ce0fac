"""Upstream updates: which Hub generations' branch or tag has moved since they were pinned.

A generation pinned from a branch or tag (``embedreg gen add NAME OWNER/MODEL
[--revision BRANCH|TAG]``) records the commit and what it was resolved from.
:func:`check_updates` resolves each of those names again and reports where
the commit it points to now differs from the pin.  Nothing changes: a
generation stays pinned to its commit, and a moved upstream is a new
generation to register (and adapters to train) when you choose.

Example:
    >>> for u in check_updates(registry):  # doctest: +SKIP
    ...     print(u.generation, u.ref, u.pinned[:8], "→", u.current[:8])
    v2 main c9745ed1 → 8b3219a9
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import HubError
from ..registry import HubSource, Registry
from .folders import resolve_hub_revision

__all__ = ["UpdateCheck", "check_updates"]


@dataclass(frozen=True)
class UpdateCheck:
    """One Hub generation checked against its upstream branch or tag.

    Attributes:
        generation: the generation's name.
        repo_id: its Hub repo.
        ref: the branch or tag it was resolved from.
        pinned: the commit it is pinned to.
        current: the commit ``ref`` points to now (``None`` when the check failed).
        error: why the check failed (one line), else ``None``.
    """

    generation: str
    repo_id: str
    ref: str
    pinned: str
    current: str | None
    error: str | None = None

    @property
    def moved(self) -> bool:
        """True when ``ref`` now points to another commit than the pin."""
        return self.current is not None and self.current != self.pinned

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (with ``moved``)."""
        return {
            "generation": self.generation,
            "repo_id": self.repo_id,
            "ref": self.ref,
            "pinned": self.pinned,
            "current": self.current,
            "moved": self.moved,
            "error": self.error,
        }


def check_updates(registry: Registry, *, names: list[str] | None = None) -> list[UpdateCheck]:
    """Check every generation pinned from a Hub branch or tag (or only ``names``).

    Generations pinned by commit, and local folders, have no upstream name
    to follow and are not listed.  A repo or revision that cannot be checked
    (gone, private, no network) is reported in that row's ``error``; the
    others are still checked.  The registry is only read.
    """
    doc = registry.document()
    wanted = [doc.generation_name(n) for n in names] if names is not None else None
    out: list[UpdateCheck] = []
    for gen in sorted(doc.generations.values(), key=lambda g: (g.created, g.name)):
        source = gen.source
        if wanted is not None and gen.name not in wanted:
            continue
        if not isinstance(source, HubSource) or source.resolved_from is None:
            continue
        try:
            current: str | None = resolve_hub_revision(source.repo_id, source.resolved_from)
            error = None
        except HubError as exc:
            current, error = None, str(exc)
        out.append(
            UpdateCheck(
                gen.name, source.repo_id, source.resolved_from, source.revision, current, error
            )
        )
    return out
