"""``--paths`` and ``--max-query-cost``: which path kinds a routing command may take.

A query path is a compiled map, a fused path (the gallery's own generation
embeds the query too) or a cascade (the top K re-scored in the query's own
space); see :mod:`embedreg.routing.kinds`.  The options add the allowed kinds
and the cost limit (extra encoder passes a query) to a command's routing
policy.
"""

from __future__ import annotations

import functools
from typing import Any

import click

KIND_CHOICES = ("map", "fused", "cascade")


def parse_kinds(value: str) -> frozenset[Any]:
    """``any`` or a comma-separated list of ``map``, ``fused``, ``cascade``."""
    from embedreg.routing.policy import PathKind

    if value.strip() == "any":
        return frozenset(PathKind)
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in KIND_CHOICES]
    if bad or not names:
        raise click.BadParameter(
            f"{', '.join(bad) or value!r}: give any, or one or more of {', '.join(KIND_CHOICES)}"
        )
    return frozenset(PathKind(n) for n in names)


def path_kind_options(fn: Any) -> Any:
    """``--paths`` (default any) and ``--max-query-cost`` (default: no limit), set on ``policy``.

    Goes right under :func:`~.context.routing_options`, which builds the policy.
    """

    @functools.wraps(fn)
    def with_kinds(*args: Any, **kwargs: Any) -> Any:
        kinds = parse_kinds(kwargs.pop("path_kinds"))
        cost = kwargs.pop("max_query_cost")
        kwargs["policy"] = kwargs["policy"].replace(kinds=kinds, max_query_cost=cost)
        return fn(*args, **kwargs)

    decorated: Any = with_kinds
    decorated = click.option(
        "--max-query-cost",
        type=click.FloatRange(min=0.0),
        default=None,
        help="The most extra encoder passes a query may cost (fused: 1, the gallery's "
        "generation embeds the query; cascade: K candidates embedded by the query's "
        "generation). Default: no limit.",
    )(decorated)
    return click.option(
        "--paths",
        "path_kinds",
        default="any",
        show_default=True,
        metavar="any|map|fused|cascade[,…]",
        help="Path kinds allowed: the compiled map, fused with the gallery generation's own "
        "query, a re-ranking cascade; chosen by held-out quality first, then cost.",
    )(decorated)


def only_maps(policy: Any) -> bool:
    """Whether ``policy`` allows the compiled map alone (the routing of before)."""
    from embedreg.routing.policy import PathKind

    return bool(policy.kinds == frozenset({PathKind.MAP}))
