"""Crash-safe file writes: write a temporary sibling, fsync, rename.

A reader sees either the old bytes or the new bytes, never a mixture, even if
the writer is killed half-way.  Temporary siblings are named
``.<name>.<pid>.<random>.tmp``, so :func:`remove_stale_temps` can tell the
leftovers of dead writers (their process is gone) from a live writer's.

Example:
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "data.json"
    >>> atomic_write_bytes(target, b"{}\\n")
    >>> target.read_bytes()
    b'{}\\n'
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import ValidationError


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where a directory can be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode(base: int = 0o666) -> int:
    """``base`` with the process umask applied (what ``open`` would give)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


#: ``.<name>.<pid>.<random>.tmp`` (a temporary sibling) or ``.<name>.old-<pid>`` (a moved-aside one).
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp|old-(?P<old>\d+))$")


def temp_prefix(name: str) -> str:
    """The prefix of this process's temporary siblings of a file called ``name``."""
    return f".{name}.{os.getpid()}."


def process_alive(pid: int) -> bool:
    """Whether a process of that id runs (this one counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def remove_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Delete the temporary siblings (files or folders) that dead writers left in ``folder``.

    Only names this module makes are considered (of ``name`` alone when given),
    and only those whose writing process no longer runs.  Returns what went.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / ".x.json.999999999.abc.tmp").write_text("")
        >>> [p.name for p in remove_stale_temps(d)]
        ['.x.json.999999999.abc.tmp']
    """
    gone: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return gone
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        if process_alive(int(match["pid"] or match["old"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            gone.append(entry)
    return gone


def _durable_temp(target: Path, data: bytes, mode: int) -> Path:
    """A temporary sibling of ``target`` holding ``data``, fsynced, with ``mode``;
    removed again if writing it fails."""
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=temp_prefix(target.name), suffix=".tmp"
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (same-directory temp file + rename)."""
    target = Path(path)
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else _default_mode()
        tmp = _durable_temp(target, data, mode)
        try:
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(target)) from None  # name what failed
    fsync_dir(target.parent)


def atomic_create_bytes(path: str | Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; ``False`` (writing nothing) if it does.

    The file appears whole (a complete temporary sibling is hard-linked into
    place), so of concurrent creators exactly one wins and no reader ever sees
    it empty.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "claim.json"
        >>> atomic_create_bytes(target, b"1"), atomic_create_bytes(target, b"2"), target.read_bytes()
        (True, False, b'1')
    """
    target = Path(path)
    tmp = _durable_temp(target, data, _default_mode())
    try:
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(target.parent)
    return True


def atomic_copy_tree(files: dict[str, Path], destination: str | Path) -> None:
    """Publish ``files`` (relative name → source path) as the folder ``destination``.

    The files are copied into a temporary sibling folder, fsynced, and the
    folder is renamed into place; an existing ``destination`` is replaced as a
    whole, so readers never see a mixture of old and new files.
    """
    dest = Path(destination)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=temp_prefix(dest.name), suffix=".tmp"))
    try:
        for rel, src in files.items():
            rel_path = Path(rel)
            if rel_path.is_absolute() or ".." in rel_path.parts:
                raise ValidationError(
                    f"file name {rel!r} must be a relative path inside the folder"
                )
            out = staging / rel_path
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
            with open(out, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(staging, _default_mode(0o777))
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
            os.replace(staging, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, dest)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(dest)) from None  # name what failed
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(dest.parent)
