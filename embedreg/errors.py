"""Typed errors of embedreg.

Every error carries a ``message`` (what is wrong) and a ``hint`` (what to do);
``str(error)`` joins them into the single line the CLI prints.  All errors
derive from :class:`EmbedRegError`, and most also from the matching builtin
(``LookupError``, ``ValueError``) so plain ``except`` clauses keep working.

Example:
    >>> from embedreg.errors import UnknownGeneration, EmbedRegError
    >>> err = UnknownGeneration("v9", known=["v1", "v2"])
    >>> isinstance(err, EmbedRegError) and isinstance(err, LookupError)
    True
    >>> print(err)
    unknown generation 'v9' (known: v1, v2); run 'embedreg gen list' to see the registered generations
    >>> UnknownGeneration("v2-shrot", known=["v2", "v2-short"]).hint  # a close name is offered
    "did you mean 'v2-short'? (or run 'embedreg gen list' to see the registered generations)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _known(names: Iterable[str]) -> str:
    names = sorted(names)
    if not names:
        return " (none registered)"
    shown = ", ".join(names[:10])
    more = f", … {len(names) - 10} more" if len(names) > 10 else ""
    return f" (known: {shown}{more})"


def did_you_mean(name: str, known: Iterable[str], then: str) -> str:
    """``then``, after ``did you mean 'x'?`` when a known name is close to ``name`` (see above)."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? (or {then})" if close else then


def _unknown(kind: str, name: str, known: Iterable[str], then: str) -> tuple[str, str]:
    names = list(known)
    return f"unknown {kind} {name!r}{_known(names)}", did_you_mean(name, names, then)


class EmbedRegError(Exception):
    """Base class of every error embedreg raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


# --- registry location and file -------------------------------------------------


class RegistryNotFound(EmbedRegError, LookupError):
    """No registry has been initialised at the location."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(
            f"no registry at {location}",
            "run 'embedreg init' (or pass --registry DIR / set EMBEDREG_REGISTRY)",
        )


class CorruptedRegistry(EmbedRegError):
    """The registry file exists but cannot be parsed or is inconsistent.

    The file is never overwritten; the user repairs or restores it.
    """

    def __init__(self, location: str, detail: str) -> None:
        self.location = location
        self.detail = detail
        super().__init__(
            f"registry file {location} is corrupted ({detail})",
            "it was left untouched: restore it from a backup or fix it by hand",
        )


class SchemaVersionError(EmbedRegError):
    """The registry was written by a newer embedreg with a newer schema."""

    def __init__(self, location: str, found: object, supported: int) -> None:
        self.location = location
        self.found = found
        self.supported = supported
        super().__init__(
            f"registry file {location} has schema version {found}, "
            f"this embedreg reads up to version {supported}",
            "upgrade embedreg (pip install -U embedreg)",
        )


class ConflictError(EmbedRegError):
    """An operation conflicts with the registry's current state or another writer."""


class LockTimeout(ConflictError):
    """Another process held a lock (the registry's, a gallery's) for too long."""

    def __init__(self, lock_path: str, timeout: float, what: str = "registry") -> None:
        self.lock_path = lock_path
        super().__init__(
            f"{what} lock {lock_path} still held by another process after {timeout:g}s",
            "retry when the other embedreg command has finished",
        )


class InUse(ConflictError):
    """An object cannot be removed while other registry objects depend on it."""


# --- values and names -------------------------------------------------------------


class ValidationError(EmbedRegError, ValueError):
    """A value (a recipe field, a dimension, a record field) is not acceptable."""


class InvalidName(EmbedRegError, ValueError):
    """A name does not match ``[a-z0-9][a-z0-9._-]*`` (at most 64 characters)."""

    def __init__(self, kind: str, name: str, reason: str | None = None) -> None:
        self.kind = kind
        self.name = name
        why = (
            reason
            or "names use lower-case letters, digits, '.', '_' and '-' and start with a letter or digit"
        )
        super().__init__(f"invalid {kind} name {name!r}", why)


class DuplicateName(ConflictError):
    """A name is already taken by a generation, alias or other object."""

    def __init__(
        self, kind: str, name: str, taken_by: str | None = None, hint: str = "choose another name"
    ) -> None:
        self.kind = kind
        self.name = name
        by = f" by {taken_by}" if taken_by else ""
        what = kind if kind.endswith("folder") else f"{kind} name"
        super().__init__(f"{what} {name!r} is already taken{by}", hint)


# --- lookups ----------------------------------------------------------------------


class NotFound(EmbedRegError, LookupError):
    """Base class of lookups that found nothing."""


class UnknownGeneration(NotFound):
    """No generation (or alias) of that name is registered."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        see = "run 'embedreg gen list' to see the registered generations"
        super().__init__(*_unknown("generation", name, known, see))


class UnknownAlias(NotFound):
    """No alias of that name exists."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        super().__init__(*_unknown("alias", name, known, "run 'embedreg alias list'"))


class UnknownAdapter(NotFound):
    """No adapter with that id is registered."""

    def __init__(self, adapter_id: str, known: Iterable[str] = ()) -> None:
        self.adapter_id = adapter_id
        super().__init__(*_unknown("adapter", adapter_id, known, "run 'embedreg adapter list'"))


class UnknownGallery(NotFound):
    """No gallery of that name is known to the registry."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        super().__init__(*_unknown("gallery", name, known, "run 'embedreg gallery list'"))


# --- models, vectors and paths ------------------------------------------------------


class ModelSourceError(EmbedRegError, ValueError):
    """A model folder or Hub reference cannot serve as a pinned generation source."""


class DimensionMismatch(EmbedRegError, ValueError):
    """Vectors or maps do not have the dimension their generation declares."""

    def __init__(self, expected: int, got: int, context: str, hint: str | None = None) -> None:
        self.expected = expected
        self.got = got
        super().__init__(
            f"{context}: expected dimension {expected}, got {got}",
            hint or "check which generation produced these vectors",
        )


class NoCompatiblePath(EmbedRegError, LookupError):
    """No trustworthy path of adapters leads from a query generation to a gallery's."""

    def __init__(self, query: str, gallery: str, reason: str, hint: str | None = None) -> None:
        self.query = query
        self.gallery = gallery
        self.reason = reason
        super().__init__(
            f"no compatible path from generation {query!r} to {gallery!r}: {reason}",
            hint or f"train one with 'embedreg adapter train {query} {gallery} --texts INPUT'",
        )


class PluginError(EmbedRegError, LookupError):
    """A store scheme or adapter family is not provided by any installed plugin."""

    def __init__(self, kind: str, name: str, known: Iterable[str], group: str) -> None:
        self.kind, self.name = kind, name
        names = list(known)
        install = f"install a package that provides it in the '{group}' entry-point group"
        super().__init__(
            f"no {kind} plugin named {name!r}{_known(names)}", did_you_mean(name, names, install)
        )


class BrokenPlugin(EmbedRegError, TypeError):
    """An installed plugin does not provide what its entry point promises."""

    def __init__(self, kind: str, name: str, group: str, detail: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"the {kind} plugin {name!r} is broken: {detail}",
            f"fix or uninstall the package that registers it in the '{group}' entry-point group",
        )


# --- embeddings files, inputs and encoding ------------------------------------------------


class GenerationMismatch(EmbedRegError, ValueError):
    """Vectors made by one generation are being used as another generation's."""

    def __init__(self, what: str, made_by: str, wanted: str, hint: str | None = None) -> None:
        self.what = what
        self.made_by = made_by
        self.wanted = wanted
        super().__init__(
            f"{what} was made by generation {made_by}, not by {wanted}",
            hint
            or "read it as the generation that made it, or re-embed the inputs with "
            "'embedreg embed GEN INPUT -o OUT' (vectors of two generations live in different spaces)",
        )


class EmbeddingsFileError(EmbedRegError, ValueError):
    """A file is not a readable embedreg embeddings file (missing, damaged or foreign)."""

    def __init__(self, path: str, detail: str, hint: str | None = None) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"embeddings file {path}: {detail}",
            hint or "re-create it with 'embedreg embed GEN INPUT -o OUT'",
        )


class InputError(EmbedRegError, ValueError):
    """An input file (texts to embed) is malformed at a given line."""

    def __init__(self, path: str, line: int | None, detail: str, hint: str | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = detail
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {detail}", hint or "fix the input file and run again")


class BadImage(InputError):
    """An image to embed cannot be used: unreadable, truncated, or too large to decode safely.

    ``problem`` is ``unreadable``, ``truncated`` or ``huge``; ``line`` is the
    line of the list that named it (``None`` for an image of a folder).
    """

    def __init__(
        self,
        path: str,
        problem: str,
        detail: str,
        *,
        listed_in: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problem = problem
        self.image = path
        where = f"{path} (named at {listed_in}, line {line})" if listed_in is not None else path
        super().__init__(
            where,
            None,
            detail,
            "replace or remove that image, or pass --skip-bad to embed the others and list it",
        )
        self.line = line


class ModelLoadError(EmbedRegError):
    """A generation's model cannot be loaded (missing folder, Hub unreachable, bad files)."""


class ModelChanged(EmbedRegError, ValueError):
    """A local model folder's weights no longer match the sha256 its generation pinned."""

    def __init__(self, generation: str, path: str, pinned: str, found: str) -> None:
        self.generation = generation
        self.path = path
        self.pinned = pinned
        self.found = found
        super().__init__(
            f"the weights in {path} changed since generation {generation!r} was pinned "
            f"(pinned {pinned[:19]}…, found {found[:19]}…)",
            f"restore the original files, or register the changed folder as a new generation; "
            f"'embedreg gen verify {generation}' checks the model's vectors",
        )


class FingerprintMismatch(EmbedRegError, ValueError):
    """A generation's model no longer produces the vectors its fingerprint recorded."""

    def __init__(self, generation: str, detail: str) -> None:
        self.generation = generation
        self.detail = detail
        super().__init__(
            f"generation {generation!r} failed verification: {detail}",
            "restore the original model files; vectors made now would not match those made before",
        )


class NoFingerprint(EmbedRegError, LookupError):
    """A generation was registered without a fingerprint, so it cannot be verified."""

    def __init__(self, generation: str) -> None:
        self.generation = generation
        super().__init__(
            f"generation {generation!r} has no fingerprint",
            f"record one with 'embedreg gen fingerprint {generation}' while its model is known good",
        )


# --- galleries ---------------------------------------------------------------------------


class GalleryError(EmbedRegError):
    """A gallery folder is damaged, inconsistent, or cannot do what was asked."""


# --- adapters: training data and stored files -----------------------------------------


class TrainingDataError(EmbedRegError, ValueError):
    """Paired training data cannot train an adapter (ids, counts, values, generations)."""


class AdapterIntegrityError(EmbedRegError, ValueError):
    """An adapter's stored files are tampered, truncated or inconsistent; nothing was loaded."""

    def __init__(self, location: str, detail: str, hint: str | None = None) -> None:
        self.location = location
        self.detail = detail
        super().__init__(
            f"adapter files at {location} failed verification ({detail})",
            hint or "the files were not loaded: restore them, or retrain the adapter",
        )


# --- the Hugging Face Hub ------------------------------------------------------------------


class HubError(EmbedRegError):
    """A request to the Hugging Face Hub failed; the message names the repo.

    Subclasses say why: :class:`HubRepoNotFound`, :class:`HubRevisionNotFound`,
    :class:`HubFileNotFound`, :class:`HubAuthError` (401),
    :class:`HubPermissionError` (403), :class:`HubUnreachable` and
    :class:`HubConflict`.  No message ever holds a token.
    """

    def __init__(
        self, message: str, hint: str | None = None, *, repo_id: str | None = None
    ) -> None:
        self.repo_id = repo_id
        super().__init__(message, hint)


class HubRepoNotFound(HubError, NotFound):
    """The Hub has no such repo (or it is private and the token cannot see it)."""


class HubRevisionNotFound(HubError, NotFound):
    """The repo has no such branch, tag or commit."""


class HubFileNotFound(HubError, NotFound):
    """A file is missing from the repo at that revision."""


class HubAuthError(HubError):
    """The Hub refused the token (401), or a write was tried without one."""


class HubPermissionError(HubError):
    """The token may not do this to that repo (403, or a gated repo)."""


class HubUnreachable(HubError):
    """The Hub cannot be reached (network, ``HF_ENDPOINT``) or offline mode forbids it."""


class HubConflict(HubError, ConflictError):
    """A commit was refused because the branch moved, or a name exists already (412 / 409)."""


class ReadOnlyRegistry(EmbedRegError):
    """A registry opened at a fixed revision (``hf://OWNER/NAME@REVISION``) cannot be changed."""

    def __init__(self, location: str, base: str) -> None:
        self.location = location
        super().__init__(
            f"registry {location} is a fixed revision and cannot be changed",
            f"drop the @revision to write to its branch ({base})",
        )


class GenerationNotMatched(EmbedRegError, LookupError):
    """An adapter from elsewhere joins generations the local registry lacks or pins differently."""


# --- evaluation reports -----------------------------------------------------------------


class PlotsUnavailable(EmbedRegError, ImportError):
    """Plots need matplotlib, an optional extra that is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "plots need matplotlib, which is not installed",
            "install the plots extra with \"pip install 'embedreg[plots]'\" "
            "(tables and --json work without it)",
        )


class ReportExists(EmbedRegError, FileExistsError):
    """A report's output files exist already and would be overwritten."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path} exists already",
            "choose another -o folder, or pass --overwrite to replace the report's files",
        )


# --- exports ------------------------------------------------------------------------------


class ExtraUnavailable(EmbedRegError, ImportError):
    """A feature needs an optional extra that is not installed."""

    def __init__(self, what: str, package: str, extra: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(
            f"{what} needs {package}, which is not installed",
            f"install it with \"pip install 'embedreg[{extra}]'\"",
        )


class ExportRefused(EmbedRegError, ValueError):
    """A query path (or generation) cannot be carried by the requested model format."""


class ExportMismatch(EmbedRegError):
    """An exported model's vectors differ from embedreg's own; nothing was written."""


class ExportExists(EmbedRegError, FileExistsError):
    """An export's output folder exists already."""

    def __init__(self, path: str, detail: str, hint: str) -> None:
        self.path = path
        super().__init__(f"{path} {detail}", hint)
