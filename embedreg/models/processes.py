"""Processes that share a piece of work: a launch by Hugging Face accelerate, or one process.

Inside ``accelerate launch`` (or ``torchrun``) the environment says how many
processes there are (``WORLD_SIZE``) and accelerate's
:class:`~accelerate.PartialState` joins them into a process group (``nccl``
on GPUs; ``gloo`` on CPUs, which accelerate only does when told the device
is the CPU, so :func:`processes` tells it).  Outside one, there is one
process of rank 0.  :func:`on_main` runs a step on the main process and
hands its result, or its failure, to every process.

Example:
    >>> processes("cpu")
    Processes(rank=0, world=1, device='cpu')
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..constants import ENV_PARENT_PID
from ..devices import select_device
from ..errors import EmbedRegError

__all__ = ["Processes", "free_port", "launched", "on_main", "parent_alive", "processes"]

T = TypeVar("T")


@dataclass(frozen=True)
class Processes:
    """This process's place among the processes that share the work."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True for the process that prepares and merges."""
        return self.rank == 0


def launched() -> bool:
    """True inside a multi-process launch (``accelerate launch``, ``torchrun``)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def processes(device: str = "auto") -> Processes:
    """Rank, number of processes and device of this process.

    Outside a launch: ``(0, 1, device)``.  Inside one, accelerate's
    :class:`~accelerate.PartialState` joins the process group (``gloo`` on
    CPUs, which accelerate only does when told the device is the CPU).
    """
    if not launched():
        return Processes(0, 1, select_device(device))
    from accelerate import PartialState

    cpu = select_device(device) == "cpu"
    state = PartialState(cpu=cpu)
    return Processes(
        int(state.process_index), int(state.num_processes), "cpu" if cpu else str(state.device)
    )


def on_main(procs: Processes, fn: Callable[[], T]) -> T:
    """Run ``fn`` on the main process and hand its result (or its error) to every process."""
    if procs.world == 1:
        return fn()
    from accelerate.utils import broadcast_object_list

    box: list[Any] = [None]
    if procs.is_main:
        try:
            box = [("ok", fn())]
        except EmbedRegError as exc:
            box = [("error", str(exc))]
            broadcast_object_list(box, from_process=0)
            raise
    broadcast_object_list(box, from_process=0)
    status, value = box[0]
    if status == "error":
        raise EmbedRegError(f"the main process failed: {value}")
    result: T = value
    return result


def parent_alive() -> bool:
    """False once the process named by ``$EMBEDREG_PARENT_PID`` (a launcher) has died."""
    pid = os.environ.get(ENV_PARENT_PID)
    if not pid:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    try:  # a killed parent not yet reaped is a zombie: dead all the same
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def free_port() -> int:
    """A TCP port free on this machine now (for a launch's rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
