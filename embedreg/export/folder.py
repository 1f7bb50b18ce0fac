"""``embedreg export sentence-transformers``: a query path as a model folder, verified first.

:func:`export_sentence_transformers` plans the export (:mod:`.target`:
refused before any model loads when one model cannot carry it), checks the
output folder, builds the model with sentence-transformers' own modules
(:mod:`.st_model`) in a temporary sibling of the output, loads it back and
compares it with embedreg's own path output (:mod:`.verify`), writes the card
(:mod:`.card`), and only then renames the folder into place.  A refused or
killed export leaves the output as it was (temporary siblings of dead
processes are removed by the next export into the same parent).

An existing output folder is replaced only when it is an earlier export
(its card says so) and ``force`` is given; any other existing folder with
files in it is refused.

Example:
    >>> res = export_sentence_transformers(reg, "v2-short-to-v2.auto", "st-v2-short")  # doctest: +SKIP
    >>> res.verification.min_cosine >= 0.9999  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import CARD_FILENAME, ST_EXPORT_MIN_COSINE
from ..errors import ExportExists
from ..registry import Registry
from ..routing import RoutingPolicy
from ..util.atomic import fsync_dir, remove_stale_temps, temp_prefix
from ..util.hashing import file_sha256
from .card import export_card, read_export_facts
from .st_model import build_model, save_model, st_version
from .target import ExportPlan, export_plan
from .verify import Verification, verify_export

__all__ = ["ExportResult", "check_output", "export_sentence_transformers", "write_export"]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (or published), and how well it was verified.

    Attributes:
        plan: the path exported, with both generations and the role.
        verification: the comparison with embedreg's own vectors.
        files: sha256 of every file of the folder (relative POSIX paths).
        folder: where it was written (``None`` for a publish-only export).
        seconds: wall time of the build, the verification and the card.
    """

    plan: ExportPlan
    verification: Verification
    files: dict[str, str] = field(default_factory=dict)
    folder: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``--json`` prints)."""
        return {
            "folder": self.folder,
            "source": self.plan.source.name,
            "target": self.plan.target.name,
            "role": self.plan.role,
            "adapter": self.plan.adapter_id,
            "adapters": self.plan.path.adapter_ids,
            "dimension": self.plan.target.dimension,
            "quality": self.plan.path.quality if self.plan.path.adapter_ids else 1.0,
            "criterion": self.plan.path.criterion,
            "verification": self.verification.to_dict(),
            "files": dict(sorted(self.files.items())),
            "seconds": self.seconds,
        }


def check_output(out: Path, *, force: bool) -> None:
    """Refuse an output that exists, unless it is an earlier export and ``force``.

    Raises:
        ExportExists: ``out`` is a file, a folder of something else, or an
            export and not ``force``.
    """
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise ExportExists(str(out), "exists and is not a folder", "choose another -o folder")
    if not any(out.iterdir()):
        return  # an empty folder holds nothing to lose
    card = out / CARD_FILENAME
    ours = False
    if card.is_file():
        from huggingface_hub import ModelCard

        try:
            ours = read_export_facts(ModelCard.load(card, ignore_metadata_errors=True)) is not None
        except (OSError, ValueError):
            ours = False
    if not ours:
        raise ExportExists(
            str(out),
            "holds files that no embedreg export wrote",
            "choose another -o folder (it is never overwritten)",
        )
    if not force:
        raise ExportExists(
            str(out),
            "holds an earlier export",
            "choose another -o folder, or pass --force to replace that export",
        )


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_export(
    registry: Registry,
    plan: ExportPlan,
    folder: Path,
    *,
    where: str,
    on_hub: bool,
    threshold: float = ST_EXPORT_MIN_COSINE,
) -> tuple[Verification, dict[str, str]]:
    """Build, save, verify and card ``plan`` into the empty (or new) ``folder``.

    Returns the verification and the sha256 of every file but the card.

    Raises:
        ExportMismatch: the saved model's vectors are not embedreg's (the
            folder's contents are then not an export: the caller discards them).
    """
    st_version()  # the extra is there, before any model loads
    model = build_model(plan)
    save_model(model, folder)
    del model
    verification = verify_export(plan, folder, threshold=threshold)
    files = _hashes(folder)
    doc = registry.document()
    directions = {ident: doc.adapters[ident].direction for ident in plan.path.adapter_ids}
    card = export_card(plan, verification, files, where=where, on_hub=on_hub, directions=directions)
    card.save(str(folder / CARD_FILENAME))
    return verification, files


def export_sentence_transformers(
    registry: Registry,
    what: str,
    out: str | os.PathLike[str],
    *,
    role: str | None = None,
    force: bool = False,
    policy: RoutingPolicy | None = None,
    threshold: float = ST_EXPORT_MIN_COSINE,
) -> ExportResult:
    """Export adapter ``what`` (or the path ``NEW:OLD``) as a sentence-transformers folder ``out``.

    ``SentenceTransformer(out).encode(texts)`` then returns vectors in the
    target generation's space, equal to embedreg's path output (cosine ≥
    ``threshold`` on every verification text).

    Raises:
        ExportRefused: the path cannot be one model (fused/cascade kinds,
            non-affine hops, non-text generations); nothing loads.
        ExportExists: ``out`` holds something (see :func:`check_output`).
        ExtraUnavailable: sentence-transformers is not installed.
        ExportMismatch: verification failed; nothing is written.
    """
    started = time.perf_counter()
    plan = export_plan(
        registry,
        what,
        role=role,
        policy=policy,
    )
    dest = Path(out).absolute()
    check_output(dest, force=force)
    st_version()
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dest.parent, dest.name)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=temp_prefix(dest.name), suffix=".tmp"))
    try:
        verification, files = write_export(
            registry, plan, staging, where=str(dest), on_hub=False, threshold=threshold
        )
        check_output(dest, force=force)  # again: something may have appeared meanwhile
        _place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(
        plan, verification, files, folder=str(dest), seconds=time.perf_counter() - started
    )


def _place(staging: Path, dest: Path) -> None:
    """Rename ``staging`` to ``dest``; an earlier export there is moved aside, then deleted."""
    mask = _umask()
    for path in staging.rglob("*"):  # libraries write some files 0600: the folder is to share
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
    os.chmod(staging, 0o777 & ~mask)
    if dest.exists() and any(dest.iterdir()):
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        os.replace(staging, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    fsync_dir(dest.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
