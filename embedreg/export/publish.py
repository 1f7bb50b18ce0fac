"""Publishing an export to the Hub: one commit that ``SentenceTransformer("owner/name")`` loads.

:func:`publish_sentence_transformers` is ``embedreg adapter publish ID --as
sentence-transformers`` (and ``embedreg export sentence-transformers …
--repo``): the export is built and verified in a temporary folder exactly as
:func:`~embedreg.export.export_sentence_transformers` does, then every file,
the card included, goes up in **one** commit (``create_commit`` with the
parent set to the commit that was read, so a concurrent writer is never
overwritten unseen), optionally tagged.  Files of an earlier export that the
new one lacks are deleted in the same commit.

A repo that holds anything but an earlier export of the same path is
refused unless ``replace``; an existing tag is refused before anything is
uploaded.

Example:
    >>> pub = publish_sentence_transformers(reg, "v2-short-to-v2.auto", "alice/v2-short-st")  # doctest: +SKIP
    >>> SentenceTransformer("alice/v2-short-st", revision=pub.commit)  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import (
    CARD_FILENAME,
    HUB_DEFAULT_BRANCH,
    ST_EXPORT_MIN_COSINE,
)
from ..errors import HubConflict, ValidationError
from ..hub.repos import parse_repo_ref, refuse_taken_tag
from ..registry import Registry
from ..routing import RoutingPolicy
from ..util.hubcalls import hf_api, hub_errors
from .card import read_export_facts
from .folder import ExportResult, write_export
from .st_model import quiet, st_version
from .target import ExportPlan, export_plan

__all__ = ["StPublication", "publish_sentence_transformers"]

#: Files a Hub repo keeps whatever is published over it.
_KEPT = frozenset({".gitattributes"})


@dataclass(frozen=True)
class StPublication:
    """Where an export went on the Hub, and the export itself."""

    repo_id: str
    commit: str
    tag: str | None
    export: ExportResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "repo_id": self.repo_id,
            "commit": self.commit,
            "tag": self.tag,
            "format": "sentence-transformers",
            **{k: v for k, v in self.export.to_dict().items() if k != "folder"},
        }


def _identity(section: dict[str, Any]) -> tuple[Any, ...]:
    path = section.get("path") or {}
    hops = path.get("hops") or []
    return (
        (section.get("source") or {}).get("pin"),
        (section.get("target") or {}).get("pin"),
        tuple(h.get("sha256") for h in hops),
    )


def _plan_identity(plan: ExportPlan) -> tuple[Any, ...]:
    return (
        plan.source.pin,
        plan.target.pin,
        tuple(h.sha256 for h in plan.path.hops if not h.is_identity),
    )


def _check_repo(repo_id: str, plan: ExportPlan, present: set[str]) -> None:
    """Refuse a repo holding files that are not an earlier export of the same path."""
    from huggingface_hub import ModelCard, hf_hub_download

    if not present - _KEPT:
        return
    section = None
    if CARD_FILENAME in present:
        with hub_errors(repo_id, path=CARD_FILENAME):
            card = ModelCard.load(
                hf_hub_download(repo_id, CARD_FILENAME), ignore_metadata_errors=True
            )
        section = read_export_facts(card)
    if section is not None and _identity(section) == _plan_identity(plan):
        return
    what = (
        f"an export of {section['source']['generation']} → {section['target']['generation']}"
        if section is not None
        else "files embedreg did not write"
    )
    raise HubConflict(
        f"Hub repo {repo_id} holds {what}",
        "publish to another repo, or pass --replace to overwrite it",
        repo_id=repo_id,
    )


def publish_sentence_transformers(
    registry: Registry,
    what: str,
    repo_id: str,
    *,
    role: str | None = None,
    private: bool = False,
    tag: str | None = None,
    replace: bool = False,
    policy: RoutingPolicy | None = None,
    threshold: float = ST_EXPORT_MIN_COSINE,
) -> StPublication:
    """Export adapter ``what`` (or ``NEW:OLD``) and publish it as Hub repo ``repo_id``.

    Raises:
        ExportRefused, ExtraUnavailable, ExportMismatch: as for a folder export.
        HubConflict: the repo holds something else, the tag exists, or the repo
            changed during the upload.
        HubError: 401/403, no network, …
    """
    started = time.perf_counter()
    plan = export_plan(
        registry,
        what,
        role=role,
        policy=policy,
    )
    repo_id, revision = parse_repo_ref(repo_id)
    if revision is not None:
        raise ValidationError(
            f"publish to {repo_id!r} without @{revision}",
            "exports go to the repo's main branch; tag the commit with --revision-tag",
        )
    st_version()
    api = hf_api()
    with hub_errors(repo_id):
        exists = api.repo_exists(repo_id)
    head, present = None, set()
    if exists:
        with hub_errors(repo_id, revision=HUB_DEFAULT_BRANCH):
            info = api.model_info(repo_id, revision=HUB_DEFAULT_BRANCH)
        head, present = info.sha, {s.rfilename for s in info.siblings or []}
        if not replace:
            _check_repo(repo_id, plan, present)
        refuse_taken_tag(repo_id, tag)
    with tempfile.TemporaryDirectory(prefix="embedreg-st-export-") as tmp:
        folder = Path(tmp)
        verification, files = write_export(
            registry, plan, folder, where=repo_id, on_hub=True, threshold=threshold
        )
        commit = _upload(repo_id, folder, present, head, private=private, plan=plan)
    if tag is not None:
        with hub_errors(repo_id, revision=commit, action="tag"):
            api.create_tag(repo_id, tag=tag, revision=commit)
    result = ExportResult(plan, verification, files, seconds=time.perf_counter() - started)
    return StPublication(repo_id, commit, tag, result)


def _upload(
    repo_id: str,
    folder: Path,
    present: set[str],
    head: str | None,
    *,
    private: bool,
    plan: ExportPlan,
) -> str:
    """Every file of ``folder`` (and the deletion of stale ones) in one commit; its oid."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api = hf_api()
    adds = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    ops: list[Any] = [CommitOperationAdd(name, str(path)) for name, path in adds.items()]
    ops += [CommitOperationDelete(name) for name in sorted(present - set(adds) - _KEPT)]
    with hub_errors(repo_id, action="create"):
        api.create_repo(repo_id, private=private, exist_ok=True)
    if head is None:
        with hub_errors(repo_id, revision=HUB_DEFAULT_BRANCH):
            head = getattr(api.model_info(repo_id, revision=HUB_DEFAULT_BRANCH), "sha", None)
    try:
        with quiet(), hub_errors(repo_id, revision=HUB_DEFAULT_BRANCH, action="publish to"):
            info = api.create_commit(
                repo_id,
                ops,
                commit_message=f"embedreg: export {plan.label} as a sentence-transformers model",
                revision=HUB_DEFAULT_BRANCH,
                parent_commit=head,
            )
    except HubConflict:
        raise HubConflict(
            f"Hub repo {repo_id} changed while publishing",
            "check what changed, then publish again",
            repo_id=repo_id,
        ) from None
    return str(info.oid)
