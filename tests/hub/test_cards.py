from __future__ import annotations

import jinja2
import pytest
from embedreg.hub.cards import card_template, card_template_names


@pytest.mark.parametrize("name", card_template_names())
def test_templates_render(name: str) -> None:
    text = jinja2.Template(card_template(name)).render(
        card_data="library_name: embedreg",
        adapter_id="v3-to-v2.lambda-orth",
        figures={"retention": 0.98},
        provenance={"source_pin": "x"},
        generations=[],
        adapters=[],
        aliases={"latest": "v3"},
        title="t",
    )
    assert text.startswith("---\nlibrary_name: embedreg\n---")


def test_unknown_template() -> None:
    with pytest.raises(ValueError):
        card_template("nope.md")
