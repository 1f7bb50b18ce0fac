"""Relevance judgements (BEIR qrels) and the metrics they give: nDCG@k and recall@k.

A search team's usual evaluation data is a set of queries with judged
relevant items: BEIR's layout, a ``queries`` file, a ``corpus`` file and a
``qrels`` TSV with the header ``query-id  corpus-id  score`` (tab-separated;
a score above 0 is relevant, larger is more relevant).  :func:`read_qrels`
reads the TSV, :func:`read_judged_texts` reads BEIR's ``queries.jsonl`` /
``corpus.jsonl`` (``_id``, ``text``, an optional ``title`` put before the
text) or any embedreg input file (``.txt``, ``.jsonl``, ``.csv``).

Metrics follow ``trec_eval`` (as BEIR computes them): the gain of an item is
its score, the discount ``log2(rank + 1)``, the ideal ranking sorts the judged
items by score; a query with no relevant judged item is left out.

Example:
    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0]], np.float32)
    >>> corpus = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> rel = Relevance.from_qrels(Qrels({"q1": {"d2": 1.0}}), ["q1"], ["d1", "d2"])
    >>> float(ndcg_per_query(q, corpus, rel, 10)[0]) < 1.0, float(recall_per_query(q, corpus, rel, 1)[0])
    (True, 0.0)
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.inputs import read_inputs
from ..errors import InputError
from .metrics import topk_indices

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = [
    "QRELS_HEADER",
    "Qrels",
    "Relevance",
    "ndcg_from_ranking",
    "ndcg_per_query",
    "read_judged_texts",
    "read_qrels",
    "recall_from_ranking",
    "recall_per_query",
]

#: The header of a BEIR qrels file.
QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass(frozen=True)
class Qrels:
    """Judgements: ``judgements[query_id][corpus_id] = score`` (above 0: relevant)."""

    judgements: dict[str, dict[str, float]]

    def __len__(self) -> int:
        return len(self.judgements)

    @property
    def pairs(self) -> int:
        """Number of judged (query, item) pairs."""
        return sum(len(v) for v in self.judgements.values())


def read_qrels(path: str | os.PathLike[str]) -> Qrels:
    """Read a BEIR qrels TSV (``query-id corpus-id score``; the header line is optional).

    Raises:
        InputError: a missing file, a line without three fields, a score that
            is not a number, or no judgement at all (the line is named).
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(str(file), None, "no such qrels file")
    out: dict[str, dict[str, float]] = {}
    with open(file, encoding="utf-8", newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or not "".join(row).strip():
                continue
            if line_no == 1 and tuple(c.strip().lower() for c in row[:3]) == QRELS_HEADER:
                continue
            if len(row) < 3:
                raise InputError(
                    str(file),
                    line_no,
                    f"expected 3 tab-separated fields (query-id, corpus-id, score), got {len(row)}",
                )
            qid, did, score = row[0].strip(), row[1].strip(), row[-1].strip()
            try:
                value = float(score)
            except ValueError:
                raise InputError(str(file), line_no, f"score {score!r} is not a number") from None
            if not qid or not did or not math.isfinite(value):
                raise InputError(str(file), line_no, "empty id or non-finite score")
            out.setdefault(qid, {})[did] = value
    if not out:
        raise InputError(str(file), None, "holds no judgements")
    return Qrels(out)


def read_judged_texts(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Ids and texts of a queries or corpus file (BEIR JSONL with ``_id``, or an embedreg input).

    In BEIR JSONL a non-empty ``title`` is put before the ``text``.
    """
    file = Path(path)
    if file.suffix.lower() == ".jsonl" and _has_beir_ids(file):
        ids: list[str] = []
        texts: list[str] = []
        with open(file, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    item_id = str(obj["_id"])
                    title = str(obj.get("title") or "").strip()
                    body = str(obj.get("text") or "").strip()
                except (ValueError, KeyError, TypeError) as exc:
                    raise InputError(str(file), line_no, f"not a BEIR record ({exc})") from None
                text = f"{title} {body}".strip() if title else body
                if not text:
                    raise InputError(str(file), line_no, "empty text")
                ids.append(item_id)
                texts.append(text)
        if not ids:
            raise InputError(str(file), None, "holds no items")
        return ids, texts
    items = list(read_inputs(file))
    if not items:
        raise InputError(str(file), None, "holds no items")
    return [i.id for i in items], [i.text for i in items]


def _has_beir_ids(file: Path) -> bool:
    try:
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return "_id" in json.loads(line)
    except (OSError, ValueError):
        return False
    return False


@dataclass(frozen=True)
class Relevance:
    """Judgements by row: ``grades[q]`` maps corpus row → score for query row ``q``.

    Only queries with at least one relevant (score > 0) item are kept; their
    rows in the original query list are ``rows``.
    """

    rows: npt.NDArray[np.intp]
    grades: tuple[dict[int, float], ...]

    @classmethod
    def from_qrels(
        cls, qrels: Qrels, query_ids: Sequence[str], corpus_ids: Sequence[str]
    ) -> Relevance:
        """Judgements of ``qrels`` for the queries and corpus items given (others ignored)."""
        where = {c: i for i, c in enumerate(corpus_ids)}
        rows: list[int] = []
        grades: list[dict[int, float]] = []
        for row, qid in enumerate(query_ids):
            judged = {where[d]: s for d, s in qrels.judgements.get(qid, {}).items() if d in where}
            if any(s > 0 for s in judged.values()):
                rows.append(row)
                grades.append(judged)
        return cls(np.asarray(rows, dtype=np.intp), tuple(grades))

    def __len__(self) -> int:
        return len(self.grades)


def ndcg_from_ranking(top: npt.NDArray[np.int64], rel: Relevance) -> npt.NDArray[np.float64]:
    """nDCG@k of each judged query from its ranked corpus rows ``top[q]`` (``k = top.shape[1]``)."""
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    out = np.zeros(len(rel), dtype=np.float64)
    for i, (ranked, grades) in enumerate(zip(top, rel.grades, strict=True)):
        gains = np.array([max(grades.get(int(d), 0.0), 0.0) for d in ranked])
        ideal = np.sort(np.array([g for g in grades.values() if g > 0]))[::-1][: top.shape[1]]
        idcg = float((ideal * discount[: len(ideal)]).sum())
        out[i] = float((gains * discount[: len(gains)]).sum()) / idcg if idcg > 0 else 0.0
    return out


def recall_from_ranking(top: npt.NDArray[np.int64], rel: Relevance) -> npt.NDArray[np.float64]:
    """Recall@k of each judged query from its ranked corpus rows: the share of its relevant items."""
    out = np.zeros(len(rel), dtype=np.float64)
    for i, (ranked, grades) in enumerate(zip(top, rel.grades, strict=True)):
        relevant = {d for d, g in grades.items() if g > 0}
        out[i] = len(relevant.intersection(int(d) for d in ranked)) / len(relevant)
    return out


def ndcg_per_query(
    queries: FloatArray, corpus: FloatArray, rel: Relevance, k: int = 10, *, device: str = "cpu"
) -> npt.NDArray[np.float64]:
    """nDCG@k of each judged query (rows ``rel.rows`` of ``queries``) over ``corpus``."""
    return ndcg_from_ranking(topk_indices(queries[rel.rows], corpus, k, device=device), rel)


def recall_per_query(
    queries: FloatArray, corpus: FloatArray, rel: Relevance, k: int = 10, *, device: str = "cpu"
) -> npt.NDArray[np.float64]:
    """Recall@k of each judged query: the share of its relevant items in its top k."""
    return recall_from_ranking(topk_indices(queries[rel.rows], corpus, k, device=device), rel)
