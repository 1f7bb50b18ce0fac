"""A zygote: a Python process that imported the CLI's libraries once and forks one child per run.

A run of ``embedreg`` spends a second or two importing torch, FAISS and the
rest before it does anything; the suite runs the command hundreds of times.
:class:`Zygote` starts this file as a script (``python zygote.py MODULES``:
it imports the comma-separated ``MODULES``, then serves), and for each run
sends one JSON request a line: ``{"args", "env", "cwd", "out", "err",
"hook"}``.  The zygote forks a child that takes ``env`` as its whole
environment and ``cwd`` as its folder, sends its stdout and stderr to the
files ``out`` and ``err`` (stdin from /dev/null), executes ``hook`` (a
Python file, e.g. crashkit's kill hook, as ``sitecustomize`` would run it),
runs ``embedreg_cli.main.main(args)`` and exits with its status, its exit
handlers run as a fresh process's would.  The zygote waits for the child and
answers ``{"returncode"}`` a line: negative for a signal (``-9``: SIGKILL).

The preloaded modules read their environment when imported (thread counts,
Python's own variables): a run whose environment differs there from the
zygote's must start a fresh interpreter instead (:func:`forkable`).  The
Hugging Face libraries, whose variables tests do vary, are never preloaded.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

# variables the interpreter or a preloaded library reads at start or import (not torch's
# TORCHINDUCTOR_*: inductor, imported later if at all, sets and reads them at run time)
STARTUP_ENV = (
    "PYTHON", "OMP_", "MKL_", "OPENBLAS", "KMP_", "GOMP", "TORCH_", "PYTORCH", "CUDA", "FAISS",
    "LD_", "LANG", "LC_", "TMP", "TEMP", "HOME", "XDG_",
)  # fmt: skip
# libraries that read their variables (HF_*, TRANSFORMERS_*, ...) when imported: a zygote
# never preloads them, so a child imports them under its own environment, as a fresh process
NOT_PRELOADED = ("huggingface_hub", "transformers", "tokenizers", "sentence_transformers")
# the variables of the process that imported this module first (the suite's conftest, before
# any test set one of its own): what zygotes start with
BASE_ENV = dict(os.environ)


def forkable(env: Mapping[str, str], base: Mapping[str, str]) -> bool:
    """Whether a run with ``env`` may fork from a zygote started with ``base``."""
    keys = {k for k in {*env, *base} if k.startswith(STARTUP_ENV)}
    return all(env.get(k) == base.get(k) for k in keys)


class Zygote:
    """This file running in the background: one request in, one forked child's status out."""

    def __init__(self, preload: Sequence[str]) -> None:
        self.env = dict(BASE_ENV)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, ",".join(preload)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        atexit.register(self.stop)

    def run(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        hook: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``embedreg ARGS`` in a forked child (see the module docstring)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory(prefix="embedreg-zygote-") as tmp:
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            request = {
                "args": list(args),
                "env": dict(env),
                "cwd": str(cwd) if cwd is not None else os.getcwd(),
                "out": str(out),
                "err": str(err),
                "hook": str(hook) if hook is not None else None,
            }
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            assert line, "the zygote died"
            return subprocess.CompletedProcess(
                ["embedreg", *args],
                int(json.loads(line)["returncode"]),
                out.read_text(encoding="utf-8", errors="replace"),
                err.read_text(encoding="utf-8", errors="replace"),
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_started: dict[tuple[str, ...], Zygote] = {}


def shared(preload: Sequence[str]) -> Zygote:
    """The process's zygote for ``preload``, started on first use (one per process, however
    many copies of the modules that ask for it pytest imported)."""
    key = tuple(preload)
    if key not in _started:
        _started[key] = Zygote(preload)
    return _started[key]


def _child(request: dict[str, object]) -> None:
    """In the forked child: become the run, never return."""
    code = 1
    try:
        atexit._clear()  # the zygote's handlers are not the run's
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(str(request["cwd"]))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115  (no read-ahead of ours)
        for fd, name in ((1, "out"), (2, "err")):
            target = os.open(str(request[name]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        signal.alarm(600)  # a hung run dies (SIGALRM), as run_cli's timeout would end it
        if request["hook"]:
            source = Path(str(request["hook"])).read_text(encoding="utf-8")
            exec(compile(source, "sitecustomize.py", "exec"), {"__name__": "sitecustomize"})
            # shutil decides at import whether rmtree works through directory descriptors
            # (which the hook does not see); imported after the hook, as in a fresh
            # process with the hook, it does not
            shutil._use_fd_functions = (  # type: ignore[attr-defined]
                {os.open, os.stat, os.unlink, os.rmdir} <= os.supports_dir_fd
                and os.scandir in os.supports_fd
                and os.stat in os.supports_follow_symlinks
            )
        from embedreg_cli.main import main

        args = request["args"]
        assert isinstance(args, list)
        sys.argv = ["embedreg", *args]
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        atexit._run_exitfuncs()
    except BaseException:  # as an uncaught exception ends a fresh process
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def serve(preload: Sequence[str]) -> None:
    """Import ``preload``, then fork a child per request on stdin (see the module docstring)."""
    sys.path[0] = os.path.dirname(sys.executable)  # as for the console script, not tests/
    for name in preload:
        with contextlib.suppress(ImportError):  # optional: a child imports what it needs
            importlib.import_module(name)
    loaded = sorted(m for m in NOT_PRELOADED if m in sys.modules)
    if loaded:
        sys.exit(f"zygote: the preload imported {loaded}, which read variables tests vary")
    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        protocol.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        protocol.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        protocol.flush()


if __name__ == "__main__":
    serve([m for m in sys.argv[1].split(",") if m])
