"""The plan's recommendation: the cheapest good strategy, a one-off cost before a per-query one."""

from __future__ import annotations

from embedreg.upgrade.plan import StrategyRow, _recommend
from embedreg.upgrade.quality import Estimate


def row(
    strategy: str, value: float, seconds: float, spread: float = 0.02, encodes: int = 0
) -> StrategyRow:
    return StrategyRow(
        strategy=strategy,
        items=0 if strategy.startswith("adapt") else 100,
        quality=Estimate(value, value - spread, value + spread),
        seconds=seconds,
        disk_bytes=0,
        memory_bytes=None,
        extra_encodes=encodes,
    )


def test_a_cascade_as_good_as_reembedding_is_not_preferred_for_its_zero_upgrade_seconds() -> None:
    rows = [
        row("adapt-queries", 0.92, 0.0),
        row("reembed", 1.10, 40.0),
        row("adapt-queries:cascade", 1.09, 0.0, encodes=100),
    ]
    pick, why = _recommend(rows, "v3", ["v1"], 100)
    assert pick == "reembed"
    assert "preferred to adapt-queries:cascade (100 extra encodes a query)" in why


def test_a_per_query_path_is_taken_when_nothing_else_is_as_good() -> None:
    rows = [
        row("adapt-queries", 0.92, 0.0),
        row("reembed", 1.10, 40.0, spread=0.01),
        row("adapt-queries:fused", 1.20, 0.0, spread=0.01, encodes=1),
        row("adapt-queries:cascade", 1.21, 0.0, spread=0.01, encodes=50),
    ]
    pick, why = _recommend(rows, "v3", ["v1"], 100)
    assert pick == "adapt-queries:fused"  # tied with the cascade on quality, fewer encodes a query
    assert "1 extra encoder pass(es) on every query" in why


def test_among_rows_without_per_query_cost_the_fastest_good_one_wins() -> None:
    rows = [
        row("adapt-queries", 1.09, 0.0),
        row("forward", 1.05, 3.0),
        row("reembed", 1.10, 40.0),
    ]
    assert _recommend(rows, "v3", ["v1"], 100)[0] == "adapt-queries"
