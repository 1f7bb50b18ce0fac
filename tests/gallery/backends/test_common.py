"""The database backends' shared preamble: the client import and the URL forms."""

from __future__ import annotations

import pytest
from embedreg.errors import ExtraUnavailable, ValidationError
from embedreg.gallery.backends.common import import_client, locate, manifest_collection


def where(url: str, **kw: object):
    options = {
        "port": 6333,
        "form": "x://HOST:PORT/NAME",
        "local_form": "x:///PATH",
        "local_what": "folder",
        "default_name": lambda path: path.rsplit("/", 1)[-1],
        **kw,
    }
    return locate(url, **options)  # type: ignore[arg-type]


def test_server_and_local_urls(tmp_path) -> None:
    server = where("x://db.example:7000/news")
    assert (server.host, server.port, server.name, server.path, server.local) == (
        "db.example", 7000, "news", None, False,
    )  # fmt: skip
    assert where("x://db/?collection=docs").port == 6333
    assert where("x://db/?collection=docs").name == "docs"
    local = where(f"x://{tmp_path}/vectors")
    assert local.local and local.path == f"{tmp_path}/vectors" and local.name == "vectors"
    assert where(f"x://{tmp_path}/vectors?collection=mine").name == "mine"
    assert manifest_collection("news") == "news__embedreg"


def test_bad_urls_are_refused_with_the_form_to_write() -> None:
    with pytest.raises(ValidationError, match="names no collection") as err:
        where("x://db:7000/")
    assert "x://HOST:PORT/NAME" in str(err.value)
    with pytest.raises(ValidationError, match="names no Lite file"):
        where("x:///tmp/a.txt", local_what="Lite file", local_ok=lambda p: p.endswith(".db"))


def test_a_missing_client_names_its_extra() -> None:
    with pytest.raises(ExtraUnavailable, match=r"embedreg\[nothing\]"):
        import_client("embedreg_no_such_client", "a test gallery", "nothing-here", "nothing")
    assert import_client("json", "a test gallery", "json", "none").dumps([]) == "[]"


@pytest.mark.parametrize(
    ("module", "url", "message"),
    [
        ("milvus", "milvus:///tmp/vectors.txt", "names no Milvus Lite file"),
        ("milvus", "milvus://localhost:1/", "names no collection"),
        ("qdrant", "qdrant://localhost:1/", "names no collection"),
    ],
)
def test_the_backends_read_their_urls_through_it(module: str, url: str, message: str) -> None:
    import importlib

    client = {"milvus": "pymilvus", "qdrant": "qdrant_client"}[module]
    pytest.importorskip(client)
    backends = importlib.import_module(f"embedreg.gallery.backends.{module}")
    cls = backends.MilvusBackend if module == "milvus" else backends.QdrantBackend
    with pytest.raises(ValidationError, match=message):
        cls(url)
