from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path

import pytest
from embedreg.errors import LockTimeout, NotFound, RegistryNotFound
from embedreg.registry.stores import LocalStore, default_location, open_store
from filelock import FileLock


def _bump(root: str, n: int) -> None:
    store = LocalStore(root)
    for _ in range(n):
        store.update(lambda raw: json.dumps({"n": json.loads(raw)["n"] + 1}).encode())


def test_create_read_update(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "reg")
    assert store.read() is None
    assert store.create(b'{"n": 0}') is True
    assert store.create(b'{"n": 99}') is False
    assert store.read() == b'{"n": 0}'
    store.update(lambda raw: None)  # no change: nothing written
    assert store.read() == b'{"n": 0}'


def test_update_without_document(tmp_path: Path) -> None:
    with pytest.raises(RegistryNotFound):
        LocalStore(tmp_path).update(lambda raw: raw)


def test_failed_update_writes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.create(b"old")

    def boom(raw: bytes) -> bytes:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update(boom)
    assert store.read() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.create(b'{"n": 0}')
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_bump, args=(str(tmp_path), 20)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert json.loads(store.read() or b"{}") == {"n": 120}


def test_readers_never_see_partial_writes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    big = {"items": ["x" * 100] * 5000}
    store.create(json.dumps(big).encode())
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            raw = store.read()
            try:
                json.loads(raw or b"")
            except ValueError:
                bad.append("partial")

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(30):
        store.update(lambda raw, i=i: json.dumps({"items": [str(i) * 100] * 5000}).encode())
    stop.set()
    thread.join()
    assert bad == []


def test_lock_timeout(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, lock_timeout=0.2)
    store.create(b"x")
    with FileLock(str(tmp_path / ".registry.lock")):
        # filelock is re-entrant within a thread; take it from another thread.
        result: list[BaseException] = []

        def write() -> None:
            try:
                store.update(lambda raw: b"y")
            except BaseException as exc:
                result.append(exc)

        t = threading.Thread(target=write)
        t.start()
        t.join()
    assert isinstance(result[0], LockTimeout)
    assert store.read() == b"x"


def test_artifacts(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "reg")
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "model.safetensors").write_bytes(b"v1")
    loc = store.put_artifact(
        "adapters/a",
        {"config.json": src / "config.json", "model.safetensors": src / "model.safetensors"},
    )
    assert loc == "adapters/a"  # the location fetch and delete take
    folder = store.fetch_artifact(loc)
    assert folder == tmp_path / "reg" / "artifacts" / "adapters" / "a"
    assert (folder / "model.safetensors").read_bytes() == b"v1"
    (src / "model.safetensors").write_bytes(b"v2")
    store.put_artifact("adapters/a", {"model.safetensors": src / "model.safetensors"})
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors"]  # replaced as a whole
    assert (folder / "model.safetensors").read_bytes() == b"v2"
    store.delete_artifact("adapters/a")
    store.delete_artifact("adapters/a")  # missing is fine
    with pytest.raises(NotFound):
        store.fetch_artifact("adapters/a")
    with pytest.raises(ValueError):
        store.put_artifact("../escape", {})


def test_open_store_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBEDREG_REGISTRY", raising=False)
    assert default_location() == ".embedreg"
    monkeypatch.setenv("EMBEDREG_REGISTRY", str(tmp_path / "env"))
    assert open_store(None).location == str(tmp_path / "env" / "registry.json")
    assert open_store(f"file://{tmp_path}/u").location == str(tmp_path / "u" / "registry.json")


def test_location_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    from embedreg.errors import EmbedRegError

    with pytest.raises(EmbedRegError, match="is a file"):
        LocalStore(f).read()
