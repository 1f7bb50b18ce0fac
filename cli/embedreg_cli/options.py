"""The options commands share, each declared once, and the one way to stack them.

``--device``, ``--batch-size``, ``--num-processes``, ``--chunk-size``,
``--json``; the input columns (``--column``, ``--id-column``,
``--label-column``, ``--image-column``, passed on as one
:class:`~embedreg.data.InputColumns`) and the routing options
(``--max-hops``, ``--min-quality``, ``--require-compatible``, passed on as one
:class:`~embedreg.routing.RoutingPolicy`).  :func:`stack` groups decorators;
:func:`gathered` passes a group of options on as one value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from embedreg.constants import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY
from embedreg.devices import DEVICE_HELP

if TYPE_CHECKING:
    from embedreg.data import InputColumns
    from embedreg.routing import RoutingPolicy

F = TypeVar("F", bound=Callable[..., Any])


def stack(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """The ``decorators`` as one, applied as if written one above the other (first on top).

    The one way commands share a group of options:
    ``input_options = stack(column_options(), batch_size_option, device_option)``.
    """

    def apply(fn: F) -> F:
        out: Any = fn
        for decorator in reversed(decorators):
            out = decorator(out)
        return cast(F, out)

    return apply


def device_option(fn: F) -> F:
    """``--device``: where models run (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    return click.option("--device", default="auto", show_default=True, help=DEVICE_HELP + ".")(fn)


def batch_size_option(fn: F) -> F:
    """``--batch-size``: inputs per forward pass (32)."""
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=32,
        show_default=True,
        help="Texts per forward pass.",
    )(fn)


def num_processes_option(fn: F) -> F:
    """``--num-processes``: encode data-parallel in N processes (1)."""
    return click.option(
        "--num-processes",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Encode data-parallel in N processes (started with accelerate), in checkpointed "
        "chunks.",
    )(fn)


def chunk_size_option(default: int, help_text: str) -> Callable[[F], F]:
    """``--chunk-size``: items per checkpointed chunk; ``default`` and ``help_text`` are the command's."""
    return click.option(
        "--chunk-size",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help=help_text,
    )


def _legacy_columns(fn: F) -> F:
    """``--text-field`` / ``--id-field``: hidden, deprecated spellings of ``--column`` / ``--id-column``."""

    @functools.wraps(fn)
    def with_aliases(*args: Any, **kwargs: Any) -> Any:
        for old, new, name in (
            ("--text-field", "--column", "text_field"),
            ("--id-field", "--id-column", "id_field"),
        ):
            value = kwargs.pop("legacy_" + name)
            if value is not None:
                click.echo(f"Note: {old} is deprecated; use {new} (same meaning).", err=True)
                kwargs[name] = value
        return fn(*args, **kwargs)

    decorated: Any = with_aliases
    for old, name in (("--text-field", "text_field"), ("--id-field", "id_field")):
        decorated = click.option(old, "legacy_" + name, hidden=True)(decorated)
    return cast(F, decorated)


def _columns(
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    image_field: str | None = None,
) -> InputColumns:
    from embedreg.data import InputColumns

    return InputColumns(text=text_field, id=id_field, label=label_field, image=image_field)


def image_column_option(when: str = "") -> Callable[[F], F]:
    """``--image-column``: the field or column of an image list naming image files.

    ``when`` prefixes the help (e.g. ``"With --images: "``).
    """
    text = "field or column naming image files, relative to the list's folder (default: 'image')."
    return click.option(
        "--image-column", "image_field", help=when + text if when else text[0].upper() + text[1:]
    )


def column_options(
    when: str = "", *, images: bool = False, labels: bool = True, aliases: bool = False
) -> Callable[[F], F]:
    """``--column``, ``--id-column`` and ``--label-column``: one ``columns`` argument.

    The command receives them as one :class:`~embedreg.data.InputColumns`
    named ``columns``.  ``when`` prefixes the help (e.g. ``"With --texts: "``);
    ``images`` adds ``--image-column`` (the field or column naming image
    files); ``labels`` ``--label-column`` (off for a command whose inputs
    carry no labels it keeps); ``aliases`` the old spellings
    ``--text-field`` and ``--id-field`` (hidden, with a deprecation note on
    stderr).
    """

    def say(text: str) -> str:
        return when + text if when else text[0].upper() + text[1:]

    fields = ("text_field", "id_field") + ("label_field",) * labels + ("image_field",) * images

    def decorate(fn: F) -> F:
        fn = gathered("columns", _columns, fields)(fn)
        if aliases:
            fn = _legacy_columns(fn)
        if images:
            fn = image_column_option(when)(fn)
        if labels:
            fn = click.option(
                "--label-column",
                "label_field",
                help=say("field or column of labels (default: 'label' when present)."),
            )(fn)
        fn = click.option(
            "--id-column",
            "id_field",
            help=say("field or column of ids (default: 'id' when present)."),
        )(fn)
        return click.option(
            "--column",
            "text_field",
            default="text",
            show_default=True,
            help=say("JSONL field or CSV column of the text."),
        )(fn)

    return decorate


def json_option(fn: F) -> F:
    """``--json``: print pure JSON on stdout instead of a table on stderr."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(fn)


def gathered(name: str, build: Callable[..., Any], fields: Sequence[str]) -> Callable[[F], F]:
    """Pass the options ``fields`` on to the command as one argument ``name``: ``build(**values)``.

    Only the fields the command declares are gathered (a command may declare
    fewer); ``build`` imports what it builds when called, so that declaring
    a command stays light.  Example:
    ``stack(click.option("--max-hops", type=int), gathered("policy", policy, ("max_hops",)))``.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def with_value(*args: Any, **kwargs: Any) -> Any:
            value = build(**{k: kwargs.pop(k) for k in fields if k in kwargs})
            return fn(*args, **{name: value}, **kwargs)

        return cast(F, with_value)

    return decorate


def _policy(**values: Any) -> RoutingPolicy:
    from embedreg.routing import RoutingPolicy

    return RoutingPolicy(**values)


def routing_options(fn: F) -> F:
    """``--max-hops``, ``--min-quality``, ``--require-compatible``: one ``policy`` argument.

    The command receives them as one :class:`~embedreg.routing.RoutingPolicy`
    named ``policy`` (never as three values).
    """
    fields = ("max_hops", "min_quality", "require_compatible")
    decorated: Any = gathered("policy", _policy, fields)(fn)
    decorated = click.option(
        "--require-compatible",
        is_flag=True,
        help="Refuse paths unless every adapter on them passed the compatibility criterion "
        "on held-out data (label-free adapters are not judged).",
    )(decorated)
    decorated = click.option(
        "--min-quality",
        type=click.FloatRange(min=0.0),
        default=DEFAULT_MIN_QUALITY,
        show_default=True,
        help="Refuse paths whose quality (product of the hops' retentions; 1.0 = as good as "
        "the gallery's own queries) is lower (0 accepts every measured path).",
    )(decorated)
    decorated = click.option(
        "--max-hops",
        type=click.IntRange(min=0),
        default=DEFAULT_MAX_HOPS,
        show_default=True,
        help="Longest chain of adapters to consider.",
    )(decorated)
    return cast(F, decorated)
