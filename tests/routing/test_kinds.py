"""Path kinds: the fused and cascade options an adapter's record stores."""

from __future__ import annotations

from embedreg.registry.provenance import PathsRecord
from embedreg.routing.kinds import PathKind, stored_options


def test_a_stored_variant_interval_counts_the_held_out_queries_it_was_measured_on() -> None:
    stored = PathsRecord.from_dict(
        {
            "fitted": True,
            "heldout": 148,
            "variants": [
                {
                    "kind": "fused",
                    "t": 0.9,
                    "figures": {"retention": 1.024, "retention.interval": [0.968, 1.083]},
                    "cost": {"extra_encodes": 1},
                }
            ],
        }
    )
    (fused,) = stored_options(stored)
    assert fused.kind is PathKind.FUSED and fused.quality == 1.024 and fused.cost == 1
    assert fused.interval is not None
    assert (fused.interval.low, fused.interval.high, fused.interval.n) == (0.968, 1.083, 148)


def test_each_losing_option_says_why_it_lost() -> None:
    from embedreg.routing import RoutingPolicy
    from embedreg.routing.kinds import PathOption, choose_option

    mapped = PathOption(PathKind.MAP, 0.992, "fail")
    fused = PathOption(PathKind.FUSED, 1.024, "pass", 1, t=0.9)
    near = PathOption(PathKind.FUSED, 1.021, "pass", 1, t=0.8)
    cascade = PathOption(PathKind.CASCADE, 1.022, "pass", 20, k=20, first="map")
    weaker = PathOption(PathKind.FUSED, 0.984, "pass", 1, t=0.1)
    chosen, marked, reason = choose_option([mapped, fused, near, cascade, weaker], RoutingPolicy())
    assert chosen is fused and reason == "highest quality 1.024 (fused t=0.9)"
    why = {o.label(): w for o, w in marked}
    assert why["fused t=0.9"] is None and why["map"] == "fails the criterion"
    assert why["fused t=0.1"] == "lower quality (0.984 < 1.024)"
    assert why["cascade K=20 over map"] == "as good within 0.005, but 20 extra encode(s)"
    assert why["fused t=0.8"] == "lower quality (1.021 < 1.024) at the same cost"
