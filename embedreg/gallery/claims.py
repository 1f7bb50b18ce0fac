"""A build's claim on its gallery folder: only a new, empty or interrupted folder is taken.

``gallery build`` writes only into a folder it created or that is already
its kind: one that does not exist, an empty one, or one holding the journal
of an interrupted build (whose files it discards first).  The journal
(``.embedreg-build.json``, the build's process id) is created whole and
exclusively, so of two builds started on one folder at once exactly one
claims it and the other is refused in one line.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_empty(folder)
    >>> claim(folder, folder / ".embedreg-build.json", '{"pid": 1}')
    >>> claim(folder, folder / ".embedreg-build.json", '{"pid": 2}')
    Traceback (most recent call last):
    ...
    embedreg.errors.ConflictError: another build of gallery folder ... started at the same time; wait for it to finish, or build into another folder with -o
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..constants import GALLERY_BUILD_JOURNAL, GALLERY_LOCK, GALLERY_MANIFEST
from ..errors import ConflictError, ValidationError
from ..util.atomic import atomic_create_bytes, process_alive, remove_stale_temps
from . import storage

__all__ = ["check_empty", "claim", "discard_interrupted_build"]


def claim(folder: Path, journal: Path, text: str) -> None:
    """Create the build journal exclusively; :class:`ConflictError` when another build has.

    ``folder`` must exist.
    """
    if not atomic_create_bytes(journal, text.encode()):
        raise ConflictError(
            f"another build of gallery folder {folder} started at the same time",
            "wait for it to finish, or build into another folder with -o",
        )


def discard_interrupted_build(folder: Path, journal: Path) -> None:
    """Remove the gallery files of a build that was killed (its journal is still there)."""
    try:
        pid = int(json.loads(journal.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        pid = 0
    if pid and pid != os.getpid() and process_alive(pid):
        raise ConflictError(
            f"another build of gallery folder {folder} is running (process {pid})",
            "wait for it to finish, or stop it and run the build again",
        )
    (folder / GALLERY_MANIFEST).unlink(missing_ok=True)
    storage.remove_stale(folder, keep=set())
    remove_stale_temps(folder)
    journal.unlink(missing_ok=True)  # the next build claims the folder afresh


def check_empty(folder: Path) -> None:
    """Refuse a folder that holds anything but a gallery's lock file (not a gallery's folder)."""
    remove_stale_temps(folder, GALLERY_BUILD_JOURNAL)  # a claim killed before it was made
    try:
        entries = sorted(e.name for e in folder.iterdir() if e.name != GALLERY_LOCK)
    except FileNotFoundError:
        return
    if entries:
        shown = ", ".join(entries[:3]) + (", …" if len(entries) > 3 else "")
        raise ValidationError(
            f"{folder} is not empty and holds no gallery ({shown})",
            "build into a new or empty folder with -o",
        )
