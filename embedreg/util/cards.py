"""Model-card templates shipped with embedreg, rendered through huggingface_hub's ``ModelCard``.

In the lowest layer, so that every subpackage that writes a card (the ``hf``
registry store, the Hub subpackage, exports) renders it the same way.

The Jinja templates live in the repository's ``cards/`` folder and are
installed as package data under ``embedreg/cards/``; :func:`card_template`
finds them in either place (a wheel, or an editable checkout).
:func:`render_card` fills one with ``ModelCard.from_template``: the
``ModelCardData`` becomes the card's YAML front matter (``{{ card_data }}``),
the other arguments the template's variables.

Example:
    >>> "{{ adapter_id }}" in card_template("adapter_card.md")
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import CARD_TEMPLATES
from ..errors import EmbedRegError, ValidationError

if TYPE_CHECKING:
    from huggingface_hub import ModelCard, ModelCardData

__all__ = ["card_template", "card_template_names", "card_template_path", "render_card"]


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


def render_card(name: str, card_data: ModelCardData, **variables: Any) -> ModelCard:
    """Render template ``name`` with ``card_data`` as its front matter.

    Example:
        >>> from huggingface_hub import ModelCardData
        >>> card = render_card("registry_card.md", ModelCardData(library_name="embedreg"),
        ...                    title="t", generations=[], adapters=[], aliases={})
        >>> card.data.library_name
        'embedreg'
    """
    from huggingface_hub import ModelCard

    card: ModelCard = ModelCard.from_template(
        card_data, template_path=str(card_template_path(name)), **variables
    )
    return card
