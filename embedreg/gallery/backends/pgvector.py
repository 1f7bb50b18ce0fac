"""Galleries in PostgreSQL with pgvector, through psycopg 3 (``pip install 'embedreg[pgvector]'``).

URL: ``postgresql://USER@HOST:PORT/DB?table=NAME`` (any libpq URI; ``table``
names the gallery, default ``gallery``; ``postgres://`` works too).  The
server needs the ``vector`` extension (created when missing).

Layout: the side table ``embedreg_galleries`` holds each gallery's manifest
(one row, replaced in a transaction); each segment is a table
``NAME__GEN(id text primary key, text text, embedding vector(D))`` whose
generation binding is a row of the side table ``embedreg_bindings`` and its
``COMMENT`` (so ``psql``'s ``\\d+`` shows it); the view ``NAME`` selects the
newest segment's table.  Search is exact: a sequential scan ordered by
``<#>`` (negative inner product) for ``ip`` or ``<->`` for ``l2``.
A writer holds a session advisory lock keyed on the gallery's name
(:meth:`PgvectorBackend.lock_writer`).

Example:
    >>> PgvectorBackend("postgresql://me@db/vectors?table=news").gallery_name  # doctest: +SKIP
    'news'
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...errors import GalleryError
from ..backend import GalleryBackend, binding
from ..storage import Segment
from .common import import_client

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["PgvectorBackend"]

_SETUP = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS embedreg_galleries (name text PRIMARY KEY, manifest jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS embedreg_bindings (
    collection text PRIMARY KEY, gallery text NOT NULL, generation text NOT NULL,
    pin text NOT NULL, recipe_hash text NOT NULL, dimension integer NOT NULL,
    metric text NOT NULL, binding jsonb NOT NULL
);
"""


def _vec(v: Any) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


class PgvectorBackend(GalleryBackend):
    """A gallery in PostgreSQL with the pgvector extension."""

    schemes = ("postgresql", "postgres")

    def __init__(self, url: str) -> None:
        super().__init__(url)
        psycopg = import_client("psycopg", "a pgvector gallery", "psycopg", "pgvector")
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self._name = dict(query).get("table", "gallery")
        conninfo = urlunsplit(
            parts._replace(query=urlencode([q for q in query if q[0] != "table"]))
        )
        try:
            self.conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GalleryError(
                f"cannot connect to PostgreSQL at {url} ({first})", "check the URL and the server"
            ) from None
        with self.conn.transaction():
            self.conn.execute(_SETUP)

    @property
    def gallery_name(self) -> str:
        return self._name

    def _ident(self, name: str) -> Any:
        from psycopg import sql

        return sql.Identifier(name)

    def lock_writer(self, timeout: float) -> bool:
        """A session advisory lock keyed on the gallery's name (released when the connection closes).

        PostgreSQL releases it when the session ends, also when the writer
        is killed, so a crashed writer never leaves the gallery locked.
        """
        deadline = time.monotonic() + timeout
        delay = 0.05
        key = f"embedreg.gallery:{self._name}"
        while True:
            row = self.conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
            ).fetchone()
            if row and row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def unlock_writer(self) -> None:
        self.conn.execute(
            "SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
            (f"embedreg.gallery:{self._name}",),
        )

    def read_manifest(self) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT manifest FROM embedreg_galleries WHERE name = %s", (self._name,)
        ).fetchone()
        return dict(row[0]) if row else None

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        self.conn.execute(
            "INSERT INTO embedreg_galleries (name, manifest) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET manifest = EXCLUDED.manifest",
            (self._name, Jsonb(dict(manifest))),
        )

    def drop_manifest(self) -> None:
        self.conn.execute("DELETE FROM embedreg_galleries WHERE name = %s", (self._name,))

    def create_collection(self, collection: str, segment: Segment, metric: str) -> None:
        from psycopg import sql
        from psycopg.types.json import Jsonb

        bound = binding(segment, metric, self._name)
        table = self._ident(collection)
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (id text PRIMARY KEY, text text, embedding vector({}) NOT NULL)"
                ).format(table, sql.Literal(segment.dimension))
            )
            self.conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    table, sql.Literal(json.dumps({"embedreg": bound}))
                )
            )
            self.conn.execute(
                "INSERT INTO embedreg_bindings VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    collection,
                    self._name,
                    segment.generation,
                    segment.pin,
                    segment.recipe_hash,
                    segment.dimension,
                    metric,
                    Jsonb(bound),
                ),
            )

    def collection_binding(self, collection: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT binding FROM embedreg_bindings WHERE collection = %s", (collection,)
        ).fetchone()
        if row is not None:
            return dict(row[0])
        exists = self.conn.execute("SELECT to_regclass(%s)", (f'"{collection}"',)).fetchone()
        return {} if exists and exists[0] is not None else None

    def drop_collection(self, collection: str) -> None:
        from psycopg import sql

        with self.conn.transaction():
            self.conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(self._ident(collection))
            )
            self.conn.execute("DELETE FROM embedreg_bindings WHERE collection = %s", (collection,))

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: FloatArray,
        texts: Sequence[str | None],
    ) -> None:
        from psycopg import sql

        stmt = sql.SQL(
            "INSERT INTO {} (id, text, embedding) VALUES (%s, %s, %s::vector) "
            "ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, embedding = EXCLUDED.embedding"
        ).format(self._ident(collection))
        rows = [(i, t, _vec(v)) for i, t, v in zip(ids, texts, vectors, strict=True)]
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(stmt, rows)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        from psycopg import sql

        self.conn.execute(
            sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._ident(collection)),
            (list(ids),),
        )

    def count(self, collection: str) -> int:
        from psycopg import sql

        row = self.conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(self._ident(collection))
        ).fetchone()
        return int(row[0]) if row else 0

    def items(self, collection: str) -> Iterator[tuple[str, str | None]]:
        from psycopg import sql

        rows = self.conn.execute(
            sql.SQL("SELECT id, text FROM {} ORDER BY id").format(self._ident(collection))
        ).fetchall()
        for item_id, text in rows:
            yield str(item_id), text

    def all_texts(self, collection: str) -> bool:
        from psycopg import sql

        row = self.conn.execute(
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM {0}), NOT EXISTS (SELECT 1 FROM {0} WHERE text IS NULL)"
            ).format(self._ident(collection))
        ).fetchone()
        return bool(row and row[0] and row[1])

    def fetch(
        self, collection: str, ids: Sequence[str]
    ) -> dict[str, tuple[str | None, FloatArray]]:
        import numpy as np
        from psycopg import sql

        rows = self.conn.execute(
            sql.SQL("SELECT id, text, embedding::real[] FROM {} WHERE id = ANY(%s)").format(
                self._ident(collection)
            ),
            (list(ids),),
        ).fetchall()
        return {str(i): (t, np.asarray(v, dtype=np.float32)) for i, t, v in rows}

    def search(
        self, collection: str, queries: FloatArray, k: int, metric: str
    ) -> tuple[list[list[str]], list[list[float]]]:
        from psycopg import sql

        op = sql.SQL("<#>" if metric == "ip" else "<->")
        stmt = sql.SQL(
            "SELECT id, embedding {} %s::vector AS d FROM {} ORDER BY d, id LIMIT %s"
        ).format(op, self._ident(collection))
        ids: list[list[str]] = []
        scores: list[list[float]] = []
        for q in queries:
            rows = self.conn.execute(stmt, (_vec(q), k)).fetchall()
            ids.append([str(r[0]) for r in rows])
            if metric == "ip":  # <#> is the negative inner product
                scores.append([-float(r[1]) for r in rows])
            else:  # <-> is the Euclidean distance
                scores.append([-(float(r[1]) ** 2) for r in rows])
        return ids, scores

    def set_alias(self, alias: str, collection: str) -> None:
        from psycopg import sql

        with self.conn.transaction():  # readers see the old view or the new one
            self.conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(self._ident(alias)))
            self.conn.execute(
                sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(
                    self._ident(alias), self._ident(collection)
                )
            )

    def close(self) -> None:
        self.conn.close()
