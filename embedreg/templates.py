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

_NAMES = ("adapter_card.md", "registry_card.md")


def card_template_names() -> tuple[str, ...]:
    """Names of the shipped card templates."""
    return _NAMES


def card_template_path(name: str) -> Path:
    """Path of a card template (installed package data, else the source tree's ``cards/``)."""
    if name not in _NAMES:
        raise ValueError(f"unknown card template {name!r}; known: {', '.join(_NAMES)}")
    installed = resources.files("embedreg").joinpath("cards").joinpath(name)
    if installed.is_file():
        return Path(str(installed))
    source = Path(__file__).resolve().parent.parent / "cards" / name
    if source.is_file():
        return source
    raise FileNotFoundError(f"card template {name} is missing from this installation")


def card_template(name: str) -> str:
    """The text of a card template."""
    return card_template_path(name).read_text(encoding="utf-8")
