"""Generations: an embedding model pinned to exact bytes, plus its encode recipe.

A :class:`Generation` names one version of an embedding model.  Its
:attr:`~Generation.source` pins the weights (a Hub repo at a 40-hex commit, or
a local folder with the sha256 of its weight files) and its
:attr:`~Generation.recipe` says how inputs become vectors (pooling,
normalisation, prefixes, truncation).  Two generations with the same pin and
recipe embed into the same space; anything else is a different space.

Example:
    >>> gen = Generation(
    ...     name="v2",
    ...     source=HubSource("sentence-transformers/all-MiniLM-L6-v2", "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"),
    ...     recipe=Recipe(pooling="mean", normalize=True, max_tokens=256),
    ...     dimension=384,
    ... )
    >>> gen.pin
    'sentence-transformers/all-MiniLM-L6-v2@c9745ed1d9f207416be6d2e6f8de32d1f16199bf'
    >>> Generation.from_dict(gen.to_dict()) == gen
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar

from ._fields import check_fields
from ._time import utc_now
from .errors import ModelLoadError, ModelSourceError, ValidationError
from .fingerprint import Fingerprint
from .hashing import canonical_json_sha256, folder_weights_sha256
from .names import validate_name

T = TypeVar("T")

Pooling = Literal["mean", "cls", "last-token"]
POOLING_MODES: tuple[str, ...] = ("mean", "cls", "last-token")
MODALITIES: tuple[str, ...] = ("text", "image", "multimodal")

_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_REPO_ID_RE = re.compile(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class Recipe:
    """How a generation turns inputs into vectors.

    Attributes:
        pooling: ``mean`` (masked mean of token states), ``cls`` (first token)
            or ``last-token`` (last non-padding token).
        normalize: L2-normalise the pooled vector.
        query_prefix: text prepended to queries before tokenising.
        document_prefix: text prepended to documents before tokenising.
        max_tokens: inputs are truncated to this many tokens.

    Example:
        >>> r = Recipe(pooling="cls", normalize=False, query_prefix="query: ")
        >>> r.hash == Recipe(pooling="cls", normalize=False, query_prefix="query: ").hash
        True
    """

    pooling: str = "mean"
    normalize: bool = True
    query_prefix: str = ""
    document_prefix: str = ""
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_MODES:
            raise ValidationError(
                f"pooling must be one of {', '.join(POOLING_MODES)}, got {self.pooling!r}"
            )
        if not isinstance(self.normalize, bool):
            raise ValidationError(f"normalize must be true or false, got {self.normalize!r}")
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool):
            raise ValidationError(f"max_tokens must be an integer, got {self.max_tokens!r}")
        if self.max_tokens < 1:
            raise ValidationError(f"max_tokens must be at least 1, got {self.max_tokens}")
        for attr in ("query_prefix", "document_prefix"):
            if not isinstance(getattr(self, attr), str):
                raise ValidationError(f"{attr} must be a string")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-ready dict."""
        return {
            "pooling": self.pooling,
            "normalize": self.normalize,
            "query_prefix": self.query_prefix,
            "document_prefix": self.document_prefix,
            "max_tokens": self.max_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on unknown or bad fields."""
        check_fields("recipe", data, set(cls().to_dict()), {"pooling", "normalize"})
        return cls(**data)

    @property
    def hash(self) -> str:
        """Hex sha256 of the recipe's canonical JSON: equal recipes, equal hashes."""
        return canonical_json_sha256(self.to_dict())


@dataclass(frozen=True)
class HubSource:
    """A model on the Hugging Face Hub, pinned to a full 40-hex commit.

    Example:
        >>> HubSource("org/model", "0123456789abcdef0123456789abcdef01234567").pin
        'org/model@0123456789abcdef0123456789abcdef01234567'
    """

    repo_id: str
    revision: str
    kind: ClassVar[str] = "hub"

    def __post_init__(self) -> None:
        if not _REPO_ID_RE.fullmatch(self.repo_id or ""):
            raise ModelSourceError(
                f"invalid Hub repo id {self.repo_id!r}", "use the form 'owner/name'"
            )
        if not _COMMIT_RE.fullmatch(self.revision or ""):
            raise ModelSourceError(
                f"Hub revision {self.revision!r} of {self.repo_id} is not a 40-hex commit",
                "pin the model with --revision <full commit sha>; branches and tags move",
            )

    @property
    def pin(self) -> str:
        """``repo_id@commit``: the exact bytes this generation uses."""
        return f"{self.repo_id}@{self.revision}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, tagged with ``kind``."""
        return {"kind": self.kind, "repo_id": self.repo_id, "revision": self.revision}


@dataclass(frozen=True)
class LocalSource:
    """A model folder on local disk, pinned by the sha256 of its weight files.

    Build one with :meth:`from_path`, which computes the hash; it is never
    typed by hand.

    Example:
        >>> src = LocalSource("/models/minilm", "ab" * 32)
        >>> src.pin
        'sha256:abababababababababababababababababababababababababababababababab'
    """

    path: str
    sha256: str
    kind: ClassVar[str] = "local"

    def __post_init__(self) -> None:
        if not _SHA256_RE.fullmatch(self.sha256 or ""):
            raise ModelSourceError(f"invalid sha256 pin {self.sha256!r} for {self.path}")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> LocalSource:
        """Pin a local model folder by hashing its weight files."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelSourceError(
                f"model folder {folder} does not exist or is not a directory",
                "pass a model folder or a Hub repo id",
            )
        try:
            digest = folder_weights_sha256(folder)
        except FileNotFoundError:
            raise ModelSourceError(
                f"model folder {folder} holds no weight files",
                "point at a folder with model.safetensors (or another weights file)",
            ) from None
        return cls(str(folder.resolve()), digest)

    @property
    def pin(self) -> str:
        """``sha256:<hex>`` over the folder's weight files."""
        return f"sha256:{self.sha256}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, tagged with ``kind``."""
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256}


ModelSource: TypeAlias = HubSource | LocalSource


def source_from_dict(data: dict[str, Any]) -> ModelSource:
    """Rebuild a :class:`HubSource` or :class:`LocalSource` from its dict form."""
    if not isinstance(data, dict):
        raise ValidationError("source: expected an object")
    kind = data.get("kind")
    if kind == HubSource.kind:
        check_fields(
            "source", data, {"kind", "repo_id", "revision"}, {"kind", "repo_id", "revision"}
        )
        return HubSource(data["repo_id"], data["revision"])
    if kind == LocalSource.kind:
        check_fields("source", data, {"kind", "path", "sha256"}, {"kind", "path", "sha256"})
        return LocalSource(data["path"], data["sha256"])
    raise ValidationError(f"source: unknown kind {kind!r}")


@dataclass(frozen=True)
class Generation:
    """One embedding-model generation: pinned source, recipe, dimension, lineage.

    Build one from a model folder or Hub reference with :meth:`from_model`,
    then register it with :meth:`embedreg.Registry.add_generation`. Its
    optional :attr:`fingerprint` (a sketch of the model's vectors for a fixed
    probe set, see :mod:`embedreg.fingerprint`) lets ``embedreg gen verify``
    check later that the model still gives the same vectors.
    """

    name: str
    source: ModelSource
    recipe: Recipe
    dimension: int
    modality: str = "text"
    parent: str | None = None
    created: str = field(default_factory=utc_now)
    notes: str = ""
    fingerprint: Fingerprint | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "generation")
        if self.parent is not None:
            validate_name(self.parent, "parent generation")
            if self.parent == self.name:
                raise ValidationError(f"generation {self.name!r} cannot be its own parent")
        if not isinstance(self.dimension, int) or isinstance(self.dimension, bool):
            raise ValidationError(f"dimension must be an integer, got {self.dimension!r}")
        if self.dimension < 1:
            raise ValidationError(f"dimension must be positive, got {self.dimension}")
        if self.modality not in MODALITIES:
            raise ValidationError(
                f"modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}"
            )
        if self.fingerprint is not None and self.fingerprint.dimension != self.dimension:
            raise ValidationError(
                f"generation {self.name!r} is {self.dimension}-d but its fingerprint is "
                f"{self.fingerprint.dimension}-d"
            )

    @property
    def pin(self) -> str:
        """The exact model bytes: ``repo@commit`` or ``sha256:<hex>``."""
        return self.source.pin

    @property
    def space_key(self) -> tuple[str, str]:
        """(pin, recipe hash): generations with equal keys embed into one space."""
        return (self.pin, self.recipe.hash)

    def same_space(self, other: Generation) -> bool:
        """True when ``other`` has the same pinned model and the same recipe."""
        return self.space_key == other.space_key

    def to_dict(self) -> dict[str, Any]:
        """The stored form, as it appears in ``registry.json``."""
        return {
            "name": self.name,
            "source": self.source.to_dict(),
            "recipe": self.recipe.to_dict(),
            "dimension": self.dimension,
            "modality": self.modality,
            "parent": self.parent,
            "created": self.created,
            "notes": self.notes,
            "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
        }

    def describe(self) -> dict[str, Any]:
        """:meth:`to_dict` plus derived fields (``pin``, ``recipe_hash``) for display."""
        return {**self.to_dict(), "pin": self.pin, "recipe_hash": self.recipe.hash}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on unknown or bad fields."""
        fields = {"name", "source", "recipe", "dimension", "modality", "parent", "created", "notes"}
        fields.add("fingerprint")  # schema 2; absent (None) in schema-1 documents
        check_fields("generation", data, fields, {"name", "source", "recipe", "dimension"})
        fingerprint = data.get("fingerprint")
        return cls(
            name=data["name"],
            source=source_from_dict(data["source"]),
            recipe=Recipe.from_dict(data["recipe"]),
            dimension=data["dimension"],
            modality=data.get("modality", "text"),
            parent=data.get("parent"),
            created=data.get("created", ""),
            notes=data.get("notes", ""),
            fingerprint=Fingerprint.from_dict(fingerprint) if fingerprint is not None else None,
        )

    @classmethod
    def from_model(
        cls,
        name: str,
        model: str | os.PathLike[str],
        *,
        revision: str | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        max_tokens: int | None = None,
        dimension: int | None = None,
        modality: str = "text",
        parent: str | None = None,
        notes: str = "",
        fingerprint: bool = False,
        probe_dimension: bool = False,
        device: str = "auto",
    ) -> Generation:
        """Describe a generation from a local model folder or a Hub repo id.

        For a local folder the weights are hashed into the pin, and every
        recipe field left as ``None`` is read from the folder's own config
        files (transformers ``config.json``, sentence-transformers
        ``modules.json``, ``1_Pooling/config.json``,
        ``sentence_bert_config.json``, ``config_sentence_transformers.json``).
        Explicit arguments win over what the folder says.  A Hub repo id needs
        a 40-hex ``revision``.

        With ``fingerprint=True`` the model is loaded (a Hub repo is fetched
        at the pinned commit, and its config files then fill the recipe like a
        local folder's), the built-in probe set is embedded and the
        generation carries the resulting :class:`~embedreg.fingerprint.Fingerprint`.
        With ``probe_dimension=True`` (or ``fingerprint=True``) a dimension
        that neither the arguments nor the config files give is measured on
        the model's output; an explicit or configured dimension is checked
        against it.

        Example:
            >>> gen = Generation.from_model("v2", "/path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
            >>> gen.dimension, gen.recipe.pooling  # doctest: +SKIP
            (384, 'mean')
        """
        from .modeldir import ModelDirInfo, inspect_model_dir

        validate_name(name, "generation")
        if fingerprint and modality != "text":
            raise ModelSourceError(
                f"fingerprints embed text probes, and {name!r} is a {modality} model",
                "register it with --no-fingerprint",
            )
        defaults = Recipe()
        source: ModelSource
        text = os.fspath(model)
        if Path(text).expanduser().is_dir():
            if revision is not None:
                raise ModelSourceError(
                    f"--revision applies to Hub repos, but {text} is a local folder",
                    "drop --revision; a local folder is pinned by the hash of its weights",
                )
            source = LocalSource.from_path(text)
            info = inspect_model_dir(source.path)
        elif text.startswith((".", "/", "~")) or not _REPO_ID_RE.fullmatch(text):
            raise ModelSourceError(
                f"model folder {text} does not exist",
                "check the path, or pass a Hub repo id like 'owner/name'",
            )
        elif revision is None:
            raise ModelSourceError(
                f"{text} is not a local folder, and as a Hub repo id it needs a pinned revision",
                "pass --revision <40-hex commit>, or check the folder path",
            )
        else:
            source = HubSource(text, revision)
            info = None
            if fingerprint or (probe_dimension and dimension is None):
                from .encoding import hub_snapshot

                hub = source
                info = inspect_model_dir(_loading(lambda: hub_snapshot(hub, generation=name)))
        found = info or ModelDirInfo()
        recipe = Recipe(
            pooling=_first(pooling, found.pooling, defaults.pooling),
            normalize=_first(normalize, found.normalize, defaults.normalize),
            query_prefix=_first(query_prefix, found.query_prefix, defaults.query_prefix),
            document_prefix=_first(
                document_prefix, found.document_prefix, defaults.document_prefix
            ),
            max_tokens=_first(max_tokens, found.max_tokens, defaults.max_tokens),
        )
        dim = _first(dimension, found.dimension)
        if dim is None and not (probe_dimension or fingerprint):
            raise ModelSourceError(
                f"the dimension of {text} is not known",
                "pass --dim N (or let embedreg load the model to measure it)",
            )
        if found.dimension is not None and dim != found.dimension:
            raise ModelSourceError(
                f"--dim {dimension} contradicts the model folder, which says {found.dimension}",
                "drop --dim or fix the folder's config",
            )
        gen = cls(
            name=name,
            source=source,
            recipe=recipe,
            dimension=dim or 1,
            modality=modality,
            parent=parent,
            notes=notes,
        )
        if fingerprint or dim is None:
            from .fingerprint import compute_fingerprint

            # The weights were hashed just now: no need to hash them again.
            fp = _loading(
                lambda: compute_fingerprint(
                    gen, device=device, verify_pin=False, check_dimension=False
                )
            )
            if dim is not None and fp.dimension != dim:
                raise ModelSourceError(
                    f"the model of {text} gives {fp.dimension}-d vectors, "
                    f"not the {dim} that {'--dim' if dimension else 'its config'} says",
                    "drop --dim, or fix the folder's config",
                )
            gen = replace(gen, dimension=fp.dimension, fingerprint=fp if fingerprint else None)
        return gen

    def with_parent(self, parent: str | None) -> Generation:
        """A copy with another parent (used when lineage is spliced)."""
        return replace(self, parent=parent)

    def with_fingerprint(self, fingerprint: Fingerprint | None) -> Generation:
        """A copy carrying ``fingerprint`` (its dimension must be the generation's)."""
        return replace(self, fingerprint=fingerprint)


def _loading(load: Callable[[], T]) -> T:
    """Run ``load``; a model that cannot be loaded gets a hint on registering without it."""
    try:
        return load()
    except ModelLoadError as exc:
        raise ModelLoadError(
            exc.message,
            "fix that, or register without loading the model: --no-fingerprint and --dim N "
            "(Python: fingerprint=False, dimension=N)",
        ) from None


def _first(*values: Any) -> Any:
    """The first value that is not ``None`` (the last one if all are)."""
    for value in values:
        if value is not None:
            return value
    return values[-1]
