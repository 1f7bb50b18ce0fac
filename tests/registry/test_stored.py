"""The stored-record machinery: keys declared per field, unknown, mistyped, empty and null keys kept."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest
from embedreg.errors import ValidationError
from embedreg.registry.stored import (
    FLOAT,
    INT,
    MAPPING,
    SPAN,
    STR,
    StoredRecord,
    nested,
    prefixed,
    records,
    stored,
)


@dataclass(frozen=True, kw_only=True, repr=False)
class Inner(StoredRecord):
    n: int | None = stored("n", INT)


@dataclass(frozen=True, kw_only=True, repr=False)
class Outer(StoredRecord):
    x: float | None = stored("x", FLOAT)
    name: str | None = stored("name", STR)
    band: tuple[float, float] | None = stored("band", SPAN)
    opts: dict[str, object] = stored("opts", MAPPING, factory=dict)
    inner: Inner = stored("inner", nested(Inner), factory=Inner)
    rows: tuple[Inner, ...] = stored("rows", records(Inner), factory=tuple)
    side: Inner = prefixed("side", Inner)


def test_declared_keys_become_typed_fields():
    rec = Outer.from_dict(
        {
            "x": 0.5,
            "band": [0.1, 0.9],
            "inner": {"n": 3},
            "rows": [{"n": 1}, {"n": 2}],
            "side.n": 7,
            "opts": {"a": [1]},
        }
    )
    assert rec.x == 0.5 and rec.band == (0.1, 0.9) and rec.inner.n == 3
    assert [r.n for r in rec.rows] == [1, 2] and rec.side.n == 7 and rec.opts == {"a": [1]}
    assert rec.extra == {} and rec.nulls == frozenset()
    with pytest.raises(FrozenInstanceError):
        rec.x = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "stored_form",
    [
        {},
        {"x": None, "name": None},  # null is not absent
        {"x": "not a number", "band": [1], "inner": 3},  # the wrong types stay as they were
        {"x": 1, "x2": {"deep": [1, 2]}, "side.n": 2, "side.other": "s"},  # unknown keys
        {"opts": {}, "rows": [], "inner": {}},  # empty values stay empty
        {"inner": {"n": None, "m": 1}, "rows": [{"n": True}]},
        {"x": True},  # a bool is no number
    ],
)
def test_every_stored_form_round_trips(stored_form):
    rec = Outer.from_dict(stored_form)
    assert rec.to_dict() == stored_form
    assert Outer.from_dict(rec.to_dict()) == rec


def test_keyword_construction_round_trips_and_is_checked():
    rec = Outer(
        x=2.0, inner=Inner(n=1), rows=(Inner(n=2),), side=Inner(n=3), nulls=frozenset({"name"})
    )
    assert rec.to_dict() == {
        "x": 2.0,
        "name": None,
        "inner": {"n": 1},
        "rows": [{"n": 2}],
        "side.n": 3,
    }
    assert Outer.from_dict(rec.to_dict()) == rec
    assert repr(rec) == (
        "Outer(nulls=frozenset({'name'}), x=2.0, inner=Inner(n=1), rows=(Inner(n=2),), side=Inner(n=3))"
    )
    with pytest.raises(ValidationError, match="extra keys x are fields"):
        Outer(x=1.0, extra={"x": 2.0})
    with pytest.raises(ValidationError, match=r"extra keys side\.n are fields"):
        Outer(extra={"side.n": 2})
    with pytest.raises(ValidationError, match="nulls y are no stored keys"):
        Outer(nulls=frozenset({"y"}))
    with pytest.raises(ValidationError, match="expected an object"):
        Outer.from_dict([1, 2])  # type: ignore[arg-type]


def test_the_stored_form_is_a_copy():
    data = {"opts": {"a": [1]}, "unknown": {"b": [2]}}
    rec = Outer.from_dict(data)
    data["opts"]["a"].append(9)
    data["unknown"]["b"].append(9)
    out = rec.to_dict()
    assert out == {"opts": {"a": [1]}, "unknown": {"b": [2]}}
    out["opts"]["a"].append(5)
    assert rec.opts == {"a": [1]}


def test_records_pickle_and_share_no_state():
    import pickle

    rec = Outer.from_dict({"x": 1.0, "side.n": 2, "rows": [{"n": 1}], "other": [1]})
    assert pickle.loads(pickle.dumps(rec)) == rec
    a, b = Outer(), Outer()
    assert a.side == b.side == Inner() and a.extra == {} and a.extra is not b.extra
