"""The registry: generations, adapters, galleries and aliases in one document.

A :class:`Registry` reads and writes one ``registry.json`` through its
:class:`~embedreg.registry.stores.Store`.  Every read returns a fresh, validated
:class:`RegistryDocument`; every change is a read-modify-write done by the
store atomically, so concurrent writers never lose each other's changes and
a reader never sees a half-written file.  The JSON is sorted and indented so
that it diffs well under version control.

Example:
    >>> import tempfile
    >>> from embedreg.registry import Generation, HubSource, Recipe
    >>> reg = Registry.open(tempfile.mkdtemp())
    >>> reg.init()
    True
    >>> gen = Generation(
    ...     name="v1",
    ...     source=HubSource("org/model", "0" * 40),
    ...     recipe=Recipe(),
    ...     dimension=384,
    ... )
    >>> reg.add_generation(gen).name
    'v1'
    >>> reg.generation("latest").name
    'v1'
    >>> [g.name for g in reg.lineage("v1")]
    ['v1']
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as with_fields
from typing import TypeVar

from ..errors import (
    ConflictError,
    DuplicateName,
    InUse,
    RegistryNotFound,
    UnknownAdapter,
    UnknownAlias,
    UnknownGallery,
    UnknownGeneration,
    ValidationError,
)
from .document import RegistryDocument
from .generation import Fingerprint, Generation
from .names import validate_name
from .records import AdapterRecord, GalleryRecord, Publication
from .stores import Store, open_store

__all__ = ["LATEST", "Registry", "Removal"]

T = TypeVar("T")

#: Alias that :meth:`Registry.add_generation` moves to each new generation.
LATEST = "latest"


@dataclass(frozen=True)
class Removal:
    """What :meth:`Registry.remove_generation` removed or changed."""

    generation: str
    adapters: list[str] = field(default_factory=list)
    galleries: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    reparented: list[str] = field(default_factory=list)
    #: Store locations of the removed adapters' files, kept unless asked to delete them.
    kept_files: list[str] = field(default_factory=list)


class Registry:
    """Generations, adapters, galleries and aliases, kept in one store.

    Open one with :meth:`open` (a directory, a ``scheme://`` URL, or the
    default ``$EMBEDREG_REGISTRY`` / ``./.embedreg``); create it with
    :meth:`init`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def open(cls, location: str | os.PathLike[str] | None = None) -> Registry:
        """Open the registry at ``location`` (nothing is read until it is used)."""
        return cls(open_store(location))

    @property
    def location(self) -> str:
        """Where the registry document lives."""
        return self.store.location

    def __repr__(self) -> str:
        return f"Registry({self.location!r})"

    # --- reading and writing --------------------------------------------------------------

    def init(self, *, private: bool = False) -> bool:
        """Create an empty registry; ``False`` when a valid one exists already.

        An existing file is parsed, so a corrupted or newer registry is
        reported (and left untouched) rather than silently accepted.
        ``private`` creates it readable only by its owner (a Hub registry's
        repo; other stores refuse it).
        """
        content = RegistryDocument().serialize()
        created = self.store.create_private(content) if private else self.store.create(content)
        if created:
            return True
        self.document()
        return False

    def document(self) -> RegistryDocument:
        """A fresh, validated snapshot of the whole registry."""
        raw = self.store.read()
        if raw is None:
            raise RegistryNotFound(self.store.registry_root)
        return RegistryDocument.parse(raw, self.location)

    def _update(self, change: Callable[[RegistryDocument], T]) -> T:
        """Apply ``change`` to a fresh copy of the document and store the result."""
        result: list[T] = []

        def apply(raw: bytes) -> bytes | None:
            result.clear()
            doc = RegistryDocument.parse(raw, self.location)
            before = copy.deepcopy(doc.to_dict())
            result.append(change(doc))
            doc.check()
            return doc.serialize() if doc.to_dict() != before else None

        self.store.update(apply)
        return result[0]

    # --- generations ----------------------------------------------------------------------

    def add_generation(self, generation: Generation, *, set_latest: bool = True) -> Generation:
        """Register ``generation``; move the ``latest`` alias to it unless told not to.

        The parent may be given as an alias; it is stored as the generation name.

        Raises:
            DuplicateName: a generation or alias of that name exists.
            UnknownGeneration: the parent is not registered.
        """

        def change(doc: RegistryDocument) -> Generation:
            name = generation.name
            if name in doc.generations:
                raise DuplicateName("generation", name, "an existing generation")
            if name in doc.aliases:
                raise DuplicateName("generation", name, f"an alias of {doc.aliases[name]!r}")
            gen = generation
            if gen.parent is not None:
                gen = gen.with_parent(doc.generation_name(gen.parent))
            doc.generations[name] = gen
            if set_latest:
                doc.aliases[LATEST] = name
            return gen

        return self._update(change)

    def generation(self, name: str) -> Generation:
        """The generation called ``name``, or the one an alias of that name points to."""
        return self.document().generation(name)

    def generations(self) -> list[Generation]:
        """All generations, oldest first."""
        return sorted(self.document().generations.values(), key=lambda g: (g.created, g.name))

    def lineage(self, name: str) -> list[Generation]:
        """``name``'s generation followed by its parent, grandparent … up to the root."""
        doc = self.document()
        chain = [doc.generation(name)]
        while chain[-1].parent is not None:
            chain.append(doc.generations[chain[-1].parent])
        return chain

    def set_fingerprint(
        self, name: str, fingerprint: Fingerprint, *, replace: bool = False
    ) -> Generation:
        """Store ``fingerprint`` on generation ``name`` (an alias works too).

        Refused with :class:`ConflictError` when the generation has one
        already, unless ``replace``: a fingerprint is the reference that
        ``gen verify`` checks against, so it is recorded once, while the model
        is known to be good.
        """

        def change(doc: RegistryDocument) -> Generation:
            gen = doc.generation(name)
            if gen.fingerprint is not None and not replace:
                raise ConflictError(
                    f"generation {gen.name!r} has a fingerprint already",
                    f"check the model against it with 'embedreg gen verify {gen.name}'",
                )
            updated = gen.with_fingerprint(fingerprint)
            doc.generations[gen.name] = updated
            return updated

        return self._update(change)

    def remove_generation(
        self, name: str, *, force: bool = False, delete_adapter_files: bool = False
    ) -> Removal:
        """Remove a generation.

        Refused with :class:`InUse` while adapters or galleries use it, unless
        ``force``: then their records go too (the adapters' files stay in the
        store, listed in :attr:`Removal.kept_files`, unless
        ``delete_adapter_files``; gallery folders are never touched and can be
        registered again), aliases that point to it are dropped, and its children take its parent as
        theirs.  Aliases alone never block a removal.
        """

        def change(doc: RegistryDocument) -> tuple[Removal, list[tuple[AdapterRecord, bool]]]:
            real = doc.generation_name(name)
            if name != real:
                raise ValidationError(
                    f"{name!r} is an alias of generation {real!r}",
                    f"remove the generation by its own name, or the alias with 'embedreg alias rm {name}'",
                )
            adapters, galleries = doc.dependents(real)
            if (adapters or galleries) and not force:
                parts = []
                if adapters:
                    parts.append(
                        f"{len(adapters)} adapter(s) ({', '.join(a.id for a in adapters)})"
                    )
                if galleries:
                    parts.append(
                        f"{len(galleries)} gallery(ies) ({', '.join(g.name for g in galleries)})"
                    )
                raise InUse(
                    f"generation {real!r} is used by {' and '.join(parts)}",
                    "remove those first, or pass --force to remove them with it",
                )
            gen = doc.generations.pop(real)
            for a in adapters:
                del doc.adapters[a.id]
            for g in galleries:
                del doc.galleries[g.name]
            dropped = sorted(k for k, v in doc.aliases.items() if v == real)
            for alias in dropped:
                del doc.aliases[alias]
            children = sorted(g.name for g in doc.generations.values() if g.parent == real)
            for child in children:
                doc.generations[child] = doc.generations[child].with_parent(gen.parent)
            removal = Removal(
                generation=real,
                adapters=[a.id for a in adapters],
                galleries=[g.name for g in galleries],
                aliases=dropped,
                reparented=children,
            )
            return removal, [(a, _deletable(a, doc)) for a in adapters]

        removal, removed = self._update(change)
        if not delete_adapter_files:
            return with_fields(removal, kept_files=[a.location for a, _ in removed])
        # Files go only after the registry no longer points to them, and only their own.
        for record, deletable in removed:
            if deletable:
                self.store.delete_artifact(record.location)
        kept = [a.location for a, deletable in removed if not deletable]
        return with_fields(removal, kept_files=kept)

    # --- aliases ---------------------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        """Alias → generation name."""
        return dict(sorted(self.document().aliases.items()))

    def set_alias(self, alias: str, generation: str) -> str:
        """Point ``alias`` at ``generation`` (which may itself be an alias); returns the target."""
        validate_name(alias, "alias")

        def change(doc: RegistryDocument) -> str:
            if alias in doc.generations:
                raise DuplicateName("alias", alias, "a generation")
            target = doc.generation_name(generation)
            doc.aliases[alias] = target
            return target

        return self._update(change)

    def remove_alias(self, alias: str) -> str:
        """Remove ``alias``; returns the generation it pointed to."""

        def change(doc: RegistryDocument) -> str:
            if alias not in doc.aliases:
                raise UnknownAlias(alias, doc.aliases)
            return doc.aliases.pop(alias)

        return self._update(change)

    # --- adapters (records) -------------------------------------------------------------------

    def add_adapter(
        self,
        record: AdapterRecord,
        *,
        replace: bool = False,
        expect: Mapping[str, tuple[str, str]] | None = None,
    ) -> AdapterRecord:
        """Register an adapter record; both generations must exist.

        ``expect`` maps generation names to the ``(pin, recipe hash)`` the
        adapter was made with; a generation that changed meanwhile (removed
        and added again under its name) refuses the record.
        """
        self.put_adapter(record, replace=replace, expect=expect)
        return record

    def put_adapter(
        self,
        record: AdapterRecord,
        *,
        replace: bool = False,
        expect: Mapping[str, tuple[str, str]] | None = None,
    ) -> AdapterRecord | None:
        """:meth:`add_adapter`, returning the record it replaced (``None`` when there was none).

        Raises:
            DuplicateName: the id is taken and ``replace`` is false.
            UnknownGeneration: an end of the adapter is not registered.
            ConflictError: a generation in ``expect`` is not what it was.
        """

        def change(doc: RegistryDocument) -> AdapterRecord | None:
            previous = doc.adapters.get(record.id)
            if previous is not None and not replace:
                raise DuplicateName("adapter", record.id, "an existing adapter")
            for end in (record.source, record.target):
                if end not in doc.generations:
                    raise UnknownGeneration(end, doc.generations)
            for name, (pin, recipe_hash) in (expect or {}).items():
                now = doc.generations.get(name)
                if now is None:
                    raise UnknownGeneration(name, doc.generations)
                if (now.pin, now.recipe.hash) != (pin, recipe_hash):
                    raise ConflictError(
                        f"generation {name!r} changed while adapter {record.id!r} was made "
                        f"(it was {pin} with recipe {recipe_hash[:12]}, it is now {now.pin} "
                        f"with recipe {now.recipe.hash[:12]})",
                        "train the adapter again on vectors of the generation as it is now",
                    )
            doc.adapters[record.id] = record
            return previous

        return self._update(change)

    def adapter(self, adapter_id: str) -> AdapterRecord:
        """The adapter record with that id."""
        doc = self.document()
        try:
            return doc.adapters[adapter_id]
        except KeyError:
            raise UnknownAdapter(adapter_id, doc.adapters) from None

    def adapters(
        self, *, source: str | None = None, target: str | None = None
    ) -> list[AdapterRecord]:
        """Adapter records, optionally only those from ``source`` and/or to ``target``."""
        doc = self.document()
        src = doc.generation_name(source) if source is not None else None
        tgt = doc.generation_name(target) if target is not None else None
        return sorted(
            (
                a
                for a in doc.adapters.values()
                if (src is None or a.source == src) and (tgt is None or a.target == tgt)
            ),
            key=lambda a: a.id,
        )

    def record_publication(self, adapter_id: str, publication: Publication) -> AdapterRecord:
        """Note on adapter ``adapter_id``'s record where it was published; returns the new record."""

        def change(doc: RegistryDocument) -> AdapterRecord:
            if adapter_id not in doc.adapters:
                raise UnknownAdapter(adapter_id, doc.adapters)
            updated = dataclasses.replace(doc.adapters[adapter_id], published=publication)
            doc.adapters[adapter_id] = updated
            return updated

        return self._update(change)

    def remove_adapter(self, adapter_id: str) -> AdapterRecord:
        """Remove an adapter record and its files (see :meth:`remove_adapter_record`)."""
        return self.remove_adapter_record(adapter_id)[0]

    def remove_adapter_record(self, adapter_id: str) -> tuple[AdapterRecord, str | None]:
        """Remove an adapter record, then its files when they are its own alone.

        The files go only when the record's location has the shape embedreg
        writes for that adapter (:attr:`AdapterRecord.owns_location`) and no
        other record points to it; otherwise they are left untouched and the
        second value says why (``None`` when they were deleted).
        """

        def change(doc: RegistryDocument) -> tuple[AdapterRecord, bool]:
            if adapter_id not in doc.adapters:
                raise UnknownAdapter(adapter_id, doc.adapters)
            record = doc.adapters.pop(adapter_id)
            return record, _deletable(record, doc)

        record, deletable = self._update(change)
        if deletable:
            self.store.delete_artifact(record.location)
            return record, None
        if record.owns_location:
            return record, f"another record uses its files at {record.location!r}; they were kept"
        return record, (
            f"its location {record.location!r} is not one embedreg writes for it; "
            "nothing there was deleted"
        )

    # --- galleries (records) ------------------------------------------------------------------

    def add_gallery(self, record: GalleryRecord, *, replace: bool = False) -> GalleryRecord:
        """Register a gallery record; its generation must exist."""

        def change(doc: RegistryDocument) -> GalleryRecord:
            if record.name in doc.galleries and not replace:
                raise DuplicateName("gallery", record.name, "an existing gallery")
            if record.generation not in doc.generations:
                raise UnknownGeneration(record.generation, doc.generations)
            for other in doc.galleries.values():
                if other.name != record.name and other.location == record.location:
                    raise DuplicateName(
                        "gallery folder", record.location, f"gallery {other.name!r}"
                    )
            doc.galleries[record.name] = record
            return record

        return self._update(change)

    def gallery(self, name: str) -> GalleryRecord:
        """The gallery record called ``name``."""
        doc = self.document()
        try:
            return doc.galleries[name]
        except KeyError:
            raise UnknownGallery(name, doc.galleries) from None

    def galleries(self) -> list[GalleryRecord]:
        """All gallery records, by name."""
        return sorted(self.document().galleries.values(), key=lambda g: g.name)


def _deletable(record: AdapterRecord, doc: RegistryDocument) -> bool:
    """Whether ``record``'s files are its own alone (``doc`` no longer holds ``record``)."""
    return record.owns_location and all(
        a.location != record.location for a in doc.adapters.values()
    )
