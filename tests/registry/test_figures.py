"""Figures as a typed value: every key embedreg writes has an attribute, every stored form round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from embedreg.adapters.identity import IdentityAdapter
from embedreg.data.pairs import PairedEmbeddings
from embedreg.evaluation.crossmodal import measure_crossmodal, with_modalities
from embedreg.evaluation.judged import judged_figures
from embedreg.evaluation.qrels import Relevance
from embedreg.registry.figures import Figures, GridPoint, Scores


def test_training_writes_no_figure_without_an_attribute(stored_registry):
    adapters = stored_registry["adapters"]
    assert len(adapters) == 4
    for stored in adapters.values():
        figs = Figures.from_dict(stored["figures"])
        assert set(figs.extra) <= {"lambda"}  # a family's headline setting, nothing else
        assert figs.heldout is not None and figs.retention is not None
        assert figs.to_dict() == stored["figures"]
        assert Figures.from_dict(figs.to_dict()) == figs
    auto = Figures.from_dict(adapters["v2-to-v1.auto"]["figures"])
    assert auto.labels is True and isinstance(auto.criterion, bool)
    assert auto.target.cmc_at_1 is not None and auto.source.map is not None
    assert auto.retention == pytest.approx(auto.cmc_at_1 / auto.target.cmc_at_1)
    assert auto.retention_basis == "cmc@1" and auto.retention_interval is not None
    lam = Figures.from_dict(adapters["v2-to-v1.lambda-orth"]["figures"])
    assert lam.setting("lambda") == pytest.approx(0.375 * 4.0) and lam.defect is not None
    few = Figures.from_dict(adapters["few.backward"]["figures"])
    # label-free and only 12 held out: criterion and intervals recorded as null, with a note
    assert few.labels is False and few.criterion is None and "criterion" in few.nulls
    assert few.retention_interval is None and "retention.interval" in few.nulls
    assert few.retention_interval_note is not None and few.interval_notes
    assert few.count == few.heldout == 12


def test_cross_modal_and_judged_figures_have_attributes():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 8)).astype(np.float32)
    img = np.repeat(centres, 12, axis=0) + 0.1 * rng.standard_normal((36, 8)).astype(np.float32)
    labels = [str(i // 12) for i in range(36)]
    images = PairedEmbeddings([f"i{i}" for i in range(36)], img, img, labels)
    texts = PairedEmbeddings(["a", "b", "c"], centres, centres, ["0", "1", "2"])
    measured = measure_crossmodal(IdentityAdapter(8), texts, images, device="cpu")
    figs = with_modalities(Figures(heldout=3), ["text"], ["text", "image"], measured)
    stored = figs.to_dict()
    assert stored["text-image.cmc@1"] == 1.0 and stored["modalities.measured"] == ["image", "text"]
    assert Figures.from_dict(stored) == figs
    ti, ii = figs.crossmodal("text-image"), figs.crossmodal("image-image")
    assert ti is not None and ii is not None
    assert (ti.cmc_at_1, ti.criterion, ti.queries, ti.images) == (1.0, True, 3, 36)
    assert ti.target.cmc_at_1 == 1.0 and ii.source.cmc_at_1 == 1.0 and ii.cmc_at_1_interval
    assert figs.modalities_trained == ("text",) and figs.modalities_measured == ("image", "text")
    corpus = rng.standard_normal((20, 8)).astype(np.float32)
    queries = corpus[:5] + 0.01
    rel = Relevance(np.arange(5, dtype=np.intp), tuple({i: 1.0} for i in range(5)))
    figs = judged_figures(queries, queries, corpus, rel, device="cpu")
    assert Figures.from_dict(figs.to_dict()) == figs
    assert figs.queries == 5 and figs.count == 5 and figs.ndcg_at_10 == figs.target.ndcg_at_10
    assert figs.retention_basis == "ndcg@10" and figs.recall_at_10_retention == 1.0


def test_keyword_construction():
    figs = Figures(
        heldout=40, recall_at_1=0.5, target=Scores(cmc_at_1=0.8), nulls=frozenset({"defect"})
    )
    assert figs.to_dict() == {"heldout": 40, "recall@1": 0.5, "target.cmc@1": 0.8, "defect": None}
    assert Figures.from_dict(figs.to_dict()) == figs
    assert Scores(cmc_at_1=0.2).headline == 0.2 and Figures().count == 0
    assert GridPoint.from_dict({"t": 0.25, "map": 0.5}).to_dict() == {"t": 0.25, "map": 0.5}
    with pytest.raises(ValueError, match="no cross-modal use"):
        figs.crossmodal("audio-image")
