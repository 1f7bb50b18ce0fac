"""Issue 26: random edits of registry records never make a command delete, hang or crash.

A few hundred iterations (``EMBEDREG_FUZZ_ITERATIONS``, default 300; seed
``EMBEDREG_FUZZ_SEED``, default 26) each edit one field of one record
(locations, parents, dimensions, types, names) of a fresh small world, then
run three random commands through the library: no file outside the removed
records' own artifact folders may change, no exception may be other than an
``EmbedRegError`` (the CLI's "internal error"), and each iteration is bounded
in time by an alarm inside the worker process, the whole run by the
subprocess timeout.  A few CLI processes run on edited registries as well.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def test_random_record_edits(tmp_path: Path) -> None:
    seed = int(os.environ.get("EMBEDREG_FUZZ_SEED", "26"))
    iterations = int(os.environ.get("EMBEDREG_FUZZ_ITERATIONS", "300"))
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzzworker.py"), str(seed), str(iterations), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60 + 2 * iterations,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines and lines[-1] == {"done": iterations}, result.stdout[-2000:]
    findings = lines[:-1]
    assert findings == [], f"seed {seed}: {findings[:5]}"


def test_cli_on_edited_registries(tmp_path: Path, cli: Any) -> None:
    sys.path.insert(0, str(HERE))
    import fuzzworker  # type: ignore[import-not-found]

    fuzzworker.build(tmp_path / "world")
    path = tmp_path / "world" / "reg" / "registry.json"
    pristine = path.read_text()
    rng = random.Random(int(os.environ.get("EMBEDREG_FUZZ_SEED", "26")))
    commands = [("gen", "list"), ("gen", "show", "v2"), ("adapter", "rm", "a21"),
                ("alias", "set", "p2", "v1"), ("adapter", "list")]  # fmt: skip
    before = fuzzworker.snapshot(tmp_path / "world")
    for args in commands:
        data = json.loads(pristine)
        fuzzworker.mutate(data, rng)
        path.write_text(json.dumps(data))
        result = cli(*args, "--registry", str(tmp_path / "world" / "reg"))
        assert "internal error" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) <= 1 or result.returncode == 0, result.stderr
    after = fuzzworker.snapshot(tmp_path / "world")
    own = "reg/artifacts/adapters/a21@"
    assert {p: h for p, h in after.items() if not p.startswith(own)} == {
        p: h for p, h in before.items() if not p.startswith(own)
    }
