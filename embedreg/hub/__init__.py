"""The Hugging Face Hub: adapters published and pulled with model cards, registries pushed and pulled.

* :class:`HubAdapter` (``from_pretrained`` / ``push_to_hub`` through
  huggingface_hub's ``ModelHubMixin``): an adapter with its card, checked
  against the sha256 the card records;
* :func:`publish_adapter` / :func:`pull_adapter`: ``embedreg adapter publish``
  and ``adapter pull`` (pinned, verified, generations matched by pin and recipe);
* :func:`push_registry` / :func:`pull_registry`: ``embedreg push`` and
  ``embedreg pull`` of whole registries (the ``hf://`` store itself is
  :class:`embedreg.registry.stores.HubStore`);
* the card templates (:func:`card_template`, :func:`render_card`).

Names that need ``huggingface_hub`` load it on first use.

Example:
    >>> from embedreg.hub import card_template_names
    >>> card_template_names()
    ('adapter_card.md', 'registry_card.md', 'st_export_card.md')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .cards import card_template, card_template_names, card_template_path, render_card

if TYPE_CHECKING:
    from .adapter_card import AdapterFacts, EndFacts, adapter_card, read_facts
    from .mixin import HubAdapter
    from .publish import PullResult, publish_adapter, pull_adapter
    from .repos import parse_repo_ref, resolve_commit
    from .transfer import Transfer, pull_registry, push_registry, registry_card

_WHERE = {
    "AdapterFacts": "adapter_card",
    "EndFacts": "adapter_card",
    "adapter_card": "adapter_card",
    "read_facts": "adapter_card",
    "HubAdapter": "mixin",
    "PullResult": "publish",
    "publish_adapter": "publish",
    "pull_adapter": "publish",
    "parse_repo_ref": "repos",
    "resolve_commit": "repos",
    "Transfer": "transfer",
    "pull_registry": "transfer",
    "push_registry": "transfer",
    "registry_card": "transfer",
}

__all__ = [
    "AdapterFacts",
    "EndFacts",
    "HubAdapter",
    "PullResult",
    "Transfer",
    "adapter_card",
    "card_template",
    "card_template_names",
    "card_template_path",
    "parse_repo_ref",
    "publish_adapter",
    "pull_adapter",
    "pull_registry",
    "push_registry",
    "read_facts",
    "registry_card",
    "render_card",
    "resolve_commit",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _WHERE)
