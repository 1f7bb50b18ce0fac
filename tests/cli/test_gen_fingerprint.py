"""``gen add`` fingerprints, ``gen verify``, ``gen fingerprint``; Hub sources from the cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from embedreg.constants import SCHEMA_VERSION

V1_FLAGS = ["--pooling", "mean", "--normalize", "--max-tokens", "128"]


def alter_one_weight(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    key = "encoder.layer.1.output.dense.weight"
    changed = tensors[key].clone()
    changed.view(-1)[7] += 0.5
    tensors[key] = changed
    save_file(tensors, str(path), metadata={"format": "pt"})


def test_add_stores_a_fingerprint_and_verify_passes(
    cli: Any, registry_dir: Path, v1_dir: Path
) -> None:
    cli("init")
    added = cli("gen", "add", "v1", str(v1_dir), *V1_FLAGS, "--json")
    assert added.returncode == 0, added.stderr
    info = json.loads(added.stdout)
    assert info["fingerprint"]["probe_set"] == "embedreg-probe-1" and info["dimension"] == 384
    stored = json.loads((registry_dir / "registry.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION
    assert stored["generations"]["v1"]["fingerprint"]["sketch"]
    shown = cli("gen", "show", "v1")
    assert "embedreg-probe-1, fp32 on cpu" in shown.stderr
    verify = cli("gen", "verify", "v1", "--json")
    assert verify.returncode == 0, verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] and report["pin_ok"] and report["max_distance"] < 1e-5
    assert "OK: v1 gives the same vectors" in verify.stderr
    bf16 = cli("gen", "verify", "v1", "--precision", "bf16")
    assert bf16.returncode == 0, bf16.stderr


def test_verify_exits_1_on_a_copy_with_one_weight_altered(
    cli: Any, registry_dir: Path, tmp_path: Path, v1_dir: Path
) -> None:
    """Acceptance: verify passes unchanged, exits 1 naming the generation once one weight moves."""
    folder = tmp_path / "v1copy"
    shutil.copytree(v1_dir, folder)
    cli("init")
    assert cli("gen", "add", "v1copy", str(folder), *V1_FLAGS).returncode == 0
    assert cli("gen", "verify", "v1copy").returncode == 0
    alter_one_weight(folder)
    run = cli("gen", "verify", "v1copy")
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: generation 'v1copy' failed verification:")
    assert "changed since generation 'v1copy' was pinned" in last and "probe vectors moved" in last
    assert "DIFFER from the pin" in run.stderr
    # encoding with the changed folder is refused too
    (tmp_path / "t.txt").write_text("hello\n")
    embed = cli("embed", "v1copy", str(tmp_path / "t.txt"), "-o", str(tmp_path / "e.safetensors"))
    assert embed.returncode == 1 and "embedreg gen verify v1copy" in embed.stderr


def test_no_fingerprint_then_record_one(cli: Any, registry_dir: Path, v1_dir: Path) -> None:
    cli("init")
    assert cli("gen", "add", "v1", str(v1_dir), *V1_FLAGS, "--no-fingerprint").returncode == 0
    missing = cli("gen", "verify", "v1")
    assert missing.returncode == 1
    assert "has no fingerprint; record one with 'embedreg gen fingerprint v1'" in missing.stderr
    assert cli("gen", "fingerprint", "v1").returncode == 0
    assert cli("gen", "verify", "v1").returncode == 0
    again = cli("gen", "fingerprint", "v1")
    assert again.returncode == 1 and "has a fingerprint already" in again.stderr


def _fake_hub_cache(root: Path, repo: str, commit: str, source: Path) -> None:
    """The layout huggingface_hub leaves after downloading ``repo`` at ``commit``."""
    owner, name = repo.split("/")
    base = root / f"models--{owner}--{name}"
    shutil.copytree(source, base / "snapshots" / commit)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(commit)


def test_hub_generation_from_the_offline_cache(
    cli: Any, registry_dir: Path, tmp_path: Path, v2_dir: Path
) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub-cache"
    _fake_hub_cache(cache, "sentence-transformers/all-MiniLM-L6-v2", commit, v2_dir)
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    cli("init")
    added = cli(
        "gen",
        "add",
        "v2hub",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--revision",
        commit,
        "--json",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    info = json.loads(added.stdout)
    # the recipe and dimension come from the snapshot's config files
    assert info["dimension"] == 384 and info["recipe"]["max_tokens"] == 256 and info["fingerprint"]
    assert cli("gen", "verify", "v2hub", env=env).returncode == 0
    (tmp_path / "t.txt").write_text("hello world\n")
    run = cli("embed", "v2hub", "t.txt", "-o", "e.safetensors", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr

    other = "1" * 40
    offline = cli(
        "gen", "add", "v2x", "sentence-transformers/all-MiniLM-L6-v2", "--revision", other, env=env
    )
    assert offline.returncode == 1
    assert (
        "cannot reach the Hub" in offline.stderr
        and "--no-fingerprint and --dim N" in offline.stderr
    )
    blind = cli(
        "gen", "add", "v2x", "sentence-transformers/all-MiniLM-L6-v2", "--revision", other,
        "--no-fingerprint", "--dim", "384", env=env,
    )  # fmt: skip
    assert blind.returncode == 0, blind.stderr
