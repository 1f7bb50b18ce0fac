"""The data options the ``embedreg eval`` commands share, and how they are read.

``--texts INPUT`` (labelled items, with the input's column options) or
``--qrels/--queries/--corpus`` (judged queries), read into an
:class:`~embedreg.reports.EvalSet`; ``--device`` and ``--batch-size`` read
into one :class:`~embedreg.models.EncodeOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .options import batch_size_option, column_options, device_option, stack

if TYPE_CHECKING:
    from embedreg.models import EncodeOptions
    from embedreg.reports import EvalSet

F = TypeVar("F", bound=Callable[..., Any])

_DATA_KEYS = ("texts", "columns", "qrels", "queries", "corpus")


def data_options(fn: F) -> F:
    """``--texts INPUT`` (labelled items) or ``--qrels/--queries/--corpus`` (judged queries)."""
    return stack(
        click.option(
            "--texts",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="INPUT",
            help="Items (.txt, .jsonl, .csv); with labels each is a query among the others.",
        ),
        column_options("With --texts: "),
        click.option(
            "--qrels",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="TSV",
            help="Judgements, BEIR's 'query-id corpus-id score' TSV (with --queries, --corpus).",
        ),
        click.option(
            "--queries",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="FILE",
            help="With --qrels: the judged queries (BEIR queries.jsonl or an input file).",
        ),
        click.option(
            "--corpus",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="FILE",
            help="With --qrels: the items searched (BEIR corpus.jsonl or an input file).",
        ),
        device_option,
        batch_size_option,
    )(fn)


def eval_set(settings: dict[str, Any], *, required: bool = True) -> EvalSet | None:
    """The evaluation data from the data options (popped from ``settings``)."""
    from embedreg.reports import EvalSet

    d = {k: settings.pop(k) for k in _DATA_KEYS}
    judged = [d["qrels"], d["queries"], d["corpus"]]
    if d["texts"] is not None and any(judged):
        raise click.UsageError("give either --texts or --qrels/--queries/--corpus, not both")
    if any(judged):
        if not all(judged):
            raise click.UsageError("--qrels needs --queries and --corpus (all three)")
        return EvalSet.from_qrels(d["queries"], d["corpus"], d["qrels"])
    if d["texts"] is None:
        if required:
            raise click.UsageError("give --texts INPUT or --qrels TSV --queries FILE --corpus FILE")
        return None
    columns = d["columns"]
    return EvalSet.from_texts(
        d["texts"], text_field=columns.text, id_field=columns.id, label_field=columns.label
    )


def encode_options(settings: dict[str, Any]) -> EncodeOptions:
    """``--device`` and ``--batch-size`` as one value (popped from ``settings``)."""
    from embedreg.models import EncodeOptions

    return EncodeOptions(device=settings.pop("device"), batch_size=settings.pop("batch_size"))
