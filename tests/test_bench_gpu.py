"""``bench/gpu.sh`` (issue 28): on a machine without CUDA, one line and exit 0, nothing run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_without_cuda_says_so_and_runs_nothing(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: bench/gpu.sh would run its steps")
    out = tmp_path / "gpu-results.md"
    env = {k: v for k, v in os.environ.items() if k != "EMBEDREG_GPU_BENCH_ON_CPU"}
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu.sh"), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**env, "PYTHON": sys.executable},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "bench/gpu.sh needs a CUDA device (none found); nothing was run."
    ]
    assert done.stderr == ""
    assert not out.exists()


def test_gpu_script_with_a_python_without_torch_says_so(tmp_path: Path) -> None:
    """A Python without torch (the system's, not the venv's): one line, exit 0, no traceback."""
    import venv

    venv.EnvBuilder(with_pip=False).create(tmp_path / "bare")
    bare = tmp_path / "bare" / "bin" / "python"
    out = tmp_path / "gpu-results.md"
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu.sh"), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": str(bare)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("bench/gpu.sh needs torch with a CUDA device (")
    assert "nothing was run" in line
    assert done.stderr == ""
    assert not out.exists()
