"""Fit the peers' adapters on one split; run inside each peer's own virtual environment.

    PEER_PYTHON bench/_peers.py PEER split.npz out.npz

``split.npz`` holds ``train_source``, ``train_target`` and ``test_source``
(float32; source = the new generation's vectors, target = the old one's).
For each of the peer's methods this fits on the training pairs with the
peer's own defaults and writes the adapted test queries as ``<method>`` in
``out.npz``, with ``<method>.seconds``; a method that cannot apply (equal
dimensions only, a missing optional dependency) is written as
``<method>.error``.  Imports only the peer and numpy: embedreg is not
installed in these environments, and the measuring is done by
``bench/quality.py`` with embedreg's own metrics, the same way for everyone.

Peers (PyPI): isotrieve 0.4.0, vectormigrate 1.0.1, rebasis 0.1.0.  Their
code is called, never copied.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Fit = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def isotrieve_methods() -> dict[str, Fit]:
    from isotrieve.mapping import (
        OrthogonalProcrustesMapping,
        ProcrustesDiagMapping,
        RidgeMapping,
    )

    def wrap(factory: Callable[[], Any]) -> Fit:
        def fit(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            m = factory().fit(x, y)
            return m.transform  # type: ignore[no-any-return]

        return fit

    methods = {
        "ridge (alpha auto, its default)": wrap(lambda: RidgeMapping(alpha="auto")),
        "orthogonal procrustes": wrap(OrthogonalProcrustesMapping),
        "procrustes + diagonal": wrap(ProcrustesDiagMapping),
    }
    try:
        from isotrieve.mapping import ResidualMLPMapping

        methods["residual mlp"] = wrap(ResidualMLPMapping)
    except ImportError:
        pass
    return methods


def vectormigrate_methods() -> dict[str, Fit]:
    from vectormigrate import (
        LowRankAffineAdapter,
        OrthogonalProcrustesAdapter,
        ResidualMLPAdapter,
    )

    def wrap(factory: Callable[[], Any]) -> Fit:
        def fit(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            m = factory().fit(x.astype(np.float64), y.astype(np.float64))
            return m.transform  # type: ignore[no-any-return]

        return fit

    return {
        "procrustes, centred (its default)": wrap(OrthogonalProcrustesAdapter),
        "procrustes, uncentred": wrap(lambda: OrthogonalProcrustesAdapter(center=False)),
        "affine (least squares)": wrap(LowRankAffineAdapter),
        "residual mlp": wrap(ResidualMLPAdapter),
    }


def rebasis_methods() -> dict[str, Fit]:
    from rebasis.core.base import l2_normalize
    from rebasis.core.selection import CANDIDATE_METHODS, fit_candidates

    def make(method: str) -> Fit:
        def fit(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            (cand,) = fit_candidates(x, y, methods=[method], skip_unavailable=False)
            return lambda q: np.asarray(cand.adapter.apply(l2_normalize(q)))

        return fit

    return {m: make(m) for m in CANDIDATE_METHODS}


PEERS = {
    "isotrieve": isotrieve_methods,
    "vectormigrate": vectormigrate_methods,
    "rebasis": rebasis_methods,
}


def main() -> None:
    peer, split_file, out_file = sys.argv[1:4]
    data = np.load(split_file)
    x, y, q = data["train_source"], data["train_target"], data["test_source"]
    out: dict[str, np.ndarray] = {}
    for name, fit in PEERS[peer]().items():
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                apply = fit(x, y)
                adapted = np.asarray(apply(q), dtype=np.float32)
        except Exception as exc:  # a method that cannot apply: recorded, not fatal
            out[f"{name}.error"] = np.array(f"{type(exc).__name__}: {exc}"[:300])
            continue
        out[name] = adapted
        out[f"{name}.seconds"] = np.array(time.perf_counter() - t0)
        print(f"  {peer} {name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    np.savez(out_file, **out)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
