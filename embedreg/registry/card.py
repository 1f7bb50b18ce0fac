"""The card of a registry kept on the Hub: its lineages, generations, adapters and aliases.

:func:`registry_card` renders ``cards/registry_card.md`` (through
huggingface_hub's ``ModelCard``) from a registry document.  ``embedreg push``
writes it with the registry, and the ``hf`` store
(:class:`~embedreg.registry.stores.HubStore`) writes it again in every commit
that changes ``registry.json``, so the repo's front page always shows the
registry as it is.

Example:
    >>> from embedreg.registry import RegistryDocument
    >>> card = registry_card(RegistryDocument(), "alice/registry")
    >>> card.data.library_name, "alice/registry" in str(card)
    ('embedreg', True)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..constants import HUB_LIBRARY_NAME, HUB_REGISTRY_TAGS
from ..util.cards import render_card
from .document import RegistryDocument

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

__all__ = ["registry_card"]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.3f}"
    return "—"


def _lineages(doc: RegistryDocument) -> list[str]:
    gens = sorted(doc.generations.values(), key=lambda g: (g.created, g.name))
    children = {g.parent for g in gens if g.parent}
    lineages = []
    for leaf in (g for g in reversed(gens) if g.name not in children):
        chain, seen = [leaf.name], leaf
        while seen.parent is not None and seen.parent in doc.generations:
            seen = doc.generations[seen.parent]
            chain.append(seen.name)
        lineages.append(" → ".join(chain))
    return lineages


def registry_card(doc: RegistryDocument, repo_id: str) -> ModelCard:
    """The card of a registry repo: lineages of generations, adapters and their figures."""
    from huggingface_hub import ModelCardData

    gens = sorted(doc.generations.values(), key=lambda g: (g.created, g.name))
    adapters = []
    for a in sorted(doc.adapters.values(), key=lambda r: r.id):
        pub = a.published
        adapters.append(
            {
                "id": a.id,
                "source": a.source,
                "target": a.target,
                "family": a.family,
                "direction": a.direction,
                "retention": _fmt(a.figures.retention),
                "cmc1": _fmt(a.figures.cmc_at_1),
                "recall1": _fmt(a.figures.recall_at_1),
                "criterion": _fmt(a.figures.criterion),
                "published": f"[{pub.repo_id}](/{pub.repo_id})" if pub else "",
            }
        )
    data = ModelCardData(library_name=HUB_LIBRARY_NAME, tags=list(HUB_REGISTRY_TAGS))
    return render_card(
        "registry_card.md",
        data,
        title=f"{repo_id} (embedreg registry)",
        repo_id=repo_id,
        lineages=_lineages(doc),
        generations=gens,
        adapters=adapters,
        aliases=dict(doc.aliases),
    )
