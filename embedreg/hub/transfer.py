"""Whole registries to and from the Hub: ``embedreg push`` and ``embedreg pull``.

:func:`push_registry` copies a registry (its ``registry.json``, every
adapter's verified files, and a card listing the lineage of generations and
the adapters with their figures) into a Hub repo in **one** commit, in the
layout of :class:`~embedreg.registry.stores.HubStore`, so that the repo then
works as ``--registry hf://OWNER/NAME``.  A repo that holds a registry
already is refused unless ``replace`` (the commit's parent is checked, so a
concurrent writer is never overwritten unseen).

:func:`pull_registry` copies a Hub registry (at its branch head, or at
``@REVISION``) into an empty local one: every adapter is fetched at the
commit the document was read from and checked against its recorded sha256
before anything is written; the document goes last.

Example:
    >>> push_registry(Registry.open(".embedreg"), "hf://alice/registry").commit  # doctest: +SKIP
    '5b0c…'
    >>> pull_registry(Registry.open("copy"), "hf://alice/registry").adapters  # doctest: +SKIP
    ['v2-short-to-v2.lambda-orth']
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..adapters import load_adapter
from ..adapters.registered import check_dimensions
from ..constants import (
    ADAPTER_CONFIG_FILENAME,
    ADAPTER_WEIGHTS_FILENAME,
    CARD_FILENAME,
    HUB_DEFAULT_BRANCH,
    HUB_SCHEME,
    REGISTRY_FILENAME,
)
from ..errors import ConflictError, CorruptedRegistry, HubConflict, ReadOnlyRegistry
from ..registry import Registry, RegistryDocument
from ..registry.card import registry_card
from ..registry.records import adapter_artifact_key
from ..registry.stores.hub import HubStore, artifact_path
from ..util.hubcalls import hf_api, hub_errors

__all__ = ["Transfer", "pull_registry", "push_registry", "registry_card"]


@dataclass(frozen=True)
class Transfer:
    """What a push or pull copied, and the Hub commit involved."""

    url: str
    commit: str
    generations: list[str] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "url": self.url,
            "commit": self.commit,
            "generations": list(self.generations),
            "adapters": list(self.adapters),
        }


def push_registry(
    registry: Registry, url: str, *, private: bool = False, replace: bool = False
) -> Transfer:
    """Copy ``registry`` with its adapters into the Hub repo of ``url`` (``hf://OWNER/NAME``).

    Raises:
        ConflictError: the repo holds a registry already (and not ``replace``).
        AdapterIntegrityError: an adapter's local files fail their sha256.
        HubError: 401/403, no network, the repo changed during the push, …
    """
    target = HubStore.from_url(url)
    if target.read_only:
        raise ReadOnlyRegistry(target.location, f"{HUB_SCHEME}://{target.repo_id}")
    doc = registry.document()
    adds: dict[str, bytes] = {REGISTRY_FILENAME: doc.serialize()}
    for rec in doc.adapters.values():
        folder = registry.store.fetch_artifact(rec.location)
        load_adapter(folder, sha256=rec.sha256)  # never push files that fail their hash
        for name in (ADAPTER_CONFIG_FILENAME, ADAPTER_WEIGHTS_FILENAME):
            adds[artifact_path(rec.location, name)] = (folder / name).read_bytes()
    adds[CARD_FILENAME] = str(registry_card(doc, target.repo_id)).encode("utf-8")
    api = hf_api()
    repo_id = target.repo_id
    with hub_errors(repo_id, action="create"):
        api.create_repo(repo_id, private=private, exist_ok=True)
    with hub_errors(repo_id, revision=HUB_DEFAULT_BRANCH):
        info = api.model_info(repo_id, revision=HUB_DEFAULT_BRANCH)
    present = {s.rfilename for s in info.siblings or []}
    if REGISTRY_FILENAME in present and not replace:
        raise ConflictError(
            f"{target.location} holds a registry already",
            "pull it with 'embedreg pull', push to another repo, or pass --replace to overwrite it",
        )
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    stale = sorted(p for p in present if p.startswith("artifacts/") and p not in adds)
    ops: list[Any] = [CommitOperationAdd(p, data) for p, data in adds.items()]
    ops += [CommitOperationDelete(p) for p in stale]
    try:
        with hub_errors(repo_id, revision=HUB_DEFAULT_BRANCH, action="push to"):
            commit = api.create_commit(
                repo_id,
                ops,
                commit_message=f"embedreg: push {len(doc.generations)} generation(s), "
                f"{len(doc.adapters)} adapter(s)",
                revision=HUB_DEFAULT_BRANCH,
                parent_commit=info.sha,
            )
    except HubConflict:
        raise HubConflict(
            f"{target.location} changed while pushing",
            "check what changed, then push again",
            repo_id=repo_id,
        ) from None
    return Transfer(target.location, str(commit.oid), sorted(doc.generations), sorted(doc.adapters))


def _is_empty(doc: RegistryDocument) -> bool:
    return not (doc.generations or doc.adapters or doc.galleries or doc.aliases)


def pull_registry(registry: Registry, url: str) -> Transfer:
    """Copy the Hub registry at ``url`` (``hf://OWNER/NAME[@REVISION]``) into empty ``registry``.

    ``registry`` is created when it does not exist.

    Raises:
        ConflictError: ``registry`` is not empty.
        RegistryNotFound: the repo holds no registry.
        AdapterIntegrityError: an adapter's files on the Hub fail their sha256
            (nothing is registered).
    """
    source = HubStore.from_url(url)
    local = registry.store
    before = local.read()
    if before is not None and not _is_empty(RegistryDocument.parse(before, local.location)):
        raise ConflictError(
            f"the registry at {local.registry_root} is not empty",
            "pull into a new, empty registry (--registry DIR)",
        )
    remote = Registry(source).document()
    commit = source.commit or ""
    seen: set[str] = set()
    for rec in remote.adapters.values():
        if not rec.owns_location or rec.location in seen:
            raise CorruptedRegistry(
                source.location,
                f"adapter {rec.id!r} has location {rec.location!r}, which is not its own "
                f"(embedreg writes {adapter_artifact_key(rec.id, rec.sha256)!r})",
            )
        seen.add(rec.location)
    with tempfile.TemporaryDirectory(prefix="embedreg-pull-") as tmp:
        for rec in remote.adapters.values():
            folder = source.fetch_artifact(rec.location)
            loaded = load_adapter(folder, sha256=rec.sha256)  # refused before anything is written
            check_dimensions(
                loaded.adapter,
                remote.generations[rec.source].dimension,
                remote.generations[rec.target].dimension,
                f"{source.location} {rec.location}",
            )
            dest = Path(tmp) / rec.id
            dest.mkdir()
            for name in (ADAPTER_CONFIG_FILENAME, ADAPTER_WEIGHTS_FILENAME):
                (dest / name).write_bytes((folder / name).read_bytes())
        if before is None:
            registry.init()
        for rec in remote.adapters.values():
            dest = Path(tmp) / rec.id
            local.put_artifact(
                rec.location,
                {n: dest / n for n in (ADAPTER_CONFIG_FILENAME, ADAPTER_WEIGHTS_FILENAME)},
            )

    def replace_empty(raw: bytes) -> bytes:
        if not _is_empty(RegistryDocument.parse(raw, local.location)):
            raise ConflictError(
                f"the registry at {local.registry_root} was changed during the pull",
                "pull into a new, empty registry (--registry DIR)",
            )
        return remote.serialize()

    local.update(replace_empty)
    return Transfer(source.location, commit, sorted(remote.generations), sorted(remote.adapters))
