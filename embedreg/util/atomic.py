"""Crash-safe file writes: write a temporary sibling, fsync, rename.

A reader sees either the old bytes or the new bytes, never a mixture, even if
the writer is killed half-way.

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
import shutil
import tempfile
from pathlib import Path

from ..errors import ValidationError


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not every platform can open a directory.
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


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (same-directory temp file + rename)."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        mode = target.stat().st_mode & 0o777 if target.exists() else _default_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def atomic_copy_tree(files: dict[str, Path], destination: str | Path) -> None:
    """Publish ``files`` (relative name → source path) as the folder ``destination``.

    The files are copied into a temporary sibling folder, fsynced, and the
    folder is renamed into place; an existing ``destination`` is replaced as a
    whole, so readers never see a mixture of old and new files.
    """
    dest = Path(destination)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
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
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(dest.parent)
