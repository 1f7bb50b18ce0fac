"""Fingerprints: stored with generations (schema 2), verified against the real models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from embedreg import Generation, HubSource, Recipe, Registry
from embedreg.constants import SCHEMA_VERSION
from embedreg.errors import (
    ConflictError,
    CorruptedRegistry,
    FingerprintMismatch,
    ModelSourceError,
    NoFingerprint,
    ValidationError,
)
from embedreg.models import pin_model
from embedreg.models.fingerprint import (
    PROBE_TEXTS,
    Fingerprint,
    compare,
    record_fingerprint,
    sketch_vectors,
    verify_generation,
)

import testbed


def alter_one_weight(folder: Path, suffix: str, delta: float) -> None:
    """Add ``delta`` to one element of the tensor whose name ends with ``suffix``."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    (key,) = [k for k in tensors if k.endswith(suffix)]
    changed = tensors[key].clone()
    changed.view(-1)[7] += delta
    tensors[key] = changed
    save_file(tensors, str(path), metadata={"format": "pt"})


@pytest.fixture(scope="module")
def v1_fp(v1_dir: Path) -> Generation:
    return pin_model("v1", v1_dir, fingerprint=True, device="cpu", **testbed.V1_RECIPE)


def test_fingerprint_is_compact_and_round_trips(v1_fp: Generation) -> None:
    fp = v1_fp.fingerprint
    assert fp is not None
    assert (fp.dimension, fp.precision, fp.device) == (384, "fp32", "cpu")
    assert fp.rows().shape == (len(PROBE_TEXTS), 17)
    assert len(json.dumps(fp.to_dict())) < 2000
    again = Generation.from_dict(json.loads(json.dumps(v1_fp.to_dict())))
    assert again == v1_fp
    with pytest.raises(ValidationError, match="unknown field"):
        Fingerprint.from_dict({**fp.to_dict(), "extra": 1})
    with pytest.raises(ValidationError, match="fingerprint is 8-d"):
        Generation(
            "x",
            HubSource("o/m", "0" * 40),
            Recipe(),
            dimension=384,
            fingerprint=Fingerprint("embedreg-probe-1", 8, "AAAA"),
        )


def test_schema_1_registry_is_read_and_upgraded(tmp_path: Path) -> None:
    old = {
        "schema_version": 1,
        "generations": {
            "v2": {
                "name": "v2",
                "source": {"kind": "hub", "repo_id": "org/m", "revision": "a" * 40},
                "recipe": {"pooling": "mean", "normalize": True},
                "dimension": 384,
            }
        },
        "adapters": {},
        "galleries": {},
        "aliases": {"latest": "v2"},
    }
    (tmp_path / "registry.json").write_text(json.dumps(old))
    reg = Registry.open(tmp_path)
    assert reg.generation("v2").fingerprint is None
    reg.set_alias("production", "v2")
    data = json.loads((tmp_path / "registry.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION  # migrated on the first write
    assert data["generations"]["v2"]["fingerprint"] is None
    # a newer schema is still refused, an unknown generation field too
    data["generations"]["v2"]["colour"] = "blue"
    (tmp_path / "registry.json").write_text(json.dumps(data))
    with pytest.raises(CorruptedRegistry, match="colour"):
        reg.document()


def test_sketch_estimates_distances() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((200, 384))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    moved = base + 0.01 * rng.standard_normal((200, 384)) / np.sqrt(384)
    true = np.linalg.norm(moved / np.linalg.norm(moved, axis=1, keepdims=True) - base, axis=1)
    est = np.linalg.norm(sketch_vectors(moved)[:, :-1] - sketch_vectors(base)[:, :-1], axis=1)
    assert 0.8 < float(np.median(est / true)) < 1.2
    fp = Fingerprint("embedreg-probe-1", 384, "")
    ok, *_ = compare(fp, base[:, :100], 1e-3)
    assert not ok  # another dimension never matches


def test_verify_passes_on_the_unchanged_model(v1_fp: Generation) -> None:
    report = verify_generation(v1_fp, device="cpu")
    assert report.ok and report.pin_ok is True and report.fingerprint_ok
    assert report.max_distance < 1e-5 and report.detail == ""
    report.raise_for_mismatch()


def test_verify_tolerates_lower_precision(v1_fp: Generation) -> None:
    report = verify_generation(v1_fp, device="cpu", precision="bf16")
    assert report.ok, report.detail
    assert report.max_distance > 1e-4  # bf16 really differs, within its tolerance
    assert report.tolerance > 1e-3


def test_verify_catches_one_altered_weight(tmp_path: Path, v1_dir: Path) -> None:
    folder = tmp_path / "v1copy"
    shutil.copytree(v1_dir, folder)
    gen = pin_model("v1copy", folder, fingerprint=True, device="cpu", **testbed.V1_RECIPE)
    assert verify_generation(gen, device="cpu").ok
    alter_one_weight(folder, "encoder.layer.1.output.dense.weight", 0.5)
    report = verify_generation(gen, device="cpu")
    assert not report.ok and report.pin_ok is False and not report.fingerprint_ok
    assert report.max_distance > 10 * report.tolerance
    with pytest.raises(FingerprintMismatch, match="'v1copy' failed verification"):
        report.raise_for_mismatch()
    # the vectors alone (pin not consulted) tell the same
    only_vectors = verify_generation(gen, device="cpu", folder=folder)
    assert only_vectors.pin_ok is None and not only_vectors.fingerprint_ok


def test_pin_change_with_same_vectors_still_fails(tmp_path: Path, v1_dir: Path) -> None:
    """Weights re-saved with other bytes but the same values: vectors match, the pin does not."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "v1copy"
    shutil.copytree(v1_dir, folder)
    gen = pin_model("v1copy", folder, fingerprint=True, device="cpu", **testbed.V1_RECIPE)
    tensors = load_file(str(folder / "model.safetensors"))
    save_file(
        tensors, str(folder / "model.safetensors"), metadata={"format": "pt", "resaved": "yes"}
    )
    report = verify_generation(gen, device="cpu")
    assert report.fingerprint_ok and report.pin_ok is False and not report.ok
    assert "still match" in report.detail


def test_no_fingerprint_and_recording_one(tmp_path: Path, v1_dir: Path) -> None:
    reg = Registry.open(tmp_path / "reg")
    reg.init()
    gen = reg.add_generation(pin_model("v1", v1_dir, **testbed.V1_RECIPE, fingerprint=False))
    assert gen.fingerprint is None
    with pytest.raises(NoFingerprint, match="embedreg gen fingerprint v1"):
        verify_generation(gen)
    recorded = record_fingerprint(reg, "latest", device="cpu")
    assert recorded.fingerprint is not None
    assert reg.generation("v1").fingerprint == recorded.fingerprint
    with pytest.raises(ConflictError, match="has a fingerprint already"):
        record_fingerprint(reg, "v1", device="cpu")
    assert verify_generation(reg.generation("v1"), device="cpu").ok


@pytest.mark.slow
def test_dimension_is_probed_when_configs_are_silent(tmp_path: Path, v3_dir: Path) -> None:
    """An MPNet folder whose config omits hidden_size (the default, 768) and has no pooling config."""
    folder = tmp_path / "v3-bare"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(v3_dir / name, folder / name)
    (folder / "model.safetensors").symlink_to(v3_dir / "model.safetensors")
    config = json.loads((v3_dir / "config.json").read_text())
    del config["hidden_size"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSourceError, match=r"dimension .* is not known"):
        pin_model("v3bare", folder, modality="image", fingerprint=False)  # cannot be measured
    gen = pin_model("v3bare", folder, device="cpu", fingerprint=False)
    assert gen.dimension == 768 and gen.fingerprint is None
    with pytest.raises(ModelSourceError, match="gives 768-d vectors, not the 512"):
        pin_model("v3bare", folder, dimension=512, fingerprint=True, device="cpu")
