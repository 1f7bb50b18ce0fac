"""The zygote of ``tests/crashkit.py``: import the CLI once, fork a child per run.

``python crashzygote.py HOOK`` imports ``embedreg_cli`` and the libraries its
commands load (torch, FAISS, safetensors), then reads one JSON request a line
on stdin: ``{"args", "env", "out", "err"}``.  For each it forks a child that
takes ``env`` as its whole environment, sends its stdout and stderr to the
files ``out`` and ``err`` (stdin from /dev/null), executes the kill hook
(the file ``HOOK``, crashkit's ``sitecustomize`` source), runs
``embedreg_cli.main.main(args)`` and exits with its status, its exit handlers
run as a fresh process's would.  The zygote waits for the child and writes
``{"returncode"}`` a line: negative for a signal, ``-9`` for the hook's SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import shutil
import signal
import sys
import traceback

HOOK_SOURCE = open(sys.argv[1], encoding="utf-8").read()  # noqa: SIM115  (before any fork)
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


def child(request: dict[str, object]) -> None:
    """In the forked child: become the run, never return."""
    code = 1
    try:
        atexit._clear()  # the zygote's handlers are not the run's
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115  (no read-ahead of ours)
        for fd, name in ((1, "out"), (2, "err")):
            target = os.open(str(request[name]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        signal.alarm(300)  # a hung run dies (SIGALRM) as the script's 300 s timeout would end it
        exec(compile(HOOK_SOURCE, "sitecustomize.py", "exec"), {"__name__": "sitecustomize"})
        # shutil decides at import whether rmtree works through directory descriptors (which
        # the hook does not see); imported after the hook, as in a fresh process, it does not
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


def serve() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # optional: a child imports what it needs
            importlib.import_module(name)
    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        protocol.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(request)
        _, status = os.waitpid(pid, 0)
        protocol.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        protocol.flush()


if __name__ == "__main__":
    serve()
