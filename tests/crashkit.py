"""Kill a command at an exact file-system instant: the harness of the crash tests.

A ``sitecustomize`` module, put on the command's ``PYTHONPATH``, wraps the
calls that make files appear or vanish (``open`` for writing, ``os.open``
with ``O_CREAT``, ``os.mkdir``, ``os.replace``, ``os.rename``, ``os.unlink``,
``os.remove``, ``os.rmdir``) under the folders named in
``EMBEDREG_KILL_ROOTS``.  With ``EMBEDREG_KILL_AT=k`` the process sends
itself SIGKILL right after the k-th such event: the real process dies at a
real instant, with no chance to clean up, exactly as ``kill -9`` would leave
it.  With ``EMBEDREG_KILL_COUNT=FILE`` it writes how many events a whole run
had, so a test can kill at each of them in turn.

A whole run of ``embedreg`` spends about two seconds importing torch and the
rest before its first file event, and a crash test runs the command twice per
event.  So :func:`run` asks a zygote (``tests/zygote.py``), a Python
process that imported the CLI and its heavy libraries once, to ``fork`` a
child per run: the child takes the run's environment, installs the same hook,
runs ``embedreg_cli.main`` with the run's arguments and SIGKILLs itself at the
k-th event, a real process killed as ``kill -9`` would.  :func:`events`
counts the events of the real console script (a fresh interpreter with the
hook on ``PYTHONPATH``) and of a zygote child from two copies of the same
state, and requires the counts equal: the forked runs see every file event a
fresh process does.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from zygote import shared

SITECUSTOMIZE = """
import atexit, builtins, io, os, signal

_AT = int(os.environ.get("EMBEDREG_KILL_AT", "0"))
_ROOTS = [os.path.realpath(r) for r in os.environ.get("EMBEDREG_KILL_ROOTS", "").split(os.pathsep) if r]
_COUNT = os.environ.get("EMBEDREG_KILL_COUNT")
_n = [0]


def _event(path, dir_fd=None):
    if dir_fd is not None or not _ROOTS:
        return
    try:
        p = os.path.realpath(os.fspath(path))
    except TypeError:
        return
    if any(p == r or p.startswith(r + os.sep) for r in _ROOTS):
        _n[0] += 1
        if _n[0] == _AT:
            os.kill(os.getpid(), signal.SIGKILL)


def _after(fn, arg=0, when=lambda *a, **k: True):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        if when(*args, **kwargs):
            _event(args[arg] if len(args) > arg else kwargs.get("dst", kwargs.get("path")), kwargs.get("dir_fd"))
        return out
    return wrapped


os.replace = _after(os.replace, 1)
os.rename = _after(os.rename, 1)
os.mkdir = _after(os.mkdir)
os.unlink = _after(os.unlink)
os.remove = _after(os.remove)
os.rmdir = _after(os.rmdir)
os.open = _after(os.open, when=lambda path, flags, *a, **k: bool(flags & os.O_CREAT))
_open = builtins.open
builtins.open = io.open = _after(  # pathlib opens through io.open
    _open, when=lambda file, mode="r", *a, **k: isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+")
)
if _COUNT:
    atexit.register(lambda: _open(_COUNT, "w").write(str(_n[0])))
"""


def hook_dir(tmp: Path) -> Path:
    """A folder holding the ``sitecustomize`` hook (put it on ``PYTHONPATH``)."""
    folder = tmp / "killhook"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def _environment(
    hook: Path, roots: Sequence[Path], kill_at: int, count: Path | None
) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "EMBEDREG_KILL_ROOTS": os.pathsep.join(str(r) for r in roots),
        "EMBEDREG_KILL_AT": str(kill_at),
    }
    env.pop("EMBEDREG_KILL_COUNT", None)
    if count is not None:
        env["EMBEDREG_KILL_COUNT"] = str(count)
    return env


def run_script(
    args: Sequence[str],
    *,
    hook: Path,
    roots: Sequence[Path],
    kill_at: int = 0,
    count: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``embedreg`` script (a fresh interpreter) with the hook."""
    env = _environment(hook, roots, kill_at, count)
    exe = Path(sys.executable).with_name("embedreg")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


# what the commands of the crash tests import; they vary no variable a library reads at import
PRELOAD = (
    "embedreg_cli.main",
    "torch",
    "faiss",
    "safetensors.numpy",
    "embedreg.training",
    "embedreg.gallery",
    "embedreg.upgrade",
    "embedreg.adapters",
)
_hook: list[Path] = []


def run(
    args: Sequence[str],
    *,
    hook: Path,
    roots: Sequence[Path],
    kill_at: int = 0,
    count: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``embedreg ARGS`` with the hook in a forked child of the zygote: killed after
    event ``kill_at`` (0: never), when its return code is ``-9``."""
    if not _hook:
        source = Path(tempfile.mkdtemp(prefix="embedreg-crashkit-")) / "hook.py"
        source.write_text(SITECUSTOMIZE, encoding="utf-8")
        atexit.register(shutil.rmtree, source.parent, True)
        _hook.append(source)
    env = _environment(hook, roots, kill_at, count)
    return shared(PRELOAD).run(args, env, hook=_hook[0])


def events(
    args: Callable[[Path], Sequence[str]],
    prepare: Callable[[Path], object],
    *,
    hook: Path,
    tmp: Path,
) -> int:
    """How many file events a whole (successful) run of ``embedreg ARGS(root)`` has under
    ``root``, a state made by ``prepare(root)``.

    Counted twice, each from its own fresh state: by the real console script and by a
    zygote child; the counts must agree.
    """
    counts = []
    for name, runner in (("script", run_script), ("forked", run)):
        root, count = tmp / f"counting-{name}", tmp / f"events-{name}.count"
        prepare(root)
        done = runner(args(root), hook=hook, roots=[root], count=count)
        assert done.returncode == 0, (name, done.stderr)
        counts.append(int(count.read_text()))
    assert counts[0] == counts[1], counts  # the forked runs see every event a fresh one does
    return counts[0]


def stale_temps(*folders: Path) -> list[Path]:
    """Temporary files embedreg writers make (``.name.pid.random.tmp``) anywhere below ``folders``."""
    return [p for f in folders if f.exists() for p in f.rglob(".*.tmp")]
