"""Figure tables: the rows a family's labelled settings add (no model runs)."""

from __future__ import annotations

from embedreg.adapters import fact_labels
from embedreg.registry import Figures

from embedreg_cli.figures import figure_rows, figures_table


def test_a_familys_labelled_setting_gets_a_row_after_the_defect() -> None:
    assert fact_labels()["lambda"] == "λ"  # lambda-orth labels its card fact
    keys = [key for key, _, _ in figure_rows()]
    assert keys[keys.index("defect") + 1] == "lambda"
    shown = figures_table([("a", Figures.from_dict({"cmc@1": 0.5, "defect": 1.0, "lambda": 2.5}))])
    labels = [row[0] for row in shown.rows]
    assert labels[labels.index("D") + 1] == "λ"
    assert shown.rows[labels.index("λ")][1] == "2.500"
    plain = figures_table([("b", Figures.from_dict({"cmc@1": 0.5}))])
    assert "λ" not in [row[0] for row in plain.rows]  # no setting recorded: no row
