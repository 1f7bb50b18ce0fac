"""The embeddings-file format: its metadata, its in-memory form, and whose vectors they are.

See :mod:`embedreg.data.embeddings` for the layout on disk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..._version import __version__
from ...constants import EMBEDDINGS_FORMAT, EMBEDDINGS_FORMAT_VERSION, ROLES
from ...errors import DimensionMismatch, EmbeddingsFileError, GenerationMismatch, ValidationError
from ...registry import Generation, Tower
from ...util.clock import utc_now

__all__ = ["VECTORS", "Embeddings", "EmbeddingsMeta", "check_generation", "describe", "meta_for"]

#: Name of the tensor that holds the vectors.
VECTORS = "embeddings"


@dataclass(frozen=True)
class EmbeddingsMeta:
    """What an embeddings file says about itself.

    Attributes:
        generation: name of the generation that made the vectors.
        pin: that generation's pin (``repo@commit`` or ``sha256:…``).
        recipe_hash: that generation's recipe hash.
        role: ``query`` or ``document``.
        count: number of vectors (in the whole file or folder).
        dimension: length of each vector.
        created: UTC timestamp of the write.
        embedreg_version: version of embedreg that wrote it.
        tower: which tower made the vectors, ``text`` or ``image`` (a file
            written before towers were recorded reads as ``text``).
    """

    generation: str
    pin: str
    recipe_hash: str
    role: str
    count: int
    dimension: int
    created: str
    embedreg_version: str
    tower: str = Tower.TEXT.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def describe_generation(self) -> str:
        """``'v3' (pin sha256:ab12…, 768-d)``: the maker, as error messages show it."""
        return describe(self.generation, self.pin, self.dimension)

    def to_metadata(self, *, row_start: int = 0) -> dict[str, str]:
        """The safetensors metadata of a file whose first row is row ``row_start`` of the set."""
        data = {k: str(v) for k, v in asdict(self).items()}
        data.update(
            format=EMBEDDINGS_FORMAT,
            format_version=str(EMBEDDINGS_FORMAT_VERSION),
            row_start=str(row_start),
        )
        return data

    @classmethod
    def parse(cls, data: Any, where: str) -> EmbeddingsMeta:
        """Read the metadata of the file at ``where``; a foreign or newer file is refused."""
        if not isinstance(data, dict):
            raise EmbeddingsFileError(where, "no embedreg metadata")
        if data.get("format") != EMBEDDINGS_FORMAT:
            raise EmbeddingsFileError(
                where,
                "not an embedreg embeddings file (no 'format: embedreg.embeddings' metadata)",
                "write embeddings with 'embedreg embed' or embedreg.data.embeddings.save_embeddings",
            )
        try:
            version = int(data.get("format_version", "0"))
        except (TypeError, ValueError):
            version = -1
        if version < 1:
            raise EmbeddingsFileError(where, f"bad format_version {data.get('format_version')!r}")
        if version > EMBEDDINGS_FORMAT_VERSION:
            raise EmbeddingsFileError(
                where,
                f"written with embeddings format {version}, this embedreg reads up to "
                f"{EMBEDDINGS_FORMAT_VERSION}",
                "upgrade embedreg (pip install -U embedreg)",
            )
        try:
            meta = cls(
                generation=str(data["generation"]),
                pin=str(data["pin"]),
                recipe_hash=str(data["recipe_hash"]),
                role=str(data["role"]),
                count=int(data["count"]),
                dimension=int(data["dimension"]),
                created=str(data["created"]),
                embedreg_version=str(data["embedreg_version"]),
                tower=str(data.get("tower", Tower.TEXT.value)),
            )
        except KeyError as exc:
            raise EmbeddingsFileError(where, f"metadata lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise EmbeddingsFileError(where, f"bad metadata ({exc})") from None
        if meta.count < 0 or meta.dimension < 1 or meta.role not in ROLES:
            raise EmbeddingsFileError(where, "inconsistent metadata (count, dimension or role)")
        if meta.tower not in {t.value for t in Tower}:
            raise EmbeddingsFileError(where, f"unknown tower {meta.tower!r}")
        return meta


@dataclass
class Embeddings:
    """Vectors read from an embeddings file, with their ids, labels and metadata.

    Attributes:
        vectors: float32 array of shape ``(n, d)``.
        ids: one id per row, or ``None`` when the file holds none.
        labels: one label per row, or ``None``.
        meta: the file's metadata (``meta.count`` counts the whole file).
        start: index of ``vectors[0]`` in the whole file (non-zero for the
            batches of :func:`iter_embeddings`).
    """

    vectors: np.ndarray
    ids: list[str] | None
    labels: list[str] | None
    meta: EmbeddingsMeta
    start: int = 0

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


def describe(name: str, pin: str, dimension: int) -> str:
    short = pin if len(pin) <= 32 else pin[:28] + "…"
    return f"{name!r} (pin {short}, {dimension}-d)"


def meta_for(generation: Generation, role: str, tower: Tower = Tower.TEXT) -> EmbeddingsMeta:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if Tower(tower) not in generation.towers:
        raise ValidationError(
            f"generation {generation.name!r} ({generation.modality}) has no {Tower(tower)} tower"
        )
    return EmbeddingsMeta(
        generation=generation.name,
        pin=generation.pin,
        recipe_hash=generation.recipe.hash,
        role=role,
        count=0,
        dimension=generation.dimension,
        created=utc_now(),
        embedreg_version=__version__,
        tower=Tower(tower).value,
    )


def check_generation(meta: EmbeddingsMeta, generation: Generation, what: str) -> None:
    """Raise :class:`GenerationMismatch` unless ``meta`` was made by ``generation``.

    Name, pin and recipe hash must all agree; then the dimension must too.
    """
    if (meta.generation, meta.pin, meta.recipe_hash) != (
        generation.name,
        generation.pin,
        generation.recipe.hash,
    ):
        made_by = meta.describe_generation()
        wanted = describe(generation.name, generation.pin, generation.dimension)
        if meta.generation == generation.name:
            differs = "pin" if meta.pin != generation.pin else "recipe"
            made_by += f" [a different {differs} under the same name]"
        elif meta.pin == generation.pin:  # the pins read alike: say what differs
            made_by += (
                " [the same weights, another recipe]"
                if meta.recipe_hash != generation.recipe.hash
                else " [the same weights and recipe, registered under another name]"
            )
        raise GenerationMismatch(what, made_by, wanted)
    if meta.dimension != generation.dimension:
        raise DimensionMismatch(generation.dimension, meta.dimension, what)
