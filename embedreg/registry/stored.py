"""Typed records stored as JSON objects: the registry's serialisation boundary.

An adapter's figures, provenance and selection are typed, frozen values
(:mod:`.figures`, :mod:`.provenance`); ``registry.json`` keeps them as plain
JSON objects, exactly as it always has.  This module is the one place that
turns one into the other: every field of a :class:`StoredRecord` names its
stored key and its kind (:func:`stored`), and :meth:`StoredRecord.from_dict`
/ :meth:`StoredRecord.to_dict` convert by those declarations.

The conversion is lossless, so that files written by older and newer
versions of embedreg, and by plugin families, round-trip unchanged:

- a key no field declares (a plugin family's own figure, a key a newer
  version adds) is kept in :attr:`StoredRecord.extra`;
- a key stored with a value of the wrong type is kept there too, as it was;
- a key stored empty (``{}``, ``[]``) is kept there too, while its field
  holds the empty value it defaults to;
- a key stored as ``null`` (a figure measured without a value: the
  criterion without labels, the defect of a non-affine family) is kept in
  :attr:`StoredRecord.nulls`, so that ``null`` and *absent* stay apart;
- a field whose kind is a nested record under a prefix (``target.cmc@1`` →
  ``target`` → ``cmc@1``) collects every key with that prefix.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True, repr=False)
    ... class Point(StoredRecord):
    ...     x: float | None = stored("x", FLOAT)
    ...     label: str | None = stored("label", STR)
    >>> p = Point.from_dict({"x": 1.5, "label": None, "colour": "red"})
    >>> p.x, p.label, p.nulls, dict(p.extra)
    (1.5, None, frozenset({'label'}), {'colour': 'red'})
    >>> p.to_dict() == {"x": 1.5, "label": None, "colour": "red"}
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from ..errors import ValidationError

__all__ = [
    "ANY",
    "BOOL",
    "FLOAT",
    "INT",
    "MAPPING",
    "SPAN",
    "STR",
    "STRS",
    "Kind",
    "StoredRecord",
    "nested",
    "prefixed",
    "records",
    "stored",
]

R = TypeVar("R", bound="StoredRecord")

#: Metadata key of a field's stored key, and of its kind.
_KEY = "embedreg.key"
_KIND = "embedreg.kind"
_PREFIX = "embedreg.prefix"


@dataclass(frozen=True)
class Kind:
    """How one field is read from and written to JSON.

    ``decode`` returns ``(True, value)`` for a stored value of the right type
    and ``(False, None)`` otherwise (the key is then kept in ``extra``);
    ``encode`` gives the JSON form back.
    """

    name: str
    decode: Callable[[Any], tuple[bool, Any]]
    encode: Callable[[Any], Any]


def _copy(value: Any) -> Any:
    """A copy of a JSON value (objects and lists copied, scalars shared)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar(name: str, test: Callable[[Any], bool]) -> Kind:
    return Kind(name, lambda v: (True, v) if test(v) else (False, None), lambda v: v)


#: A number (an ``int`` stays an ``int``: the stored form is kept as it was).
FLOAT = _scalar("float", _is_number)
#: An integer (never a bool).
INT = _scalar("int", lambda v: isinstance(v, int) and not isinstance(v, bool))
#: ``true`` / ``false``.
BOOL = _scalar("bool", lambda v: isinstance(v, bool))
#: A string.
STR = _scalar("str", lambda v: isinstance(v, str))
#: Any JSON value, copied.
ANY = Kind("any", lambda v: (True, _copy(v)), _copy)


def _decode_mapping(v: Any) -> tuple[bool, Any]:
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return True, _copy(v)
    return False, None


#: A JSON object kept as a mapping (family settings, hyperparameters).
MAPPING = Kind("mapping", _decode_mapping, lambda v: _copy(dict(v)))


def _decode_span(v: Any) -> tuple[bool, Any]:
    if isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v):
        return True, (v[0], v[1])
    return False, None


#: ``[low, high]`` (an interval), as a tuple.
SPAN = Kind("span", _decode_span, list)


def _decode_strs(v: Any) -> tuple[bool, Any]:
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return True, tuple(v)
    return False, None


#: A list of strings, as a tuple.
STRS = Kind("strs", _decode_strs, list)


def nested(cls: type[StoredRecord] | Callable[[], type[StoredRecord]]) -> Kind:
    """A JSON object read as the record ``cls`` (or ``cls()``'s class: a record nesting itself)."""

    def resolve() -> type[StoredRecord]:
        return cls if isinstance(cls, type) else cls()

    def decode(v: Any) -> tuple[bool, Any]:
        return (True, resolve().from_dict(v)) if isinstance(v, dict) else (False, None)

    return Kind("record", decode, lambda v: v.to_dict())


def records(cls: type[StoredRecord]) -> Kind:
    """A JSON list of objects read as a tuple of ``cls`` records."""

    def decode(v: Any) -> tuple[bool, Any]:
        if isinstance(v, list) and all(isinstance(x, dict) for x in v):
            return True, tuple(cls.from_dict(x) for x in v)
        return False, None

    return Kind(f"records {cls.__name__}", decode, lambda v: [x.to_dict() for x in v])


def stored(key: str, kind: Kind, *, factory: Callable[[], Any] | None = None) -> Any:
    """A field stored under ``key`` as ``kind``.

    It defaults to ``None`` (not recorded) or, with ``factory``, to an empty
    value (an empty record, mapping or tuple), which is not written either.
    """
    meta = {_KEY: key, _KIND: kind}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=None, metadata=meta)


def _unset(value: Any) -> bool:
    """Whether a field's value is not written: ``None``, or an empty record, mapping or tuple."""
    if isinstance(value, StoredRecord):
        return value.is_empty()
    return value is None or (isinstance(value, (Mapping, tuple)) and not value)


def prefixed(
    prefix: str, cls: type[StoredRecord] | Callable[[], type[StoredRecord]], *, empty: bool = True
) -> Any:
    """A nested ``cls`` record whose keys are stored flat, each after ``prefix`` and a dot.

    ``empty``: the field defaults to an empty ``cls()`` (else to ``None``);
    ``cls`` may be a function giving the class, for a record that nests itself.
    """
    meta = {_PREFIX: prefix + ".", _KIND: nested(cls)}
    if empty and isinstance(cls, type):  # one shared empty record: it is frozen
        return field(default=cls(), metadata=meta)
    return field(default=None, metadata=meta)


def _default_extra() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, kw_only=True, repr=False)
class StoredRecord:
    """Base of the typed records the registry stores as JSON objects.

    Subclasses are ``@dataclass(frozen=True, kw_only=True, repr=False)``
    (keyword construction; the repr shows what is recorded only).

    Attributes:
        extra: stored keys no field declares, or stored with a value of the
            wrong type, as they were (plugin families' figures, newer keys).
        nulls: the declared keys stored as ``null``.
    """

    extra: Mapping[str, Any] = field(default_factory=_default_extra)
    nulls: frozenset[str] = frozenset()

    _layout: ClassVar[dict[type, tuple[dict[str, Field[Any]], dict[str, Field[Any]]]]] = {}

    def __post_init__(self) -> None:
        if not self.extra and not self.nulls:
            return
        keys, prefixes = self._fields()
        # a declared key stays in extra only as stored with a value of the wrong type, or empty
        clash = [
            k
            for k in self.extra
            if (k in keys and (not _unset(getattr(self, keys[k].name)) or k in self.nulls))
            or any(k.startswith(p) for p in prefixes)
        ]
        if clash:
            raise ValidationError(
                f"{type(self).__name__}: extra keys {', '.join(sorted(clash))} are fields",
                "pass them as keyword arguments",
            )
        unknown = sorted(self.nulls - set(keys))
        if unknown:
            raise ValidationError(
                f"{type(self).__name__}: nulls {', '.join(unknown)} are no stored keys"
            )

    @classmethod
    def _fields(cls) -> tuple[dict[str, Field[Any]], dict[str, Field[Any]]]:
        """(stored key → field, prefix → field) of this class."""
        found = StoredRecord._layout.get(cls)
        if found is None:
            keys = {f.metadata[_KEY]: f for f in fields(cls) if _KEY in f.metadata}
            prefixes = {f.metadata[_PREFIX]: f for f in fields(cls) if _PREFIX in f.metadata}
            found = StoredRecord._layout[cls] = (keys, prefixes)
        return found

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The record stored as ``data`` (every key kept: see the module docstring)."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        keys, prefixes = cls._fields()
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        nulls: set[str] = set()
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            f = keys.get(key)
            if f is None:
                prefix = next((p for p in prefixes if key.startswith(p)), None)
                if prefix is not None:
                    grouped.setdefault(prefix, {})[key[len(prefix) :]] = value
                else:
                    extra[key] = _copy(value)
            elif value is None:
                nulls.add(key)
            else:
                ok, parsed = f.metadata[_KIND].decode(value)
                if ok and not (isinstance(value, (dict, list)) and not value):
                    values[f.name] = parsed
                else:  # the wrong type, or empty ({} or []): kept as it was stored
                    extra[key] = _copy(value)
        for prefix, sub in grouped.items():
            values[prefixes[prefix].name] = prefixes[prefix].metadata[_KIND].decode(sub)[1]
        return cls(**values, extra=extra, nulls=frozenset(nulls))

    def to_dict(self) -> dict[str, Any]:
        """The stored form: :meth:`from_dict` of it gives this record back."""
        keys, prefixes = self._fields()
        out: dict[str, Any] = {}
        for key, f in keys.items():
            value = getattr(self, f.name)
            stored = f.metadata[_KIND].encode(value) if value is not None else None
            if stored is not None and stored != {} and stored != []:  # empty: not written
                out[key] = stored
            elif key in self.nulls:
                out[key] = None
        for prefix, f in prefixes.items():
            value = getattr(self, f.name)
            if value is not None:
                out.update((prefix + k, v) for k, v in value.to_dict().items())
        out.update(_copy(dict(self.extra)))
        return out

    @classmethod
    def recorded(cls: type[R], **values: Any) -> R:
        """The record of ``values`` by field name, each ``None`` among them stored as ``null``.

        For a record whose keys are all written, measured or not (keyword
        construction otherwise leaves a ``None`` field out of the stored form).

        Example:
            >>> from embedreg.registry.provenance import TrainingRun
            >>> TrainingRun.recorded(device="cpu", batch_size=None).to_dict()
            {'device': 'cpu', 'batch_size': None}
        """
        keys = {f.name: key for key, f in cls._fields()[0].items()}
        nulls = frozenset(keys[name] for name, v in values.items() if v is None and name in keys)
        return cls(**values, nulls=nulls)

    def __repr__(self) -> str:
        """Only what is recorded: ``Figures(recall_at_1=0.9, nulls={'criterion'})``."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if not _unset(value) and value != frozenset():
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def is_empty(self) -> bool:
        """Whether nothing at all is recorded (the stored form is ``{}``).

        Example:
            >>> StoredRecord().is_empty(), StoredRecord(extra={"a": 1}).is_empty()
            (True, False)
        """
        if self.extra or self.nulls:
            return False
        keys, prefixes = self._fields()
        return all(_unset(getattr(self, f.name)) for f in (*keys.values(), *prefixes.values()))
