"""Galleries in Milvus, through ``pymilvus`` (``pip install 'embedreg[milvus]'``).

URLs:

- ``milvus:///FILE.db`` (or ``milvus:///FILE.db?collection=NAME``): Milvus
  Lite, embedded in a file (the gallery's name defaults to the file's stem);
- ``milvus://HOST:PORT/NAME``: a Milvus server or cluster (the same code).

The gallery ``NAME`` keeps its manifest in the properties of the collection
``NAME__embedreg``; each segment's vectors are in ``NAME__GEN`` (fields
``id`` VARCHAR primary key, ``text``, ``embedding`` FLOAT_VECTOR with a
``FLAT`` index: exact search), whose collection properties hold the
generation binding (``embedreg.generation``, ``embedreg.pin``, ... and the
whole of it as JSON under ``embedreg``); the alias ``NAME`` points at the
newest segment's collection.

Example:
    >>> MilvusBackend("milvus:///tmp/vectors.db").gallery_name  # doctest: +SKIP
    'vectors'
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..backend import BINDING_KEY, GalleryBackend, binding
from ..storage import Segment
from .common import import_client, locate, manifest_collection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["MilvusBackend"]

_MANIFEST_PROPERTY = "embedreg.manifest"
#: Longest id and text a Milvus collection of a gallery takes.
ID_LENGTH, TEXT_LENGTH = 512, 65535

#: Milvus Lite files this process has open through embedreg, and how many times.
_LITE_OPEN: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def _file_name(path: str) -> str:
    """A Milvus Lite gallery's default name: its file's stem."""
    stem = os.path.splitext(os.path.basename(path))[0].lower()
    return stem.replace("-", "_").replace(".", "_")


def _literal(values: Sequence[str]) -> str:
    return json.dumps(list(values))  # a Milvus filter list literal of strings


class MilvusBackend(GalleryBackend):
    """A gallery in Milvus (Milvus Lite for ``milvus:///FILE.db``, a server otherwise)."""

    schemes = ("milvus",)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        pymilvus = import_client("pymilvus", "a Milvus gallery", "pymilvus", "milvus")
        where = locate(
            url,
            port=19530,
            form="milvus://HOST:PORT/NAME",
            local_form="milvus:///PATH/FILE.db",
            local_what="Milvus Lite file",
            default_name=_file_name,
            local_ok=lambda path: path.endswith(".db"),
        )
        self._name = where.name
        if where.path is None:
            self.client = pymilvus.MilvusClient(uri=f"http://{where.host}:{where.port}")
        else:
            os.makedirs(os.path.dirname(where.path), exist_ok=True)
            # Milvus Lite locks its file for one process; a second one is retried
            # (GalleryBackend.busy): keep its start-up traceback out of the output
            log = logging.getLogger("milvus_lite")
            was, log.disabled = log.disabled, True
            try:
                self.client = pymilvus.MilvusClient(where.path)
            finally:
                log.disabled = was
        self._lite = None if where.path is None else os.path.abspath(where.path)
        if self._lite is not None:
            with _LITE_LOCK:
                _LITE_OPEN[self._lite] = _LITE_OPEN.get(self._lite, 0) + 1
        self._loaded: set[str] = set()

    @classmethod
    def busy(cls, error: BaseException) -> bool:
        """The Milvus Lite file is open in another process (Milvus Lite locks it)."""
        return "Open local milvus failed" in str(error)

    @property
    def gallery_name(self) -> str:
        return self._name

    def _load(self, collection: str) -> str:
        """Load a collection into memory once (a new process finds them released)."""
        if collection not in self._loaded:
            self.client.load_collection(collection)
            self._loaded.add(collection)
        return collection

    def _manifest_collection(self) -> str:
        return manifest_collection(self._name)

    def _properties(self, collection: str) -> dict[str, Any] | None:
        if not self.client.has_collection(collection):
            return None
        return dict(self.client.describe_collection(collection).get("properties") or {})

    def read_manifest(self) -> dict[str, Any] | None:
        props = self._properties(self._manifest_collection())
        if props is None or _MANIFEST_PROPERTY not in props:
            return None
        found = json.loads(props[_MANIFEST_PROPERTY])
        return dict(found) if isinstance(found, dict) else None

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        from pymilvus import DataType, MilvusClient

        coll = self._manifest_collection()
        text = json.dumps(dict(manifest), sort_keys=True)
        if not self.client.has_collection(coll):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=8)
            schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=2)
            index = self.client.prepare_index_params()
            index.add_index("embedding", index_type="FLAT", metric_type="IP")
            self.client.create_collection(
                coll, schema=schema, index_params=index, properties={_MANIFEST_PROPERTY: text}
            )
            return
        self.client.alter_collection_properties(coll, properties={_MANIFEST_PROPERTY: text})

    def drop_manifest(self) -> None:
        self.drop_collection(self._manifest_collection())

    def create_collection(self, collection: str, segment: Segment, metric: str) -> None:
        from pymilvus import DataType, MilvusClient

        bound = binding(segment, metric, self._name)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_LENGTH)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_LENGTH, nullable=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=segment.dimension)
        index = self.client.prepare_index_params()
        index.add_index(
            "embedding", index_type="FLAT", metric_type="IP" if metric == "ip" else "L2"
        )
        props = {f"{BINDING_KEY}.{k}": str(v) for k, v in bound.items()}
        props[BINDING_KEY] = json.dumps(bound, sort_keys=True)
        self.client.create_collection(
            collection, schema=schema, index_params=index, properties=props
        )

    def collection_binding(self, collection: str) -> dict[str, Any] | None:
        props = self._properties(collection)
        if props is None:
            return None
        found = json.loads(props[BINDING_KEY]) if BINDING_KEY in props else {}
        return dict(found) if isinstance(found, dict) else {}

    def drop_collection(self, collection: str) -> None:
        if self.client.has_collection(collection):
            for alias in self.client.describe_collection(collection).get("aliases") or []:
                self.client.drop_alias(alias)
            self.client.drop_collection(collection)
            self._loaded.discard(collection)

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: FloatArray,
        texts: Sequence[str | None],
    ) -> None:
        rows = [
            {"id": i, "text": t, "embedding": v}
            for i, t, v in zip(ids, texts, vectors.tolist(), strict=True)
        ]
        self.client.upsert(self._load(collection), rows)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        self.client.delete(self._load(collection), ids=list(ids))

    def count(self, collection: str) -> int:
        rows = self.client.query(self._load(collection), filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def items(self, collection: str) -> Iterator[tuple[str, str | None]]:
        it = self.client.query_iterator(
            self._load(collection), batch_size=1000, filter='id != ""', output_fields=["id", "text"]
        )
        try:
            while batch := it.next():
                for row in batch:
                    yield str(row["id"]), row.get("text")
        finally:
            it.close()

    def fetch(
        self, collection: str, ids: Sequence[str]
    ) -> dict[str, tuple[str | None, FloatArray]]:
        import numpy as np

        out: dict[str, tuple[str | None, FloatArray]] = {}
        for start in range(0, len(ids), 1000):
            rows = self.client.get(
                self._load(collection),
                ids=list(ids[start : start + 1000]),
                output_fields=["id", "text", "embedding"],
            )
            for row in rows:
                out[str(row["id"])] = (
                    row.get("text"),
                    np.asarray(row["embedding"], dtype=np.float32),
                )
        return out

    def search(
        self, collection: str, queries: FloatArray, k: int, metric: str
    ) -> tuple[list[list[str]], list[list[float]]]:
        ids: list[list[str]] = []
        scores: list[list[float]] = []
        kind = "IP" if metric == "ip" else "L2"
        for start in range(0, len(queries), 256):
            found = self.client.search(
                self._load(collection),
                data=queries[start : start + 256].tolist(),
                limit=k,
                output_fields=["id"],
                search_params={"metric_type": kind},
            )
            for hits in found:
                ids.append([str(h["id"]) for h in hits])
                # IP: the inner product; L2: Milvus gives the squared distance
                scores.append([float(h["distance"]) * (1 if metric == "ip" else -1) for h in hits])
        return ids, scores

    def set_alias(self, alias: str, collection: str) -> None:
        found = self.client.list_aliases()  # every alias of the database
        names = set(found.get("aliases") or []) if isinstance(found, dict) else set(found)
        if alias in names:
            self.client.alter_alias(collection, alias)  # moves it atomically
        else:
            self.client.create_alias(collection, alias)

    def close(self) -> None:
        """Close the client; the last close of a Milvus Lite file also unlocks the file.

        Milvus Lite keeps one embedded server per file for the whole process
        (its lock held until the process exits), so another process would
        wait for a process that has long finished with the gallery.  When no
        gallery this process opened through embedreg still uses the file, its
        server is stopped (a client opened on the same file outside embedreg,
        in the same process, would lose it too).
        """
        self.client.close()
        if self._lite is None:
            return
        path, self._lite = self._lite, None  # a second close() does nothing more
        with _LITE_LOCK:
            left = _LITE_OPEN.get(path, 1) - 1
            if left > 0:
                _LITE_OPEN[path] = left
                return
            _LITE_OPEN.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance
        except ImportError:  # another milvus-lite layout: the lock goes with the process
            return
        server_manager_instance.release_server(path)
