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
