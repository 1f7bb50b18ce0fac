"""Database servers for the gallery tests: PostgreSQL with pgvector, started once per session.

The server is the ``pgserver`` package's (PostgreSQL 16 with pgvector, from
PyPI); it listens on a Unix socket in the session's temporary folder (no
port to collide on under pytest-xdist) and is stopped when the session ends.
As root it runs the server as a ``pgserver`` system user (PostgreSQL refuses
root), which ``pgserver`` creates.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A libpq URI of a running PostgreSQL server with the vector extension available."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
