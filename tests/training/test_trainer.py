"""AdapterTrainer: determinism, callbacks, early stopping, streaming, losses, refusals."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
from embedreg.adapters.linear import defect
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import TrainingDataError, ValidationError
from embedreg.evaluation import measure
from embedreg.training import (
    AdapterTrainer,
    EpochStats,
    TrainConfig,
    TrainerCallback,
    TrainStart,
    label_codes,
)

SCHEDULE = {f.name for f in fields(TrainConfig)}


@pytest.fixture(scope="module")
def data():
    return planted_pairs(3000, 24, 16, kind="affine", noise=0.1, n_classes=5, seed=0).pairs


def train(data, family="lambda-orth", callbacks=(), labels=None, **settings):
    """Schedule settings go to the trainer, the rest to the family's config."""
    schedule = {k: v for k, v in settings.items() if k in SCHEDULE}
    options = {k: v for k, v in settings.items() if k not in SCHEDULE}
    config = TrainConfig(**{"device": "cpu", **schedule})
    trainer = AdapterTrainer(config, callbacks=callbacks)
    return trainer.fit(family, data.source, data.target, labels, options=options)


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
    import embedreg.training.gradient as trainer

    resident = train(data, epochs=3)
    monkeypatch.setattr(trainer, "_fits_on_device", lambda device, n_bytes: False)
    streamed = train(data, epochs=3)
    assert resident.resident and not streamed.resident
    assert np.array_equal(resident.adapter.affine().W, streamed.adapter.affine().W)


def test_infinite_lambda_approaches_least_squares(data):
    from embedreg.adapters.affine import AffineAdapter, AffineConfig

    ridge = AffineAdapter.fit(data.source, data.target, AffineConfig(ridge=0.0))
    free = train(data, lam=float("inf"), epochs=80, lr=1e-2)
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
    assert 0 <= figs.gallery.recall_at_1 <= 1
    assert (figs.gallery.cmc_at_1 is not None) == with_labels
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
    with pytest.raises(ValidationError, match=r"unknown option 'rnak' .*known: rank"):
        train(data, "lowrank", rnak=4)
    with pytest.raises(ValidationError, match="positive integer"):
        train(data, "lowrank", rank="0")
    with pytest.raises(ValidationError, match="not a number"):
        train(data, "lambda-orth", lam="twelve")


def test_labels_may_be_strings_or_codes_and_are_checked(data):
    strings = [f"topic-{c}" for c in data.label_codes()]
    assert np.array_equal(label_codes(strings, len(data)), data.label_codes())
    by_name = train(data, labels=strings, epochs=2)
    by_code = train(data, labels=data.label_codes(), epochs=2)
    assert np.array_equal(by_name.adapter.affine().W, by_code.adapter.affine().W)
    assert by_name.history[0].val_cmc is not None  # labels: CMC early stopping
    with pytest.raises(TrainingDataError, match="one per pair"):
        train(data, labels=strings[:-1], epochs=1)
    with pytest.raises(TrainingDataError, match="class names or integer codes"):
        train(data, labels=np.linspace(0, 1, len(data)), epochs=1)
    with pytest.raises(
        TrainingDataError,
        match=rf"shape \({len(data)},\); got an array of shape \({len(data)}, 2\)",
    ):
        train(data, labels=np.zeros((len(data), 2), dtype=int), epochs=1)


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
