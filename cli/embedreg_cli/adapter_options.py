"""The options ``embedreg adapter train``, ``compare`` and ``eval`` share, and how they are read.

``--pairs`` / ``--texts`` and the input's options, the schedule (``--epochs``,
``--lr`` …) and family options (``-o KEY=VALUE``), parsed into the library's
:class:`~embedreg.training.TrainConfig` and paired embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .options import column_options, device_option, stack
from .progress import embedding_progress

if TYPE_CHECKING:
    from embedreg.data.pairs import PairedEmbeddings
    from embedreg.registry import Registry
    from embedreg.training import TrainConfig

F = TypeVar("F", bound=Callable[..., Any])

_DATA_KEYS = ("pairs", "texts", "role", "columns", "no_cache")
_SCHEDULE_KEYS = ("device", "epochs", "batch_size", "lr", "seed")


def data_options(fn: F) -> F:
    """``--pairs NEW_FILE OLD_FILE`` or ``--texts INPUT`` and the input's options."""
    return stack(
        click.option(
            "--pairs",
            nargs=2,
            type=click.Path(exists=True, path_type=Path),
            metavar="FILE FILE",
            help="Embeddings files of the same items by the two generations, in the order given.",
        ),
        click.option(
            "--texts",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="INPUT",
            help="Raw items (.txt, .jsonl, .csv) to embed with both generations (cached).",
        ),
        click.option(
            "--role",
            type=click.Choice(("query", "document")),
            help="With --texts: the recipe prefix both sides use "
            "[default: query for backward, document for forward].",
        ),
        column_options("With --texts: "),
        click.option(
            "--no-cache", is_flag=True, help="With --texts: embed again, ignoring the cache."
        ),
    )(fn)


def train_options(fn: F) -> F:
    """The schedule and family options shared by ``train`` and ``compare``."""
    return stack(
        click.option(
            "-o",
            "--option",
            "family_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="A family option (repeatable; 'embedreg adapter families' lists each "
            "family's options, their defaults and meaning).",
        ),
        device_option,
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            help="Most epochs (default 40; early stopping ends sooner).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            help="Pairs per step (default: about 32 steps per epoch).",
        ),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            help="Adam learning rate (default: 1e-3 scaled down for large maps).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seeds the split, batches and initialisation.",
        ),
        click.option(
            "--heldout",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.2,
            show_default=True,
            help="Fraction of the pairs kept out of training for the figures.",
        ),
    )(fn)


def parse_options(values: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (a malformed one is a usage error)."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"-o takes KEY=VALUE, got {value!r}")
        out[key.strip()] = text.strip()
    return out


def schedule(settings: dict[str, Any]) -> TrainConfig:
    """The training schedule from the command-line options (popped from ``settings``)."""
    from embedreg.training import TrainConfig

    given = {k: settings.pop(k) for k in _SCHEDULE_KEYS}
    return replace(TrainConfig(), **{k: v for k, v in given.items() if v is not None})


def load_data(
    reg: Registry,
    new: str,
    old: str,
    direction: str,
    settings: dict[str, Any],
    *,
    device: str,
    ordered: bool = True,
) -> PairedEmbeddings:
    """Paired vectors from ``--pairs`` or ``--texts`` (the data options popped from ``settings``)."""
    from embedreg.training import training_pairs

    data = {k: settings.pop(k) for k in _DATA_KEYS}
    if bool(data["pairs"]) == (data["texts"] is not None):
        raise click.UsageError("give either --pairs FILE FILE or --texts INPUT")
    with embedding_progress() as (update, cached):
        return training_pairs(
            reg,
            new,
            old,
            pairs=tuple(data["pairs"]) if data["pairs"] else None,
            texts=data["texts"],
            direction=direction,
            role=data["role"],
            device=device,
            text_field=data["columns"].text,
            id_field=data["columns"].id,
            label_field=data["columns"].label,
            use_cache=not data["no_cache"],
            progress=update,
            on_cached=cached,
            ordered=ordered,
        )
