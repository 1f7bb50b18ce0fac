"""The environment every test runs in: a fake token, a local Hub endpoint, temporary caches.

Imported by ``tests/conftest.py`` before any test module (so before anything imports
``huggingface_hub``, whose constants read the environment once).  A module of its own, so
that it runs once per process however ``conftest`` is imported.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The token every test runs with (the client sends it; nothing may ever show it).
FAKE_TOKEN = "hf_embedregFake" + secrets.token_hex(12)
#: A second user's token, for 403s (it may write only to its own namespace).
OTHER_TOKEN = "hf_embedregOther" + secrets.token_hex(12)
HUB_PORT = _free_port()
# Under pytest-xdist, the workers share the cores: each (and every CLI process it starts)
# uses its share of threads instead of all of them, which would oversubscribe the machine.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _workers))
HUB_HOME = Path(tempfile.mkdtemp(prefix="embedreg-tests-hf-"))
atexit.register(shutil.rmtree, HUB_HOME, True)
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN_PATH", "HF_HUB_CACHE"):
    os.environ.pop(_var, None)
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{HUB_PORT}",
    HF_HOME=str(HUB_HOME / "hf-home"),
    HF_TOKEN=FAKE_TOKEN,
    HF_HUB_DISABLE_TELEMETRY="1",
    EMBEDREG_CACHE=str(HUB_HOME / "embedreg-cache"),
)
