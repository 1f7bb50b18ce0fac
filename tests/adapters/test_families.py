"""Known answers for every family: planted maps are recovered, λ bounds the defect."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
from embedreg.adapters import Adapter, AffineMap, families, family_class
from embedreg.adapters.lambda_orth import LambdaOrthConfig
from embedreg.adapters.linear import defect
from embedreg.adapters.mlp import MLPConfig
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import DimensionMismatch, ValidationError
from embedreg.training import AdapterTrainer, TrainConfig

BUILTINS = ["affine", "identity", "lambda-orth", "lowrank", "mlp", "procrustes"]
SCHEDULE = {f.name for f in fields(TrainConfig)}


def fit(family: str, source: np.ndarray, target: np.ndarray, **settings: object) -> Adapter:
    """Fit ``family``: schedule settings go to the trainer, the family's own to its config."""
    declared = {o.name for o in family_class(family).config_class.options()}
    schedule = {k: v for k, v in settings.items() if k in SCHEDULE}
    options = {k: v for k, v in settings.items() if k in declared}
    config = TrainConfig(**{"device": "cpu", **schedule})  # type: ignore[arg-type]
    return AdapterTrainer(config).fit(family, source, target, options=options).adapter


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_builtins_are_entry_points():
    assert set(BUILTINS) <= set(families())
    for name in BUILTINS:
        cls = family_class(name)
        assert issubclass(cls, Adapter) and cls.family == name


@pytest.mark.parametrize(
    ("in_dim", "out_dim", "spectrum"),
    [(32, 32, "decaying"), (24, 40, "decaying"), (40, 24, "flat")],
    ids=["square", "expanding", "reducing"],
)
def test_procrustes_recovers_planted_rotation(in_dim, out_dim, spectrum):
    data = planted_pairs(6000, in_dim, out_dim, noise=0.1, spectrum=spectrum, seed=1)
    a = fit("procrustes", data.pairs.source, data.pairs.target)
    assert a.affine().W.shape == (out_dim, in_dim)
    assert defect(a.affine().W) < 1e-4
    assert rel_err(a.affine().W, data.weight) < 0.05
    assert np.all(a.affine().b == 0)


@pytest.mark.parametrize(("in_dim", "out_dim"), [(32, 32), (24, 40), (40, 24)])
def test_lambda_orth_recovers_planted_rotation(in_dim, out_dim):
    data = planted_pairs(6000, in_dim, out_dim, noise=0.1, seed=2)
    a = fit("lambda-orth", data.pairs.source, data.pairs.target, lam=0.05)
    assert rel_err(a.affine().W, data.weight) < 0.05
    assert np.abs(a.affine().b).max() < 0.02


@pytest.mark.parametrize(("in_dim", "out_dim"), [(32, 32), (24, 40), (40, 24)])
def test_affine_recovers_planted_affine_map(in_dim, out_dim):
    data = planted_pairs(8000, in_dim, out_dim, kind="affine", noise=0.01, seed=3)
    a = fit("affine", data.pairs.source, data.pairs.target, ridge=0.0)
    assert rel_err(a.affine().W, data.weight) < 0.02
    assert np.allclose(a.affine().b, data.bias, atol=5e-3)


@pytest.mark.parametrize(("in_dim", "out_dim"), [(32, 32), (24, 40), (40, 24)])
def test_lambda_orth_defect_ends_inside_band(in_dim, out_dim):
    data = planted_pairs(6000, in_dim, out_dim, kind="affine", noise=0.05, seed=4)
    lam = 2.0
    affine = fit("affine", data.pairs.source, data.pairs.target)
    assert defect(affine.affine().W) > 2 * lam  # the unconstrained optimum lies outside the band
    a = fit("lambda-orth", data.pairs.source, data.pairs.target, lam=lam)
    d = defect(a.affine().W)
    assert 0.5 * lam < d <= lam  # moved off orthogonal, but stopped inside the band
    assert a.config_dict()["lam"] == lam


def test_lambda_per_dimension_scales_with_gram_size():
    data = planted_pairs(3000, 36, 16, kind="affine", noise=0.05, seed=5)
    a = fit("lambda-orth", data.pairs.source, data.pairs.target, lam_per_dim=0.25)
    cfg = a.config_dict()
    assert cfg["lam"] == pytest.approx(0.25 * 4.0)  # √min(36, 16) = 4
    assert cfg["lam_per_dim"] == 0.25
    assert defect(a.affine().W) <= cfg["lam"]


def test_lambda_given_both_ways_is_refused():
    with pytest.raises(ValidationError, match="both"):
        LambdaOrthConfig(lam=3.0, lam_per_dim=0.5)


def test_identity_only_between_equal_dimensions():
    x = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    a = fit("identity", x, x)
    assert np.array_equal(a.transform(x), x)
    assert a.tensors() == {}
    with pytest.raises(DimensionMismatch):
        fit("identity", x, x[:, :4])


@pytest.mark.parametrize("family", ["lowrank", "mlp"])
def test_drift_adapter_variants_improve_on_procrustes(family):
    data = planted_pairs(6000, 32, 24, kind="affine", noise=0.05, seed=6)
    train, test = data.pairs.split(0.2, seed=0)
    base = fit("procrustes", train.source, train.target)
    a = fit(family, train.source, train.target, rank=8, hidden=64)

    def mse(m: Adapter) -> float:
        return float(((m.transform(test.source) - test.target) ** 2).sum(1).mean())

    assert mse(a) < 0.8 * mse(base)


@pytest.mark.parametrize("family", BUILTINS)
def test_transform_matches_affine_map(family):
    data = planted_pairs(2000, 16, 16, kind="affine", noise=0.05, seed=7)
    a = fit(family, data.pairs.source, data.pairs.target, rank=4, hidden=16)
    x = data.pairs.source[:50]
    y = a.transform(x)
    assert y.dtype == np.float32 and y.shape == (50, 16)
    aff = a.affine()
    if family == "mlp":
        assert aff is None and a.defect_weight() is None
    else:
        assert aff is not None
        assert np.allclose(aff.apply(x), y, atol=1e-5)


def test_mlp_numpy_transform_matches_torch_module():
    import torch
    from embedreg.adapters.base import AffineMap
    from embedreg.adapters.mlp import ResidualMLPAdapter
    from embedreg.adapters.torch_modules import ResidualMLPModule

    rng = np.random.default_rng(0)
    init = AffineMap(rng.standard_normal((6, 5)).astype(np.float32), np.ones(6, np.float32))
    torch.manual_seed(0)
    module = ResidualMLPModule(init, hidden=7)
    torch.nn.init.normal_(module.down.weight)
    adapter = ResidualMLPAdapter.from_module(module, MLPConfig())
    x = rng.standard_normal((20, 5)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert np.allclose(adapter.transform(x), expected, atol=1e-5)


def test_wrong_input_dimension_is_refused():
    data = planted_pairs(500, 8, 6, seed=8)
    for family in ("procrustes", "lambda-orth", "lowrank", "mlp"):
        a = fit(family, data.pairs.source, data.pairs.target, rank=2, hidden=8, epochs=1)
        with pytest.raises(DimensionMismatch):
            a.transform(np.zeros((2, 7), np.float32))


@pytest.mark.parametrize(
    ("family", "config"),
    [
        ("affine", {"ridge": 0.5}),
        ("procrustes", {"center": True}),
        ("lambda-orth", LambdaOrthConfig(lam=2.0, joint_forward=True, w_forward=0.5)),
        ("lambda-orth", LambdaOrthConfig(lam_per_dim=0.25, center=True)),
        ("lambda-orth", LambdaOrthConfig(lam=float("inf"))),
    ],
)
def test_linear_adapters_keep_their_typed_config_after_loading(
    tmp_path: object, family: str, config: object
) -> None:
    from pathlib import Path

    from embedreg.adapters import load_adapter, save_adapter
    from embedreg.adapters.linear import LinearAdapter

    cls = family_class(family)
    assert issubclass(cls, LinearAdapter)
    cfg = cls.make_config(config)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 4)).astype(np.float32), np.zeros(3, np.float32)
    if family == "lambda-orth":
        gallery = AffineMap(np.eye(3, dtype=np.float32), np.zeros(3, np.float32))
        joint = getattr(cfg, "joint_forward", False)
        adapter: LinearAdapter = cls(w, b, gallery if joint else None, cfg)  # type: ignore[call-arg]
    else:
        adapter = cls(w, b, cfg)
    assert adapter.config == cfg
    folder = Path(str(tmp_path)) / family
    save_adapter(adapter, folder)
    loaded = load_adapter(folder).adapter
    assert isinstance(loaded, cls)
    assert isinstance(loaded.config, cls.config_class)
    assert loaded.config_dict() == adapter.config_dict()  # the file says the same again
    expected = cfg
    if isinstance(cfg, LambdaOrthConfig) and not cfg.joint_forward:
        expected = replace(cfg, w_forward=0.0)  # unused without F̃: recorded as 0
    assert loaded.config == expected  # λ as given: absolutely, or per dimension
    assert loaded.card_facts() == adapter.card_facts()
