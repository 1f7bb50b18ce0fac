"""Evaluation data: labelled or unlabelled items, or judged queries over a corpus; embedded and cached.

An :class:`EvalSet` is what the matrix, the backfill curve and the reports
measure on:

- ``EvalSet.from_texts(INPUT)``: items (``.txt``, ``.jsonl``, ``.csv``); with
  labels every item is a query among the others (leave-one-out, a hit shares
  its label); without labels only label-free figures are possible;
- ``EvalSet.from_qrels(QUERIES, CORPUS, QRELS)``: BEIR-style judged queries
  over a corpus (nDCG@10, recall@10).

:meth:`EvalSet.embed` embeds the queries (query role) and the items
(document role) with a generation; vectors are cached in the registry's
embeddings cache, keyed by the generation's pin and recipe, the role and the
texts' hash, so each generation embeds a set once.  Items of an input file
share the cache of :func:`~embedreg.models.embed.embed_pairs` (what
``adapter train --texts`` fills), and a role whose prefix equals the other
role's reuses its vectors.

Example:
    >>> data = EvalSet.from_texts("bbc.jsonl")  # doctest: +SKIP
    >>> data.kind, len(data)  # doctest: +SKIP
    ('labels', 742)
    >>> vecs = data.embed(reg, "v2")  # doctest: +SKIP
    >>> vecs.queries.shape, vecs.items.shape  # doctest: +SKIP
    ((742, 384), (742, 384))
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import ROLES
from ..data.embeddings import load_embeddings, save_embeddings
from ..data.inputs import read_inputs
from ..errors import InputError, ValidationError
from ..evaluation.qrels import Qrels, Relevance, read_judged_texts, read_qrels
from ..evaluation.ranking import Judge
from ..models import EncodeOptions, Encoder
from ..models.embed import cache_key, embeddings_cache_dir
from ..registry import Generation, Registry
from ..training.overlap import overlaps
from ..util.callbacks import NamedProgress
from ..util.hashing import canonical_json_sha256, file_sha256

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["EvalSet", "EvalVectors"]

_CACHE_VERSION = 1


@dataclass(frozen=True)
class EvalVectors:
    """One generation's vectors of an :class:`EvalSet`: queries (query role) and items (documents)."""

    generation: str
    queries: FloatArray
    items: FloatArray


@dataclass(frozen=True)
class EvalSet:
    """Items to search, with what says which are relevant.

    Attributes:
        ids, texts: the items (the gallery).
        labels: a class label per item, or ``None``.
        query_ids, query_texts, qrels: judged queries (``None`` unless from qrels).
        source: where the data came from (for reports).
    """

    ids: list[str]
    texts: list[str]
    labels: list[str] | None = None
    query_ids: list[str] | None = None
    query_texts: list[str] | None = None
    qrels: Qrels | None = None
    source: str = ""
    file: tuple[str, str, str | None, str | None] | None = None  # sha256 and fields of an input

    @classmethod
    def from_texts(
        cls,
        path: str | os.PathLike[str],
        *,
        text_field: str = "text",
        id_field: str | None = None,
        label_field: str | None = None,
    ) -> EvalSet:
        """Items of an input file (labels from ``label`` or ``label_field`` when present)."""
        items = list(
            read_inputs(path, text_field=text_field, id_field=id_field, label_field=label_field)
        )
        if len(items) < 2:
            raise InputError(str(path), None, "an evaluation needs at least two items")
        labels = [i.label for i in items] if items[0].label is not None else None
        return cls(
            [i.id for i in items],
            [i.text for i in items],
            [str(x) for x in labels] if labels is not None else None,
            source=str(path),
            file=(file_sha256(Path(path)), text_field, id_field, label_field),
        )

    @classmethod
    def from_qrels(
        cls,
        queries: str | os.PathLike[str],
        corpus: str | os.PathLike[str],
        qrels: str | os.PathLike[str],
    ) -> EvalSet:
        """Judged queries: a queries file, a corpus file and a BEIR qrels TSV."""
        qids, qtexts = read_judged_texts(queries)
        ids, texts = read_judged_texts(corpus)
        judged = read_qrels(qrels)
        data = cls(ids, texts, None, qids, qtexts, judged, source=f"{queries} + {corpus} + {qrels}")
        if len(data.relevance()) == 0:
            raise ValidationError(
                f"no query of {queries} has a relevant item of {corpus} in {qrels}",
                "check that the qrels use the ids of those two files",
            )
        return data

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kind(self) -> str:
        """``qrels``, ``labels`` or ``unlabelled``."""
        if self.qrels is not None:
            return "qrels"
        return "labels" if self.labels is not None else "unlabelled"

    def relevance(self) -> Relevance:
        """The qrels by row (judged queries with a relevant corpus item)."""
        if self.qrels is None or self.query_ids is None:
            raise ValidationError("this evaluation set has no judged queries")
        return Relevance.from_qrels(self.qrels, self.query_ids, self.ids)

    def label_codes(self) -> npt.NDArray[np.int64] | None:
        """Labels as integer codes."""
        if self.labels is None:
            return None
        _, codes = np.unique(np.asarray(self.labels, dtype=str), return_inverse=True)
        return codes.astype(np.int64)

    def training_overlaps(
        self, registry: Registry, adapters: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Of ``adapters``, those whose training data this set's items (or queries) overlap.

        Figures through them on this set are optimistic; see
        :mod:`embedreg.training.overlap`.
        """
        ids = list(dict.fromkeys(self.ids + (self.query_ids or [])))
        records = {a: registry.adapter(a).provenance for a in dict.fromkeys(adapters)}
        return {a: o.to_dict() for a, o in overlaps(records, ids).items()}

    def judge(self, metric: str | None = None) -> Judge:
        """How searches on this set are scored (``cmc@1`` with labels, ``ndcg@10`` with qrels).

        Raises:
            ValidationError: the set has neither labels nor qrels.
        """
        if self.kind == "qrels":
            return Judge.for_qrels(self.relevance(), metric or "ndcg@10")
        codes = self.label_codes()
        if codes is None:
            raise ValidationError(
                "this needs relevance: the items carry no labels",
                "give --texts with a label per item (--label-column) or --qrels/--queries/--corpus",
            )
        return Judge.for_labels(codes, metric or "cmc@1")

    def embed(
        self,
        registry: Registry,
        generation: str,
        *,
        encode: EncodeOptions | None = None,
        progress: NamedProgress | None = None,
    ) -> EvalVectors:
        """The queries and items embedded by ``generation`` (cached per pin, recipe, role, texts)."""
        gen = registry.generation(generation)
        run = (registry, gen, encode if encode is not None else EncodeOptions(), progress)
        mine = (self.ids, self.texts, self.labels)
        items = _cached(*run, *mine, "document", self.file)
        if self.query_texts is None:
            if gen.recipe.query_prefix == gen.recipe.document_prefix:
                return EvalVectors(gen.name, items, items)
            queries = _cached(*run, *mine, "query", self.file)
        else:
            queries = _cached(*run, self.query_ids or [], self.query_texts, None, "query", None)
        return EvalVectors(gen.name, queries, items)


def _cache_paths(
    registry: Registry,
    gen: Generation,
    texts: list[str],
    role: str,
    file: tuple[str, str, str | None, str | None] | None,
) -> list[Path]:
    """Where ``gen``'s vectors of these texts may be cached, the path to write first."""
    cache = embeddings_cache_dir(registry)
    recipe = gen.recipe
    same = recipe.query_prefix == recipe.document_prefix
    # equal prefixes: one set of vectors serves both roles, kept under the query role's key
    # (the role adapter training embeds in by default), so training and evaluation share it
    roles = list(ROLES) if same else [role]
    if file is not None:  # an input file: the same keys as embed_pairs
        sha, text_field, id_field, label_field = file
        keys = [cache_key(gen, sha, r, (text_field, id_field, label_field)) for r in roles]
        return [cache / f"{gen.name}-{k[:32]}.safetensors" for k in keys]
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    out = []
    for r in roles:
        key = canonical_json_sha256(
            {
                "version": _CACHE_VERSION,
                "pin": gen.pin,
                "recipe": recipe.hash,
                "role": r,
                "texts": digest.hexdigest(),
            }
        )
        out.append(cache / f"eval-{gen.name}-{key[:32]}.safetensors")
    return out


def _cached(
    registry: Registry,
    gen: Generation,
    encode: EncodeOptions,
    progress: NamedProgress | None,
    ids: list[str],
    texts: list[str],
    labels: list[str] | None,
    role: str,
    file: tuple[str, str, str | None, str | None] | None,
) -> FloatArray:
    """``gen``'s vectors of ``texts``, from the cache or embedded and cached (with ids, labels)."""
    paths = _cache_paths(registry, gen, texts, role, file)
    for path in paths:
        if path.exists():
            emb = load_embeddings(path, generation=gen)
            if list(emb.ids or []) == list(ids) and (emb.labels is None) == (labels is None):
                vectors: FloatArray = emb.vectors
                return vectors

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(f"{gen.name} ({role}s)", done, total)

    encoder = Encoder(
        gen, device=encode.device, batch_size=encode.batch_size, precision=encode.precision
    )
    encoded = encoder.encode(texts, role=role, progress=report)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    save_embeddings(paths[0], encoded, generation=gen, role=role, ids=ids, labels=labels)
    out: FloatArray = np.asarray(encoded, dtype=np.float32)
    return out
