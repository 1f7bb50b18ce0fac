"""Model-card templates shipped with embedreg (see :mod:`embedreg.util.cards`).

Example:
    >>> "{{ adapter_id }}" in card_template("adapter_card.md")
    True
"""

from __future__ import annotations

from ..util.cards import card_template, card_template_names, card_template_path, render_card

__all__ = ["card_template", "card_template_names", "card_template_path", "render_card"]
