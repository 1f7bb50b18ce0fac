"""AdapterTrainer: determinism, callbacks, early stopping, streaming, losses, refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from embedreg.adapters._linear import defect
from embedreg.errors import TrainingDataError, ValidationError
from embedreg.evaluation import measure
from embedreg.synthetic import planted_pairs
from embedreg.training import AdapterTrainer, EpochStats, TrainConfig, TrainerCallback, TrainStart


@pytest.fixture(scope="module")
def data():
    return planted_pairs(3000, 24, 16, kind="affine", noise=0.1, n_classes=5, seed=0).pairs


def train(data, family="lambda-orth", callbacks=(), labels=None, **settings):
    config = TrainConfig(**{"device": "cpu", **settings})
    return AdapterTrainer(config, callbacks=callbacks).fit(family, data.source, data.target, labels)


@pytest.mark.parametrize("family", ["lambda-orth", "lowrank", "mlp"])
def test_same_seed_same_weights(data, family):
    a = train(data, family, epochs=3, seed=7)
    b = train(data, family, epochs=3, seed=7)
    for name, t in a.adapter.tensors().items():
        assert np.array_equal(t, b.adapter.tensors()[name]), name
    c = train(data, family, epochs=3, seed=8)
    assert any(
        not np.array_equal(t, c.adapter.tensors()[n]) for n, t in a.adapter.tensors().items()
    )


class Recorder(TrainerCallback):
    def __init__(self, stop_after: int | None = None) -> None:
        self.start: TrainStart | None = None
        self.epochs: list[EpochStats] = []
        self.ended = False
        self.stop_after = stop_after

    def on_train_begin(self, start):
        self.start = start

    def on_epoch_end(self, stats):
        self.epochs.append(stats)
        return self.stop_after is not None and stats.epoch >= self.stop_after

    def on_train_end(self, result):
        self.ended = True


def test_callbacks_see_every_epoch_and_can_stop(data):
    rec = Recorder(stop_after=2)
    result = train(data, callbacks=[rec], epochs=10)
    assert rec.start is not None and rec.start.family == "lambda-orth"
    assert rec.start.n_train + rec.start.n_validation == 3000
    assert [s.epoch for s in rec.epochs] == [1, 2] and rec.ended
    assert result.epochs_run == 2 and result.stopped_early
    s = rec.epochs[0]
    assert s.loss > 0 and s.val_loss > 0 and 0 <= s.val_recall <= 1 and s.defect is not None


def test_closed_form_families_call_begin_and_end(data):
    rec = Recorder()
    result = train(data, "procrustes", callbacks=[rec])
    assert rec.start is not None and rec.start.fitting == "closed-form" and rec.ended
    assert result.epochs_run == 0 and rec.epochs == []


def test_early_stopping_keeps_the_best_epoch(data):
    result = train(data, epochs=60, patience=2)
    assert result.stopped_early and result.epochs_run < 60
    assert result.best_epoch == result.epochs_run - 2
    lrs = [s.lr for s in result.history]
    assert lrs[-1] < lrs[0]  # epochs without improvement halve the learning rate


def test_streamed_batches_give_the_same_adapter(data, monkeypatch):
    import embedreg.training as training

    resident = train(data, epochs=3)
    monkeypatch.setattr(training, "_fits_on_device", lambda device, n_bytes: False)
    streamed = train(data, epochs=3)
    assert resident.resident and not streamed.resident
    assert np.array_equal(resident.adapter.affine().W, streamed.adapter.affine().W)


def test_infinite_lambda_approaches_least_squares(data):
    from embedreg.adapters.affine import AffineAdapter

    ridge = AffineAdapter.fit(data.source, data.target, TrainConfig(device="cpu", ridge=0.0))
    free = train(data, lam=None, lam_per_dim=None, epochs=80, lr=1e-2)
    assert free.adapter.config_dict()["lam"] is None
    err = np.linalg.norm(free.adapter.affine().W - ridge.weight) / np.linalg.norm(ridge.weight)
    assert err < 0.1
    assert defect(free.adapter.affine().W) > 1.0


@pytest.mark.parametrize("with_labels", [False, True])
def test_joint_forward_and_contrastive_terms(data, with_labels):
    labels = data.label_codes() if with_labels else None
    result = train(
        data, labels=labels, joint_forward=True, w_contrastive=0.1, epochs=4, temperature=0.1
    )
    adapter = result.adapter
    assert adapter.gallery is not None and adapter.config_dict()["joint_forward"] is True
    assert "gallery_weight" in adapter.tensors()
    heldout = data if with_labels else replace(data, labels=None)
    figs = measure(adapter, heldout, device="cpu")
    assert 0 <= figs["gallery.recall@1"] <= 1
    assert ("gallery.cmc@1" in figs) == with_labels
    plain = train(data, labels=labels, epochs=4)
    assert not np.array_equal(plain.adapter.affine().W, adapter.affine().W)


def test_refusals(data):
    bad = data.source.copy()
    bad[3, 3] = np.nan
    with pytest.raises(TrainingDataError, match="NaN"):
        AdapterTrainer(TrainConfig(device="cpu")).fit("procrustes", bad, data.target)
    with pytest.raises(TrainingDataError, match="at least 25"):
        AdapterTrainer(TrainConfig(device="cpu")).fit("affine", data.source[:20], data.target[:20])
    with pytest.raises(TrainingDataError, match="3000 source vectors but 2999"):
        AdapterTrainer(TrainConfig(device="cpu")).fit("affine", data.source, data.target[:-1])
    with pytest.raises(ValidationError, match="positive"):
        TrainConfig(epochs=0)
    with pytest.raises(ValidationError, match="unknown device"):
        AdapterTrainer(TrainConfig(device="tpu")).fit("affine", data.source, data.target)


def test_cuda_refused_without_a_gpu(data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValidationError, match="CUDA"):
        train(data, device="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("family", ["affine", "lambda-orth", "mlp"])
def test_gpu_training_matches_cpu(data, family):
    cpu = train(data, family, epochs=3)
    gpu = AdapterTrainer(TrainConfig(device="cuda", epochs=3)).fit(family, data.source, data.target)
    assert gpu.device == "cuda" and gpu.resident
    x = data.source[:100]
    assert np.allclose(cpu.adapter.transform(x), gpu.adapter.transform(x), atol=2e-2)
