"""Adapters on disk: bit-exact round trips, and every kind of damage refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from embedreg.adapters.persistence import (
    CONFIG_FILENAME,
    WEIGHTS_FILENAME,
    load_adapter,
    save_adapter,
)
from embedreg.data.synthetic import planted_pairs
from embedreg.errors import AdapterIntegrityError, PluginError
from embedreg.registry import Figures, Provenance
from embedreg.training import AdapterTrainer, TrainConfig

FAMILIES = ["identity", "procrustes", "affine", "lambda-orth", "lowrank", "mlp"]


@pytest.fixture(scope="module")
def trained():
    data = planted_pairs(800, 12, 12, kind="affine", noise=0.1, seed=0).pairs
    out = {}
    trainer = AdapterTrainer(TrainConfig(device="cpu", epochs=2))
    options = {"lowrank": {"rank": 3}, "mlp": {"hidden": 8}, "lambda-orth": {"joint_forward": True}}
    for family in FAMILIES:
        result = trainer.fit(family, data.source, data.target, options=options.get(family))
        out[family] = result.adapter
    return out, data


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_is_bit_exact(trained, tmp_path, family):
    adapters, data = trained
    adapter = adapters[family]
    provenance = Provenance(family=family, extra={"pins": ["a", "b"]})
    figures = Figures(recall_at_1=0.5, nulls=frozenset({"criterion"}))
    digest = save_adapter(adapter, tmp_path, provenance=provenance, figures=figures)
    loaded = load_adapter(tmp_path, sha256=digest)
    assert type(loaded.adapter) is type(adapter)
    assert loaded.config == adapter.config_dict()
    assert loaded.provenance == provenance and loaded.figures == figures
    original, back = adapter.tensors(), loaded.adapter.tensors()
    assert original.keys() == back.keys()
    for name in original:
        assert back[name].dtype == np.float32
        assert np.array_equal(original[name], back[name]), name
    x = data.source[:20]
    assert np.array_equal(adapter.transform(x), loaded.adapter.transform(x))


def test_files_are_safetensors_and_json_not_pickle(trained, tmp_path):
    adapters, _ = trained
    save_adapter(adapters["lambda-orth"], tmp_path)
    raw = (tmp_path / WEIGHTS_FILENAME).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{"  # the safetensors layout: u64 header length, JSON header, raw data
    header = json.loads(raw[8 : 8 + header_len])
    assert header["__metadata__"]["format"] == "embedreg.adapter"
    assert {"weight", "bias", "gallery_weight", "gallery_bias"} <= set(header)
    from safetensors.numpy import load_file

    plain = load_file(str(tmp_path / WEIGHTS_FILENAME))  # any safetensors reader applies it
    x = np.ones((1, 12), np.float32)
    assert np.allclose(x @ plain["weight"].T + plain["bias"], adapters["lambda-orth"].transform(x))
    config = json.loads((tmp_path / CONFIG_FILENAME).read_text())
    assert config["adapter"]["family"] == "lambda-orth"


@pytest.fixture
def saved(trained, tmp_path) -> tuple[Path, str]:
    adapters, _ = trained
    return tmp_path, save_adapter(
        adapters["affine"], tmp_path, provenance=Provenance(extra={"x": 1})
    )


def test_tampered_weights_are_refused(saved):
    folder, digest = saved
    path = folder / WEIGHTS_FILENAME
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(raw))
    with pytest.raises(AdapterIntegrityError, match="sha256"):
        load_adapter(folder, sha256=digest)


def test_truncated_weights_are_refused(saved):
    folder, digest = saved
    path = folder / WEIGHTS_FILENAME
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(AdapterIntegrityError, match="sha256"):
        load_adapter(folder, sha256=digest)
    with pytest.raises(AdapterIntegrityError, match=r"damaged|truncated"):
        load_adapter(folder)  # without a recorded hash the parser still refuses it
    path.write_bytes(b"\x05\x00")
    with pytest.raises(AdapterIntegrityError, match="truncated"):
        load_adapter(folder)


def test_edited_config_is_refused(saved):
    folder, digest = saved
    path = folder / CONFIG_FILENAME
    doc = json.loads(path.read_text())
    doc["adapter"]["ridge"] = 123.0
    path.write_text(json.dumps(doc))
    with pytest.raises(AdapterIntegrityError, match="contradicts"):
        load_adapter(folder, sha256=digest)
    path.write_text("{not json")
    with pytest.raises(AdapterIntegrityError, match="not valid JSON"):
        load_adapter(folder, sha256=digest)


def test_missing_files_are_refused(saved):
    folder, digest = saved
    (folder / WEIGHTS_FILENAME).unlink()
    with pytest.raises(AdapterIntegrityError, match=r"model\.safetensors is missing"):
        load_adapter(folder, sha256=digest)


def test_inconsistent_tensors_are_refused(tmp_path):
    from embedreg.adapters.persistence import ADAPTER_FORMAT, _canonical
    from safetensors.numpy import save

    config = {"family": "affine", "input_dim": 3, "output_dim": 2, "ridge": 0.0}

    def write(tensors, family_config):
        meta = {
            "format": ADAPTER_FORMAT,
            "format_version": "1",
            "embedreg.config": _canonical(family_config),
            "embedreg.provenance": "{}",
            "embedreg.figures": "{}",
        }
        (tmp_path / WEIGHTS_FILENAME).write_bytes(save(tensors, metadata=meta))
        doc = {"adapter": family_config, "provenance": {}, "figures": {}}
        (tmp_path / CONFIG_FILENAME).write_text(json.dumps(doc))

    write({"weight": np.zeros((2, 4), np.float32), "bias": np.zeros(2, np.float32)}, config)
    with pytest.raises(AdapterIntegrityError, match="input_dim"):
        load_adapter(tmp_path)
    write({"weight": np.zeros((2, 3), np.float32)}, config)
    with pytest.raises(AdapterIntegrityError, match="expects tensors"):
        load_adapter(tmp_path)
    nan = np.full((2, 3), np.nan, np.float32)
    write({"weight": nan, "bias": np.zeros(2, np.float32)}, config)
    with pytest.raises(AdapterIntegrityError, match="NaN"):
        load_adapter(tmp_path)
    write(
        {"weight": np.zeros((2, 3), np.float32), "bias": np.zeros(2, np.float32)},
        {**config, "family": "nope"},
    )
    with pytest.raises(PluginError):
        load_adapter(tmp_path)
