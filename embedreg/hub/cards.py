"""Model-card templates shipped with embedreg.

The Jinja templates live in the repository's ``cards/`` folder and are
installed as package data under ``embedreg/cards/``; :func:`card_template`
finds them in either place (a wheel, or an editable checkout).

Example:
    >>> "{{ adapter_id }}" in card_template("adapter_card.md")
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..constants import CARD_TEMPLATES
from ..errors import EmbedRegError, ValidationError

__all__ = ["card_template", "card_template_names", "card_template_path"]


def card_template_names() -> tuple[str, ...]:
    """Names of the shipped card templates."""
    return CARD_TEMPLATES


def card_template_path(name: str) -> Path:
    """Path of a card template (installed package data, else the source tree's ``cards/``).

    Raises:
        ValidationError: no template of that name ships with embedreg.
        EmbedRegError: the installation lacks the template file.
    """
    if name not in CARD_TEMPLATES:
        raise ValidationError(
            f"unknown card template {name!r}", f"known: {', '.join(CARD_TEMPLATES)}"
        )
    installed = resources.files("embedreg").joinpath("cards").joinpath(name)
    if installed.is_file():
        return Path(str(installed))
    source = Path(__file__).resolve().parents[2] / "cards" / name
    if source.is_file():
        return source
    raise EmbedRegError(
        f"card template {name} is missing from this installation", "reinstall embedreg"
    )


def card_template(name: str) -> str:
    """The text of a card template."""
    return card_template_path(name).read_text(encoding="utf-8")
