"""One routing policy: its defaults, its checks, and the resolver honouring it whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.constants import DEFAULT_MAX_HOPS, DEFAULT_MIN_QUALITY
from embedreg.errors import NoCompatiblePath, ValidationError
from embedreg.registry import AdapterRecord, Figures
from embedreg.routing import PathKind, Resolver, RoutingPolicy


def registry(tmp_path: Path) -> Registry:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    parent = None
    for n, name in enumerate(("v1", "v2", "v3")):
        source = HubSource(f"org/{name}", f"{n:040x}")
        reg.add_generation(Generation(name, source, Recipe(), 8, parent=parent))
        parent = name
    return reg


def record(reg: Registry, ident: str, source: str, target: str, criterion: bool) -> None:
    figures = Figures(retention=0.9, retention_basis="cmc@1", criterion=criterion)
    reg.add_adapter(
        AdapterRecord(
            id=ident,
            source=source,
            target=target,
            direction="backward",
            family="affine",
            location=f"adapters/{ident}",
            sha256="0" * 64,
            figures=figures,
        )
    )


def test_defaults_are_the_routing_defaults() -> None:
    policy = RoutingPolicy()
    assert (policy.max_hops, policy.min_quality, policy.require_compatible) == (
        DEFAULT_MAX_HOPS,
        DEFAULT_MIN_QUALITY,
        False,
    )
    assert policy.kinds == frozenset(PathKind) and policy.max_query_cost is None
    assert policy.to_dict()["kinds"] == ["cascade", "fused", "map"]
    assert RoutingPolicy(min_quality=None).floor == 0.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_hops": -1}, "max_hops"),
        ({"min_quality": -0.1}, "min_quality"),
        ({"min_quality": float("nan")}, "min_quality"),
        ({"max_query_cost": -1.0}, "max_query_cost"),
        ({"kinds": frozenset()}, "no path kind"),
    ],
)
def test_bad_policies_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RoutingPolicy(**changes)  # type: ignore[arg-type]


def test_kinds_take_their_values_and_cost_limits() -> None:
    policy = RoutingPolicy(kinds=frozenset({"map"}), max_query_cost=2.0)  # type: ignore[arg-type]
    assert policy.kinds == frozenset({PathKind.MAP})
    assert policy.allows("map") and not policy.allows(PathKind.CASCADE)
    assert policy.within_cost(2.0) and not policy.within_cost(2.5)
    assert policy.replace(max_query_cost=None).within_cost(1e9)


def test_the_resolver_takes_the_policy_whole(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    record(reg, "a", "v3", "v2", criterion=False)
    record(reg, "b", "v2", "v1", criterion=True)
    assert Resolver(reg).policy == RoutingPolicy()
    assert Resolver(reg).resolve("v3", "v1").adapter_ids == ["a", "b"]
    with pytest.raises(NoCompatiblePath, match="at most 1"):
        Resolver(reg, RoutingPolicy(max_hops=1)).resolve("v3", "v1")
    with pytest.raises(NoCompatiblePath, match=r"below the minimum 0\.900"):
        Resolver(reg, RoutingPolicy(min_quality=0.9)).resolve("v3", "v1")
    with pytest.raises(NoCompatiblePath, match="compatibility is required"):
        Resolver(reg, RoutingPolicy(require_compatible=True)).resolve("v3", "v1")
    fused_only = RoutingPolicy(kinds=frozenset({PathKind.FUSED}))
    with pytest.raises(NoCompatiblePath, match="allows no map path"):
        Resolver(reg, fused_only).resolve("v3", "v2")
    assert Resolver(reg, fused_only).resolve("v3", "v3").is_identity
