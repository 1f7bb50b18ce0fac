"""A searching process for the write-back crash test: cascades with write-back, in a loop.

python writeback_search.py REGISTRY GALLERY ROUNDS
"""

from __future__ import annotations

import sys

from embedreg import Registry
from embedreg.gallery import Gallery
from embedreg.gallery.kinded import route_kinds, search_routed
from embedreg.routing.policy import PathKind, RoutingPolicy

QUERIES = (
    "shares fell on the stock market",
    "the striker scored twice in the final",
    "the election campaign enters its last week",
    "a new phone with a faster chip",
)


def main() -> None:
    reg = Registry.open(sys.argv[1])
    v2 = reg.generation("v2")
    policy = RoutingPolicy(kinds=frozenset({PathKind.CASCADE}), max_query_cost=20)
    for n in range(int(sys.argv[3])):
        g = Gallery.load(sys.argv[2])
        routes = route_kinds(g, v2, reg, policy)
        hits = search_routed(
            g, [QUERIES[n % len(QUERIES)]], 5, routes, generation=v2, registry=reg,
            device="cpu", write_back=4,
        )  # fmt: skip
        print(n, hits.written, flush=True)


if __name__ == "__main__":
    main()
