"""What each database backend answers for itself (issue 24): whether a collection keeps texts."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.parametrize("backend", ["qdrant", "pgvector"])
def test_all_texts_says_whether_a_cascade_can_read_every_item(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from embedreg.gallery.backend import backend_for
    from embedreg.gallery.storage import Segment

    name = f"texts{uuid.uuid4().hex[:8]}"
    if backend == "qdrant":
        url = f"qdrant://{tmp_path / 'qdrant'}?collection={name}"
    else:
        uri = request.getfixturevalue("pg_uri")
        url = f"{uri}{'&' if '?' in uri else '?'}table={name}"
    seg = Segment("g", "sha256:" + "0" * 64, "1" * 64, 4, True)
    x = np.eye(4, dtype=np.float32)[:3]
    db = backend_for(url)
    try:
        db.create_collection(f"{name}__a", seg, "ip")
        assert not db.all_texts(f"{name}__a")  # empty: nothing to cascade over
        db.upsert(f"{name}__a", ["a", "b", "c"], x, ["one", "two", "three"])
        assert db.all_texts(f"{name}__a")
        db.upsert(f"{name}__a", ["d"], x[:1], [None])
        assert not db.all_texts(f"{name}__a")
    finally:
        db.close()
