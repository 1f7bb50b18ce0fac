"""The registry document: generations, adapters, galleries and aliases, parsed and checked.

:class:`RegistryDocument` is the content of ``registry.json`` as objects.
:meth:`RegistryDocument.parse` refuses a damaged or newer file (it is never
guessed at, and never overwritten) and migrates an older one in memory
(:func:`migrate`; it is written in the current schema on the next change);
:meth:`RegistryDocument.serialize` writes sorted, indented JSON that diffs
well under version control.

Example:
    >>> doc = RegistryDocument()
    >>> RegistryDocument.parse(doc.serialize(), "registry.json").schema_version
    3
    >>> old = b'{"schema_version": 1, "generations": {}}'
    >>> RegistryDocument.parse(old, "registry.json").schema_version
    3
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..constants import SCHEMA_VERSION
from ..errors import (
    CorruptedRegistry,
    EmbedRegError,
    SchemaVersionError,
    UnknownGeneration,
    ValidationError,
)
from .generation import Generation
from .names import validate_name
from .records import AdapterRecord, GalleryRecord

__all__ = ["RegistryDocument", "migrate"]

T = TypeVar("T")

_TOP_LEVEL = {"schema_version", "generations", "adapters", "galleries", "aliases"}


@dataclass
class RegistryDocument:
    """The parsed, validated content of ``registry.json``."""

    generations: dict[str, Generation] = field(default_factory=dict)
    adapters: dict[str, AdapterRecord] = field(default_factory=dict)
    galleries: dict[str, GalleryRecord] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # --- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "schema_version": self.schema_version,
            "generations": {k: g.to_dict() for k, g in self.generations.items()},
            "adapters": {k: a.to_dict() for k, a in self.adapters.items()},
            "galleries": {k: g.to_dict() for k, g in self.galleries.items()},
            "aliases": dict(self.aliases),
        }

    def serialize(self) -> bytes:
        """Sorted, indented UTF-8 JSON with a final newline: stable across writes."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def parse(cls, raw: bytes, location: str) -> RegistryDocument:
        """Parse and validate a document; never guesses at a damaged one.

        Raises:
            SchemaVersionError: written by a newer schema.
            CorruptedRegistry: not JSON, not the expected shape, or inconsistent.
        """
        try:
            data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        except UnicodeDecodeError as exc:
            raise CorruptedRegistry(location, f"not UTF-8 text: {exc.reason}") from None
        except json.JSONDecodeError as exc:
            raise CorruptedRegistry(
                location, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        except _DuplicateKey as exc:
            raise CorruptedRegistry(
                location, f"the key {exc.key!r} appears twice in one object"
            ) from None
        except RecursionError:
            raise CorruptedRegistry(location, "it is nested too deeply to be a registry") from None
        if not isinstance(data, dict):
            raise CorruptedRegistry(location, "the top level is not an object")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CorruptedRegistry(location, f"schema_version is {version!r}")
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(location, version, SCHEMA_VERSION)
        data = migrate(data, version)
        unknown = set(data) - _TOP_LEVEL
        if unknown:
            raise CorruptedRegistry(
                location, f"unknown top-level field(s) {', '.join(sorted(unknown))}"
            )
        try:
            doc = cls(
                generations=_parse_map(data, "generations", Generation.from_dict, "name"),
                adapters=_parse_map(data, "adapters", AdapterRecord.from_dict, "id"),
                galleries=_parse_map(data, "galleries", GalleryRecord.from_dict, "name"),
                aliases=_parse_aliases(data.get("aliases", {})),
                schema_version=SCHEMA_VERSION,
            )
            doc.check()
        except (EmbedRegError, ValueError, TypeError) as exc:
            detail = exc.message if isinstance(exc, EmbedRegError) else str(exc)
            raise CorruptedRegistry(location, detail) from None
        return doc

    def check(self) -> None:
        """Raise :class:`ValidationError` when records refer to objects that do not exist."""
        gens = self.generations
        for alias, target in self.aliases.items():
            if alias in gens:
                raise ValidationError(f"alias {alias!r} shadows a generation of the same name")
            if target not in gens:
                raise ValidationError(f"alias {alias!r} points to unknown generation {target!r}")
        for gen in gens.values():
            if gen.parent is not None and gen.parent not in gens:
                raise ValidationError(f"generation {gen.name!r} has unknown parent {gen.parent!r}")
        _check_acyclic(gens)
        for rec in self.adapters.values():
            for end in (rec.source, rec.target):
                if end not in gens:
                    raise ValidationError(
                        f"adapter {rec.id!r} refers to unknown generation {end!r}"
                    )
        for gal in self.galleries.values():
            if gal.generation not in gens:
                raise ValidationError(
                    f"gallery {gal.name!r} refers to unknown generation {gal.generation!r}"
                )

    # --- lookups ------------------------------------------------------------------------

    def generation_name(self, name: str) -> str:
        """The generation name behind ``name`` (itself, or the target of an alias)."""
        if name in self.generations:
            return name
        if name in self.aliases:
            return self.aliases[name]
        raise UnknownGeneration(name, list(self.generations) + list(self.aliases))

    def generation(self, name: str) -> Generation:
        """The generation called ``name`` (an alias works too)."""
        return self.generations[self.generation_name(name)]

    def dependents(self, name: str) -> tuple[list[AdapterRecord], list[GalleryRecord]]:
        """Adapters and galleries that use generation ``name``."""
        adapters = [a for a in self.adapters.values() if name in (a.source, a.target)]
        galleries = [g for g in self.galleries.values() if g.generation == name]
        return sorted(adapters, key=lambda a: a.id), sorted(galleries, key=lambda g: g.name)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: an object, refusing a key given twice (JSON would keep the last)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _check_acyclic(gens: dict[str, Generation]) -> None:
    """Raise :class:`ValidationError` when following parents leads back to a generation."""
    done: set[str] = set()
    for start in gens:
        path: list[str] = []
        name: str | None = start
        while name is not None and name not in done:
            if name in path:
                cycle = [*path[path.index(name) :], name]
                raise ValidationError(f"generations form a parent cycle: {' → '.join(cycle)}")
            path.append(name)
            name = gens[name].parent if name in gens else None
        done.update(path)


# --- migrations of older schemas ---------------------------------------------------------


def _v1_to_v2(data: dict[str, Any]) -> None:
    """Version 2 added an optional ``fingerprint`` to generations (absent = none)."""
    for gen in _entries(data, "generations"):
        gen.setdefault("fingerprint", None)


def _v2_to_v3(data: dict[str, Any]) -> None:
    """Version 3 added ``resolved_from`` to Hub sources and ``published`` to adapters."""
    for gen in _entries(data, "generations"):
        source = gen.get("source")
        if isinstance(source, dict) and source.get("kind") == "hub":
            source.setdefault("resolved_from", None)
    for adapter in _entries(data, "adapters"):
        adapter.setdefault("published", None)


#: ``version → step`` that turns a document of that version into the next one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def _entries(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    section = data.get(key)
    if not isinstance(section, dict):
        return []  # the parser reports the bad shape
    return [item for item in section.values() if isinstance(item, dict)]


def migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    """A copy of document ``data`` (schema ``version``) in the current schema.

    Each step only adds what its version introduced, with the value that
    means "none", so nothing an older embedreg wrote is lost or reinterpreted.

    Example:
        >>> migrate({"schema_version": 2, "adapters": {"a": {"id": "a"}}}, 2)["adapters"]
        {'a': {'id': 'a', 'published': None}}
    """
    out = copy.deepcopy(data)
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](out)
    out["schema_version"] = SCHEMA_VERSION
    return out


def _parse_map(
    data: dict[str, Any], key: str, build: Callable[[Any], T], id_field: str
) -> dict[str, T]:
    section = data.get(key, {})
    if not isinstance(section, dict):
        raise ValidationError(f"{key} is not an object")
    out: dict[str, T] = {}
    for name, item in section.items():
        record = build(item)
        if getattr(record, id_field) != name:
            raise ValidationError(
                f"{key}: entry {name!r} has {id_field} {getattr(record, id_field)!r}"
            )
        out[name] = record
    return out


def _parse_aliases(section: Any) -> dict[str, str]:
    if not isinstance(section, dict):
        raise ValidationError("aliases is not an object")
    for alias, target in section.items():
        validate_name(alias, "alias")
        if not isinstance(target, str):
            raise ValidationError(f"alias {alias!r} does not point to a generation name")
    return dict(section)
