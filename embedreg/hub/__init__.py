"""The Hugging Face Hub: model-card templates today; publishing and pulling build on them.

Example:
    >>> from embedreg.hub import card_template_names
    >>> card_template_names()
    ('adapter_card.md', 'registry_card.md')
"""

from __future__ import annotations

from .cards import card_template, card_template_names, card_template_path

__all__ = ["card_template", "card_template_names", "card_template_path"]
