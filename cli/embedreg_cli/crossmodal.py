"""Cross-modal adapter options and views: ``adapter train … --images`` and ``adapter measure-images``.

Between two two-tower (text+image) generations an adapter is fitted on text
pairs (``--texts``) and measured, or with ``--refine`` also fitted, on
labelled image pairs (``--images``: a folder or a list naming image files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .context import State, pass_state, registry_option
from .options import device_option, image_column_option, json_option
from .output import emit_json, say, show, table
from .progress import embedding_progress

if TYPE_CHECKING:
    from embedreg.data.pairs import PairedEmbeddings
    from embedreg.registry import Figures, Registry

    from .output import Table

F = TypeVar("F", bound=Callable[..., Any])

IMAGE_KEYS = ("images", "image_field", "queries", "refine")


def image_options(fn: F) -> F:
    """``--images``, ``--image-column``, ``--queries`` and ``--refine``."""
    for option in reversed(
        (
            click.option(
                "--images",
                type=click.Path(exists=True, path_type=Path),
                metavar="IMAGES",
                help="Two-tower generations: labelled images (a folder or a .jsonl/.csv list) "
                "embedded by both image towers, for the text→image and image→image figures.",
            ),
            image_column_option("With --images: "),
            click.option(
                "--queries",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="With --images: labelled text queries for text→image "
                "(default: the labelled held-out texts).",
            ),
            click.option(
                "--refine",
                is_flag=True,
                help="With --images: fit on image pairs too (a training share; the rest measures).",
            ),
        )
    ):
        fn = option(fn)
    return fn


def load_images(
    reg: Registry, new: str, old: str, settings: dict[str, Any], *, device: str
) -> tuple[PairedEmbeddings | None, PairedEmbeddings | None, bool]:
    """(image pairs, text queries, refine) from the options popped from ``settings``."""
    from embedreg.training import training_pairs
    from embedreg.training.crossmodal import image_pairs

    data = {k: settings.pop(k) for k in IMAGE_KEYS}
    if data["images"] is None:
        if data["queries"] is not None or data["refine"] or data["image_field"]:
            raise click.UsageError("--queries, --refine and --image-column go with --images")
        return None, None, False
    with embedding_progress() as (update, cached):
        images = image_pairs(
            reg,
            new,
            old,
            data["images"],
            image_field=data["image_field"],
            device=device,
            progress=update,
            on_cached=cached,
        )
        queries = None
        if data["queries"] is not None:
            queries = training_pairs(
                reg,
                new,
                old,
                texts=data["queries"],
                role="query",
                device=device,
                progress=update,
                on_cached=cached,
            )
    return images, queries, bool(data["refine"])


#: Rows of the cross-modal table: use, label, what is read from that use's figures.
_ROWS: tuple[tuple[str, str, Callable[[Figures], Any]], ...] = (
    ("text-image", "text→image CMC@1 (new text, adapted → old images)", lambda f: f.cmc_at_1),
    ("text-image", "text→image recall@10", lambda f: f.recall_at_10),
    ("text-image", "text→image CMC@1 old/old", lambda f: f.target.cmc_at_1),
    ("text-image", "text→image CMC@1 new/new", lambda f: f.source.cmc_at_1),
    ("text-image", "text→image criterion (≥ old/old)", lambda f: f.criterion),
    (
        "image-image",
        "image→image CMC@1 (new image, adapted → old images)",
        lambda f: f.cmc_at_1,
    ),
    ("image-image", "image→image recall@10 (own image)", lambda f: f.recall_at_10),
    ("image-image", "image→image CMC@1 old/old", lambda f: f.target.cmc_at_1),
    ("image-image", "image→image CMC@1 new/new", lambda f: f.source.cmc_at_1),
    ("image-image", "image→image criterion (≥ old/old)", lambda f: f.criterion),
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, float):
        return f"{100 * value:.2f}"
    return "—" if value is None else str(value)


def crossmodal_table(ident: str, figures: Figures) -> Table | None:
    """The held-out cross-modal figures of an adapter (``None`` when it has none)."""
    text_image = figures.text_image
    if text_image is None or text_image.cmc_at_1 is None:
        return None
    trained = ", ".join(figures.modalities_trained or ["text"])
    out = table("FIGURE", ident, title=f"cross-modal, held out (trained on {trained}; rates in %)")
    out.add_row("text queries / images", f"{text_image.queries} / {text_image.images}")
    for use, label, read in _ROWS:
        measured = figures.crossmodal(use)
        value = read(measured) if measured is not None else None
        if value is not None:
            out.add_row(label, _cell(value))
    return out


def text_only_note(figures: Figures) -> str | None:
    """The line that flags an adapter between two-tower generations measured on text only."""
    from embedreg.evaluation.crossmodal import image_figures_missing

    if figures.modalities_trained is not None and image_figures_missing(figures):
        return (
            "measured on text only: image queries through it are flagged until "
            "'embedreg adapter measure-images' records image figures"
        )
    return None


@click.command("measure-images")
@click.argument("adapter_id", metavar="ID")
@click.option(
    "--images",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Labelled images (a folder or a .jsonl/.csv list) embedded by both image towers.",
)
@image_column_option()
@click.option(
    "--queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled text queries (.jsonl/.csv) for text→image.",
)
@device_option
@json_option
@registry_option
@pass_state
def measure_images(
    state: State,
    adapter_id: str,
    images: Path,
    image_field: str | None,
    queries: Path,
    device: str,
    as_json: bool,
) -> None:
    """Measure adapter ID (between two-tower generations) on images, and record the figures.

    Adds the held-out text→image and image→image figures (next to old/old and
    new/new, with the criterion) to the adapter's record, so paths through it
    are no longer flagged for image queries.
    """
    from embedreg.training.crossmodal import measure_images as measure

    reg = state.registry()
    rec = reg.adapter(adapter_id)
    settings: dict[str, Any] = {
        "images": images,
        "image_field": image_field,
        "queries": queries,
        "refine": False,
    }
    pairs, texts, _ = load_images(reg, rec.source, rec.target, settings, device=device)
    assert pairs is not None and texts is not None
    figures = measure(reg, adapter_id, texts, pairs, device=device)
    if as_json:
        emit_json(figures.to_dict())
    shown = crossmodal_table(adapter_id, figures)
    if shown is not None:
        show(shown)
    say(f"Recorded image figures for adapter [bold]{adapter_id}[/]")
