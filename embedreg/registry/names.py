"""Validation of the names of generations, aliases, adapters and galleries.

Example:
    >>> validate_name("v2")
    'v2'
    >>> validate_name("All-MiniLM")
    Traceback (most recent call last):
    ...
    embedreg.errors.InvalidName: invalid generation name 'All-MiniLM'; names use lower-case letters, digits, '.', '_' and '-' and start with a letter or digit
"""

from __future__ import annotations

from ..constants import NAME_MAX_LENGTH, NAME_RE
from ..errors import InvalidName


def validate_name(name: str, kind: str = "generation") -> str:
    """Return ``name`` if it is a valid registry name, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidName(kind, str(name))
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidName(kind, name, f"names are at most {NAME_MAX_LENGTH} characters")
    return name
