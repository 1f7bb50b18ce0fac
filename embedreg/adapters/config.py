"""Family configs: each adapter family declares its hyperparameters as a dataclass.

A family's :attr:`~embedreg.adapters.Adapter.config_class` is a frozen
dataclass derived from :class:`FamilyConfig` (the way peft gives each method
its own config).  Its fields are the family's options, with defaults and a
``help`` line in each field's metadata; :meth:`FamilyConfig.from_options`
builds one from ``key=value`` strings (what ``embedreg adapter train -o``
passes) or from typed values (what Python callers pass), refusing unknown
keys with the known ones named.

Example:
    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class RankConfig(FamilyConfig):
    ...     rank: int = field(default=8, metadata={"help": "rank of the correction"})
    >>> RankConfig.from_options({"rank": "4"}, family="demo").rank
    4
    >>> RankConfig.from_options({"rnak": "4"}, family="demo")
    Traceback (most recent call last):
    ...
    embedreg.errors.ValidationError: unknown option 'rnak' for adapter family 'demo' (known: rank); did you mean 'rank'? (or list every family's options with 'embedreg adapter families')
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from ..errors import ValidationError, did_you_mean

__all__ = [
    "FamilyConfig",
    "OptionInfo",
    "check_non_negative",
    "check_positive",
    "check_positive_int",
]

C = TypeVar("C", bound="FamilyConfig")

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")


@dataclass(frozen=True)
class OptionInfo:
    """One option of a family, as listings show it."""

    name: str
    type: str
    default: Any
    help: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``inf`` defaults as the string ``"inf"``)."""
        default = self.default
        if isinstance(default, float) and not math.isfinite(default):
            default = str(default)
        return {"name": self.name, "type": self.type, "default": default, "help": self.help}


@dataclass(frozen=True)
class FamilyConfig:
    """Hyperparameters of one adapter family; a family without options uses this class as is."""

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (recorded in the adapter's provenance)."""
        return asdict(self)

    @classmethod
    def options(cls) -> list[OptionInfo]:
        """The family's options: its own first, then those it inherits, each in declaration order."""
        hints = get_type_hints(cls)

        def depth(name: str) -> int:  # 0 for the class itself, 1 for its base …
            return next(i for i, k in enumerate(cls.__mro__) if name in inspect.get_annotations(k))

        return [
            OptionInfo(f.name, _type_name(hints[f.name]), f.default, f.metadata.get("help", ""))
            for f in sorted(fields(cls), key=lambda f: depth(f.name))
        ]

    @classmethod
    def from_options(cls: type[C], options: Mapping[str, Any], *, family: str) -> C:
        """A config from ``options``: strings are parsed by each field's type.

        ``true``/``false`` (also yes/no, on/off, 1/0) for flags, ``none`` for
        an optional value, ``inf`` for an unbounded float.

        Raises:
            ValidationError: an unknown key (naming the known ones) or a
                value that does not parse or is out of range.
        """
        hints = get_type_hints(cls)
        known = [o.name for o in cls.options()]
        values: dict[str, Any] = {}
        for key, value in options.items():
            if key not in known:
                names = ", ".join(known) if known else "none"
                raise ValidationError(
                    f"unknown option {key!r} for adapter family {family!r} (known: {names})",
                    did_you_mean(
                        key, known, "list every family's options with 'embedreg adapter families'"
                    ),
                )
            values[key] = (
                _parse(value, hints[key], key, family) if isinstance(value, str) else value
            )
        return cls(**values)


def _type_name(hint: Any) -> str:
    args = [a for a in get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    name = getattr(base, "__name__", str(base))
    return f"{name} or none" if len(get_args(hint)) > len(args) else name


def _parse(text: str, hint: Any, key: str, family: str) -> Any:
    args = get_args(hint)
    optional = get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    word = text.strip().lower()
    if optional and word in _NONE:
        return None
    try:
        if base is bool:
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ValueError(text)
        if base is int:
            return int(word)
        if base is float:
            return float(word)
    except ValueError:
        want = {bool: "true or false", int: "an integer", float: "a number"}[base]
        if optional:
            want += " or none"
        raise ValidationError(
            f"option {key}={text!r} of adapter family {family!r} is not {want}",
            f"write it as -o {key}=VALUE",
        ) from None
    return text


def check_positive_int(name: str, value: Any) -> None:
    """Refuse ``value`` unless it is an integer of at least 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")


def check_positive(name: str, value: Any) -> None:
    """Refuse ``value`` unless it is a number above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(f"{name} must be positive, got {value!r}")


def check_non_negative(name: str, value: Any) -> None:
    """Refuse ``value`` unless it is a number of at least 0 (``inf`` allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValidationError(f"{name} must be zero or positive, got {value!r}")
