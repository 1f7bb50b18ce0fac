"""Judged queries: BEIR files, nDCG@10 and recall@k by hand, and an adapter's figures on them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from embedreg.adapters.identity import IdentityAdapter
from embedreg.adapters.procrustes import ProcrustesAdapter
from embedreg.data.pairs import PairedEmbeddings
from embedreg.errors import InputError
from embedreg.evaluation import measure_judged, read_judged_texts, read_qrels
from embedreg.evaluation.qrels import (
    Qrels,
    Relevance,
    ndcg_from_ranking,
    recall_from_ranking,
    recall_per_query,
)


def test_read_qrels_with_and_without_header(tmp_path: Path) -> None:
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td3\t0\n")
    qrels = read_qrels(path)
    assert qrels.judgements == {"q1": {"d1": 1.0, "d2": 2.0}, "q2": {"d3": 0.0}}
    assert len(qrels) == 2 and qrels.pairs == 3
    path.write_text("q1\td1\t1\n")
    assert read_qrels(path).judgements == {"q1": {"d1": 1.0}}


@pytest.mark.parametrize(
    ("text", "what"),
    [("q1\td1\n", "3 tab-separated"), ("q1\td1\tvery\n", "not a number"), ("", "no judgements")],
)
def test_bad_qrels_name_the_line(tmp_path: Path, text: str, what: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=what):
        read_qrels(path)


def test_beir_jsonl_puts_the_title_first(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "d1", "title": "Rates", "text": "rise again"}, {"_id": "d2", "text": "sport"}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_judged_texts(corpus) == (["d1", "d2"], ["Rates rise again", "sport"])
    plain = tmp_path / "queries.txt"
    plain.write_text("one\ntwo\n")
    assert read_judged_texts(plain) == (["1", "2"], ["one", "two"])


def test_ndcg_and_recall_by_hand() -> None:
    rel = Relevance.from_qrels(
        Qrels({"q": {"a": 2, "b": 1, "z": 0}, "none": {"z": 0}}),
        ["q", "none"],
        ["a", "b", "c", "z"],
    )
    assert rel.rows.tolist() == [0]  # the query without a relevant item is left out
    # ranking c, b, a: DCG = 1/log2(3) + 2/log2(4); ideal a, b: 2 + 1/log2(3)
    top = np.array([[2, 1, 0]])
    expected = (1 / math.log2(3) + 2 / 2) / (2 + 1 / math.log2(3))
    assert ndcg_from_ranking(top, rel)[0] == pytest.approx(expected)
    assert recall_from_ranking(top[:, :2], rel)[0] == pytest.approx(0.5)
    assert ndcg_from_ranking(np.array([[0, 1, 2]]), rel)[0] == pytest.approx(1.0)


def judged_world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, Relevance]:
    """300 corpus items in 30 topics; 60 queries, each relevant to its topic's items."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((30, 12))
    topic = np.arange(300) % 30
    corpus = (centres[topic] + 0.4 * rng.standard_normal((300, 12))).astype(np.float32)
    q_topic = np.arange(60) % 30
    queries = (centres[q_topic] + 0.4 * rng.standard_normal((60, 12))).astype(np.float32)
    judgements = {
        f"q{i}": {f"d{j}": 1.0 for j in np.flatnonzero(topic == q_topic[i])} for i in range(60)
    }
    rel = Relevance.from_qrels(
        Qrels(judgements), [f"q{i}" for i in range(60)], [f"d{j}" for j in range(300)]
    )
    return queries, corpus, rel


def test_measure_judged_on_a_rotated_space() -> None:
    queries, corpus, rel = judged_world()
    rot = np.linalg.qr(np.random.default_rng(1).standard_normal((12, 12)))[0].astype(np.float32)
    src_queries = queries @ rot  # the source generation: the target's space rotated
    pairs = PairedEmbeddings([f"q{i}" for i in range(60)], src_queries, queries)
    fitted = ProcrustesAdapter.fit(corpus @ rot, corpus, ProcrustesAdapter.make_config())
    figs = measure_judged(fitted, pairs, corpus, rel, device="cpu")
    assert figs.retention_basis == "ndcg@10" and figs.queries == 60
    assert figs.retention == pytest.approx(1.0, abs=1e-3) and figs.criterion is not None
    assert figs.ndcg_at_10_interval is not None and figs.retention_interval is not None
    unfitted = measure_judged(IdentityAdapter(12), pairs, corpus, rel, device="cpu")
    assert unfitted.retention < 0.5 and unfitted.criterion is False
    assert unfitted.flips_negative > unfitted.flips_positive
    assert unfitted.recall_at_10_retention == pytest.approx(
        unfitted.recall_at_10 / unfitted.target.recall_at_10
    )
    assert recall_per_query(queries, corpus, rel, 100).mean() == pytest.approx(
        figs.target.recall_at_100
    )
