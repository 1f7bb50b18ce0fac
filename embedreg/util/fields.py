"""Field checks shared by the ``from_dict`` constructors of stored records."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError


def check_fields(kind: str, data: Any, allowed: set[str], required: set[str]) -> None:
    """Raise :class:`ValidationError` unless ``data`` is a dict with exactly known fields."""
    if not isinstance(data, dict):
        raise ValidationError(f"{kind}: expected an object, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError(f"{kind}: unknown field(s) {', '.join(sorted(unknown))}")
    missing = required - set(data)
    if missing:
        raise ValidationError(f"{kind}: missing field(s) {', '.join(sorted(missing))}")
