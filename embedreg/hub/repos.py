"""Hub repo references: ``OWNER/NAME[@REVISION]``, resolved to the commit they are now.

Example:
    >>> parse_repo_ref("alice/v3-to-v2@v1")
    ('alice/v3-to-v2', 'v1')
    >>> parse_repo_ref("alice/v3-to-v2")
    ('alice/v3-to-v2', None)
"""

from __future__ import annotations

import re

from ..constants import ENV_HF_OFFLINE, HUB_DEFAULT_BRANCH
from ..errors import HubConflict, HubUnreachable, ValidationError
from ..models import resolve_hub_revision
from ..registry.sources import COMMIT_RE
from ..util.hubcalls import endpoint, hf_api, hub_errors, is_offline

__all__ = ["parse_repo_ref", "refuse_taken_tag", "repo_url", "resolve_commit"]

_REF_RE = re.compile(r"([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(.+))?")


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """``OWNER/NAME[@REVISION]`` → ``(repo_id, revision or None)``.

    Raises:
        ValidationError: not of that form.
    """
    match = _REF_RE.fullmatch(ref.strip())
    if not match:
        raise ValidationError(
            f"{ref!r} is not a Hub repo reference", "use OWNER/NAME or OWNER/NAME@REVISION"
        )
    return match.group(1), match.group(2)


def resolve_commit(repo_id: str, revision: str | None = None) -> str:
    """The 40-hex commit branch, tag or commit ``revision`` (default ``main``) of ``repo_id`` is now.

    A full commit is returned as it is when offline (nothing to ask).

    Raises:
        HubRepoNotFound, HubRevisionNotFound, HubAuthError, HubUnreachable.
    """
    ref = revision or HUB_DEFAULT_BRANCH
    if is_offline():
        if COMMIT_RE.fullmatch(ref):
            return ref
        raise HubUnreachable(
            f"{ENV_HF_OFFLINE} is set, so {repo_id}@{ref} cannot be resolved to a commit",
            f"pass the 40-hex commit (OWNER/NAME@COMMIT), or unset {ENV_HF_OFFLINE}",
            repo_id=repo_id,
        )
    return resolve_hub_revision(repo_id, ref)


def repo_url(repo_id: str, commit: str | None = None) -> str:
    """The web address of a repo (at a commit)."""
    base = f"{endpoint()}/{repo_id}"
    return f"{base}/tree/{commit}" if commit else base


def refuse_taken_tag(repo_id: str, tag: str | None) -> None:
    """Refuse ``tag`` where Hub repo ``repo_id`` has it already (tags never move).

    Example:
        >>> refuse_taken_tag("org/adapter", None)  # no tag asked for: nothing to check
    """
    if tag is None:
        return
    with hub_errors(repo_id):
        tags = {t.name for t in hf_api().list_repo_refs(repo_id).tags}
    if tag in tags:
        raise HubConflict(
            f"Hub repo {repo_id} has a tag {tag!r} already",
            "choose another --revision-tag (tags never move)",
            repo_id=repo_id,
        )
