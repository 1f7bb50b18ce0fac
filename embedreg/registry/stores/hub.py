"""HubStore: the registry in a Hugging Face Hub repo (``hf://OWNER/NAME[@REVISION]``).

Layout of the repo (a model repo, written on its ``main`` branch)::

    registry.json                 the document, exactly as a local registry keeps it
    artifacts/<key>/...           artifact folders (adapter config + weights)
    README.md                     the registry's card (lineages, adapters, figures, aliases)

Reads are pinned: :meth:`HubStore.read` asks the Hub which commit the branch
(or the revision given after ``@``) points to, downloads ``registry.json`` at
that commit and remembers it (:attr:`HubStore.commit`); artifacts are then
fetched at that same commit, so a document and the files it names always
belong together.  Updates are optimistic: :meth:`HubStore.update` commits
with ``create_commit(..., parent_commit=<the commit it read>)``; when another
writer got there first (HTTP 412) it reads again, re-applies the (pure)
change and retries, pausing a little longer each time, up to
``HUB_COMMIT_ATTEMPTS`` tries, then fails with :class:`~embedreg.errors.HubConflict`.
A registry opened at ``@REVISION`` is read-only.  Every commit that changes
``registry.json`` carries ``README.md``, the registry's card
(:func:`~embedreg.registry.card.registry_card`) rendered from the new
document, so the repo's front page never shows an old state.
:meth:`HubStore.create_private` makes the repo private (``embedreg init --private``).

Each read is also kept in the local cache (``$EMBEDREG_CACHE/hub-registries``);
with ``HF_HUB_OFFLINE=1`` reads come from there, and :attr:`HubStore.notice`
says so and names the commit.  Tokens are the client's own (``HF_TOKEN``, or
``hf auth login``); nothing here reads or stores one.

Example:
    >>> store = HubStore.from_url("hf://alice/registry@v1")
    >>> store.repo_id, store.revision, store.read_only
    ('alice/registry', 'v1', True)
    >>> store.location
    'hf://alice/registry@v1'
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote

from ...constants import (
    ARTIFACTS_DIRNAME,
    CARD_FILENAME,
    ENV_HF_OFFLINE,
    HUB_CACHE_DIRNAME,
    HUB_COMMIT_ATTEMPTS,
    HUB_DEFAULT_BRANCH,
    HUB_RETRY_PAUSE,
    HUB_RETRY_PAUSE_MAX,
    HUB_SCHEME,
    REGISTRY_FILENAME,
)
from ...errors import (
    ConflictError,
    HubConflict,
    HubUnreachable,
    NotFound,
    ReadOnlyRegistry,
    RegistryNotFound,
    ValidationError,
)
from ...util.atomic import atomic_write_bytes
from ...util.cache import cache_root
from ...util.clock import utc_now
from ...util.hubcalls import hf_api, hub_errors, is_offline
from ..card import registry_card
from ..document import RegistryDocument
from .base import Store

__all__ = ["HubStore", "artifact_path", "parse_hub_url"]

_URL_RE = re.compile(r"hf://([A-Za-z0-9][\w.-]*)/([A-Za-z0-9][\w.-]*)(?:@(.+))?")


def parse_hub_url(url: str) -> tuple[str, str | None]:
    """``hf://OWNER/NAME[@REVISION]`` → ``(repo_id, revision or None)``.

    Raises:
        ValidationError: not of that form.

    Example:
        >>> parse_hub_url("hf://alice/reg@main")
        ('alice/reg', 'main')
    """
    match = _URL_RE.fullmatch(url.strip())
    if not match:
        raise ValidationError(
            f"{url!r} is not a Hub registry URL",
            f"use {HUB_SCHEME}://OWNER/NAME, or {HUB_SCHEME}://OWNER/NAME@REVISION to read an old state",
        )
    revision = unquote(match.group(3)) if match.group(3) else None
    return f"{match.group(1)}/{match.group(2)}", revision


#: Patterns of repo paths with a ``..`` segment (a raw commit can add one; no store writes it).
_LEAVING = ("*/../*", "*/..", "../*")


def artifact_path(key: str, name: str = "") -> str:
    """The path in the repo of artifact ``key`` (and of its file ``name``)."""
    rel = PurePosixPath(key)
    if not key or rel.is_absolute() or ".." in rel.parts:
        raise ValidationError(
            f"artifact key {key!r} must be a relative path without '..'",
            "the registry's adapter records hold a bad location; fix registry.json",
        )
    base = f"{ARTIFACTS_DIRNAME}/{rel.as_posix()}"
    return f"{base}/{name}" if name else base


class HubStore(Store):
    """A registry kept in a Hub repo; see the module documentation."""

    scheme = HUB_SCHEME

    def __init__(
        self,
        repo_id: str,
        revision: str | None = None,
        *,
        branch: str = HUB_DEFAULT_BRANCH,
        attempts: int = HUB_COMMIT_ATTEMPTS,
        pause: float = HUB_RETRY_PAUSE,
    ) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.branch = branch
        self.attempts = max(1, attempts)
        self.pause = pause
        #: The commit of the last read (``None`` before the first one).
        self.commit: str | None = None
        self._notice: str | None = None

    @classmethod
    def from_url(cls, url: str) -> HubStore:
        """Open ``hf://OWNER/NAME`` (its ``main`` branch) or ``hf://OWNER/NAME@REVISION`` (read-only)."""
        repo_id, revision = parse_hub_url(url)
        return cls(repo_id, revision)

    @property
    def location(self) -> str:
        base = f"{HUB_SCHEME}://{self.repo_id}"
        return f"{base}@{self.revision}" if self.revision else base

    @property
    def read_only(self) -> bool:
        """True when opened at a fixed revision."""
        return self.revision is not None

    @property
    def notice(self) -> str | None:
        return self._notice

    # --- reading -------------------------------------------------------------------------------

    def _cache_file(self) -> Path:
        owner, name = self.repo_id.split("/")
        ref = quote(self.revision or self.branch, safe="")
        return cache_root() / HUB_CACHE_DIRNAME / f"{owner}--{name}" / f"{ref}.json"

    def _remember(self, raw: bytes, commit: str) -> None:
        record = {
            "repo_id": self.repo_id,
            "revision": self.revision or self.branch,
            "commit": commit,
            "read": utc_now(),
            "registry": raw.decode("utf-8", "replace"),
        }
        path = self._cache_file()
        with contextlib.suppress(OSError):  # a cache that cannot be written costs offline use only
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, json.dumps(record, indent=1).encode("utf-8"))

    def _read_cached(self) -> bytes | None:
        try:
            record = json.loads(self._cache_file().read_text(encoding="utf-8"))
            raw = str(record["registry"]).encode("utf-8")
            commit, when = str(record["commit"]), str(record["read"])
        except (OSError, ValueError, KeyError, TypeError):
            raise HubUnreachable(
                f"{ENV_HF_OFFLINE} is set and there is no cached state of {self.location}",
                f"unset {ENV_HF_OFFLINE} to read it from the Hub (it is cached for offline use)",
                repo_id=self.repo_id,
            ) from None
        self.commit = commit
        self._notice = (
            f"read a cached state of {self.location}: commit {commit[:12]}, read {when} "
            f"({ENV_HF_OFFLINE} is set)"
        )
        return raw

    def _head(self, revision: str) -> tuple[str, set[str]]:
        """The commit ``revision`` points to now, and the files at it."""
        api = hf_api()
        with hub_errors(self.repo_id, revision=revision):
            info = api.model_info(self.repo_id, revision=revision)
        if not info.sha:
            raise HubUnreachable(
                f"the Hub did not say which commit {self.repo_id}@{revision} is",
                "check HF_ENDPOINT points to a Hub",
                repo_id=self.repo_id,
            )
        return info.sha, {s.rfilename for s in info.siblings or []}

    def _download(self, commit: str, path: str) -> bytes:
        from huggingface_hub import hf_hub_download

        with hub_errors(self.repo_id, revision=commit, path=path):
            local = hf_hub_download(self.repo_id, path, revision=commit)
        return Path(local).read_bytes()

    def _read_at(self, revision: str) -> tuple[bytes | None, str]:
        commit, files = self._head(revision)
        raw = self._download(commit, REGISTRY_FILENAME) if REGISTRY_FILENAME in files else None
        return raw, commit

    def read(self) -> bytes | None:
        self._notice = None
        if is_offline():
            return self._read_cached()
        raw, commit = self._read_at(self.revision or self.branch)
        self.commit = commit
        if raw is not None:
            self._remember(raw, commit)
        return raw

    # --- writing -------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyRegistry(self.location, f"{HUB_SCHEME}://{self.repo_id}")
        if is_offline():
            raise HubUnreachable(
                f"{ENV_HF_OFFLINE} is set: cannot write to {self.location}",
                f"unset {ENV_HF_OFFLINE} to change the registry",
                repo_id=self.repo_id,
            )

    def _commit(
        self,
        message: str,
        adds: Mapping[str, bytes | Path],
        deletes: tuple[str, ...] = (),
        *,
        parent: str | None = None,
    ) -> str:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        ops: list[Any] = [CommitOperationAdd(path, data) for path, data in adds.items()]
        ops += [CommitOperationDelete(path) for path in deletes]
        api = hf_api()
        with hub_errors(self.repo_id, revision=self.branch, action="commit to"):
            info = api.create_commit(
                self.repo_id,
                ops,
                commit_message=message,
                revision=self.branch,
                parent_commit=parent,
            )
        return str(info.oid)

    def _card(self, content: bytes) -> bytes:
        """The registry card for the document ``content`` (committed beside it)."""
        doc = RegistryDocument.parse(content, self.location)
        return str(registry_card(doc, self.repo_id)).encode("utf-8")

    def create(self, content: bytes) -> bool:
        return self._create(content, private=False)

    def create_private(self, content: bytes) -> bool:
        """Create the registry in a private repo (only its owner and those they allow read it).

        Raises:
            ConflictError: the repo exists and is public (its visibility is the owner's to change).
        """
        return self._create(content, private=True)

    def _create(self, content: bytes, *, private: bool) -> bool:
        self._writable()
        api = hf_api()
        with hub_errors(self.repo_id, action="create"):
            api.create_repo(self.repo_id, private=private, exist_ok=True)
        if private:
            with hub_errors(self.repo_id):
                public = not api.model_info(self.repo_id).private
            if public:
                raise ConflictError(
                    f"Hub repo {self.repo_id} exists and is public",
                    "make it private on the Hub (HfApi().update_repo_settings(repo_id, "
                    "private=True)), or init --private a new repo",
                )
        for attempt in self._tries():
            raw, head = self._read_at(self.branch)
            if raw is not None:
                self.commit = head
                return False
            try:
                self.commit = self._commit(
                    "embedreg: create the registry",
                    {REGISTRY_FILENAME: content, CARD_FILENAME: self._card(content)},
                    parent=head,
                )
            except HubConflict:
                attempt.failed()
                continue
            self._remember(content, self.commit)
            return True
        raise AssertionError("unreachable")  # pragma: no cover - _tries raises first

    def update(self, fn: Callable[[bytes], bytes | None]) -> None:
        self._writable()
        for attempt in self._tries():
            current, head = self._read_at(self.branch)
            if current is None:
                raise RegistryNotFound(self.location)
            self.commit = head
            new = fn(current)
            if new is None or new == current:
                return
            try:
                self.commit = self._commit(
                    "embedreg: update the registry",
                    {REGISTRY_FILENAME: new, CARD_FILENAME: self._card(new)},
                    parent=head,
                )
            except HubConflict:
                attempt.failed()
                continue
            self._remember(new, self.commit)
            return

    def _tries(self) -> _Tries:
        return _Tries(self, self.attempts, self.pause)

    # --- artifacts -------------------------------------------------------------------------------

    def _files_under(self, revision: str, key: str) -> set[str]:
        prefix = artifact_path(key) + "/"
        _, files = self._head(revision)
        return {f for f in files if f.startswith(prefix) and ".." not in f.split("/")}

    def put_artifact(self, key: str, files: Mapping[str, Path]) -> str:
        self._writable()
        adds = {artifact_path(key, name): Path(path) for name, path in files.items()}
        stale = tuple(sorted(self._files_under(self.branch, key) - set(adds)))
        self._commit(f"embedreg: store {key}", adds, stale)
        return key

    def fetch_artifact(self, key: str) -> Path:
        from huggingface_hub import snapshot_download

        if self.commit is None:
            self.read()
        commit = self.commit or self.revision or self.branch
        prefix = artifact_path(key)
        with hub_errors(self.repo_id, revision=commit, path=prefix):
            folder = Path(
                snapshot_download(
                    self.repo_id,
                    revision=commit,
                    allow_patterns=[f"{prefix}/*"],
                    ignore_patterns=list(_LEAVING),  # no store writes such a path; never read
                )
            )
        found = folder / prefix
        if (not found.is_dir() or not any(found.iterdir())) and is_offline():
            # the commit's folder is cached (its registry.json was read), not this artifact
            raise HubUnreachable(
                f"{ENV_HF_OFFLINE} is set and artifact {key!r} of {self.location} at commit "
                f"{commit[:12]} is not in the local cache",
                f"unset {ENV_HF_OFFLINE} to download it once (it is cached afterwards)",
                repo_id=self.repo_id,
            )
        if not found.is_dir() or not any(found.iterdir()):
            raise NotFound(
                f"artifact {key!r} is missing from {self.location} at commit {commit[:12]}",
                "the registry lists it but its files are gone; re-create it",
            )
        return found

    def delete_artifact(self, key: str) -> None:
        self._writable()
        stale = tuple(sorted(self._files_under(self.branch, key)))
        if stale:
            self._commit(f"embedreg: remove {key}", {}, stale)


class _Tries:
    """Bounded retries with doubling, jittered pauses; the last failure raises HubConflict."""

    def __init__(self, store: HubStore, attempts: int, pause: float) -> None:
        self.store = store
        self.left = attempts
        self.attempts = attempts
        self.pause = pause
        self._random = random.Random()

    def __iter__(self) -> _Tries:
        return self

    def __next__(self) -> _Tries:
        if self.left <= 0:
            raise HubConflict(
                f"{self.store.location} kept changing under this write: "
                f"{self.attempts} commits in a row were refused",
                "other writers are busy; retry the command",
                repo_id=self.store.repo_id,
            )
        self.left -= 1
        return self

    def failed(self) -> None:
        """The commit was refused: pause before the next try (if there is one)."""
        if self.left > 0:
            time.sleep(self.pause * self._random.uniform(0.5, 1.5))
            self.pause = min(self.pause * 2, HUB_RETRY_PAUSE_MAX)
