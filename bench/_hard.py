"""The hard sets (bench/datasets.py) embedded by the chain's generations, and their splits.

Each set is embedded once by v1, v2 and v3 (queries' recipe, 128 tokens) into
the benchmark registry's cache (see ``_chain``).  A split keeps
``HELDOUT`` of the items for the figures, as ``embedreg adapter train
--heldout`` does (the same function, the same seed), so what is trained and
measured here is what a user's default ``adapter train`` trains and measures.
"""

from __future__ import annotations

import sys

import _chain
import datasets
from embedreg.data.pairs import PairedEmbeddings
from embedreg.training.data import split_pairs

#: Share of each set held out for the figures (about 2,000 evaluation items
#: on the package descriptions, 1,360 on the man pages).
HELDOUT = 0.4

#: Generation pairs (new, old) measured on each set.
PAIRS = (("v2", "v1"), ("v3", "v2"), ("v3", "v1"))


def set_pairs(name: str, new: str, old: str) -> PairedEmbeddings:
    """Set ``name`` embedded by ``new`` (source) and ``old`` (target), paired by id."""
    from embedreg.models.embed import embed_pairs

    def progress(gen: str, done: int, total: int | None) -> None:
        if done == total or done % 1000 == 0:
            print(f"  {name}: embedding with {gen}: {done}/{total}", file=sys.stderr, flush=True)

    path = datasets.dataset_file(name, _chain.bench_dir())
    return embed_pairs(_chain.chain_registry(), new, old, path, role="query", progress=progress)


def split(pairs: PairedEmbeddings, seed: int) -> tuple[PairedEmbeddings, PairedEmbeddings]:
    """(train, held-out) exactly as ``adapter train --heldout HELDOUT --seed SEED`` splits."""
    return split_pairs(pairs, HELDOUT, seed, [pairs.source_dim])


# --- the peers, in environments of their own ------------------------------------------------

#: environment → (the peers' PyPI requirements, the Python minor version it needs)
ENVS: dict[str, tuple[tuple[str, ...], str]] = {
    # torch for isotrieve's residual MLP (2.13.0: the CPU build this machine has for 3.11)
    "py311": (("isotrieve==0.4.0", "vectormigrate==1.0.1", "torch==2.13.0"), "3.11"),
    "py312": (("rebasis==0.1.0",), "3.12"),  # rebasis requires Python 3.12
}
#: peer → the environment it runs in
PEERS: dict[str, str] = {"isotrieve": "py311", "vectormigrate": "py311", "rebasis": "py312"}


def peer_python(peer: str) -> str:
    """The Python of ``peer``'s own virtual environment (made with pip on first use).

    The interpreter is ``python3.X`` from the PATH (with pyenv, the installed
    3.X it has).
    """
    import os
    import subprocess

    name = PEERS[peer]
    requirements, version = ENVS[name]
    root = _chain.bench_dir() / "peers" / name
    exe = root / "bin" / "python"
    if not exe.exists():
        print(f"  creating {root} for {', '.join(requirements)}", file=sys.stderr, flush=True)
        env = dict(os.environ)
        try:  # pyenv's shims need to be told which installed version to run
            bare = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True)
            found = [v for v in bare.stdout.split() if v.startswith(version + ".")]
            if found:
                env["PYENV_VERSION"] = found[-1]
        except OSError:
            pass
        subprocess.run([f"python{version}", "-m", "venv", str(root)], check=True, env=env)
        subprocess.run([str(exe), "-m", "pip", "install", "--quiet", *requirements], check=True)
    return str(exe)


def run_peer(peer: str, train: PairedEmbeddings, test: PairedEmbeddings) -> dict[str, object]:
    """``peer``'s methods fit on ``train``: method → adapted test queries (or an error string)."""
    import subprocess
    import tempfile
    from pathlib import Path

    import numpy as np

    with tempfile.TemporaryDirectory(prefix="embedreg-peer-") as tmp:
        split_file, out_file = Path(tmp) / "split.npz", Path(tmp) / "out.npz"
        np.savez(
            split_file,
            train_source=train.source,
            train_target=train.target,
            test_source=test.source,
        )
        script = Path(__file__).with_name("_peers.py")
        subprocess.run(  # the peers' own logging goes to stderr, not into the tables
            [peer_python(peer), str(script), peer, str(split_file), str(out_file)],
            check=True,
            stdout=sys.stderr,
        )
        with np.load(out_file) as out:
            results: dict[str, object] = {}
            for key in out.files:
                if key.endswith(".error"):
                    results[key[: -len(".error")]] = str(out[key])
                elif key.endswith(".seconds"):
                    results[key] = float(out[key])
                else:
                    results[key] = np.array(out[key])
    return results
