"""HubAdapter: an adapter with huggingface_hub's ``from_pretrained`` / ``push_to_hub``.

:class:`HubAdapter` wraps a verified adapter (its exact ``config.json`` and
``model.safetensors`` bytes, and what its card records) and gets its Hub
methods from :class:`huggingface_hub.ModelHubMixin`:

* :meth:`HubAdapter.push_to_hub` writes ``config.json``, ``model.safetensors``
  and the ``README.md`` card (see :mod:`.adapter_card`) and uploads them in one
  commit;
* :meth:`HubAdapter.from_pretrained` resolves the revision (default ``main``)
  to its commit, downloads the three files at that commit, and refuses files
  whose sha256 differs from the one the card records
  (:class:`~embedreg.errors.AdapterIntegrityError`), before
  :func:`~embedreg.adapters.load_adapter` checks the files against each other.

It lives in the Hub subpackage (above :mod:`embedreg.adapters`), so the adapter
families never depend on the Hub.

Example:
    >>> from embedreg.hub import HubAdapter
    >>> adapter = HubAdapter.from_pretrained("alice/v2-short-to-v2", revision="v1")  # doctest: +SKIP
    >>> adapter.commit, adapter.transform(queries).shape  # doctest: +SKIP
    ('3f1c…', (2, 384))
    >>> HubAdapter.from_registry(reg, "v2-short-to-v2.lambda-orth").push_to_hub("alice/v2-short-to-v2")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import ModelCard, ModelHubMixin, snapshot_download

from ..adapters import LoadedAdapter, load_adapter, load_registered_adapter
from ..constants import (
    ADAPTER_CONFIG_FILENAME,
    ADAPTER_WEIGHTS_FILENAME,
    CARD_FILENAME,
    HUB_ADAPTER_TAGS,
    HUB_LIBRARY_NAME,
)
from ..errors import AdapterIntegrityError, HubFileNotFound
from ..registry import Registry
from ..util.atomic import atomic_write_bytes
from ..util.hubcalls import hf_api, hub_errors, is_offline
from .adapter_card import AdapterFacts, adapter_card, read_facts
from .repos import resolve_commit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..adapters import Adapter

__all__ = ["ADAPTER_FILES", "HubAdapter"]

#: The files of an adapter repo, besides its card.
ADAPTER_FILES: tuple[str, ...] = (ADAPTER_CONFIG_FILENAME, ADAPTER_WEIGHTS_FILENAME)


class _Parts:
    """What a HubAdapter holds (a plain class: the mixin keeps no config of it)."""

    def __init__(
        self,
        loaded: LoadedAdapter,
        files: Mapping[str, bytes],
        facts: AdapterFacts,
        repo_id: str | None,
        commit: str | None,
    ) -> None:
        self.loaded, self.files, self.facts = loaded, dict(files), facts
        self.repo_id, self.commit = repo_id, commit


class HubAdapter(
    ModelHubMixin,
    library_name=HUB_LIBRARY_NAME,
    tags=list(HUB_ADAPTER_TAGS),
    repo_url="https://github.com/embedreg/embedreg",
):
    """A verified adapter that can be pushed to, and pulled from, the Hub."""

    def __init__(self, parts: _Parts) -> None:
        self._parts = parts

    # --- what it is ----------------------------------------------------------------------------

    @property
    def adapter(self) -> Adapter:
        """The adapter (see :class:`embedreg.adapters.Adapter`)."""
        return self._parts.loaded.adapter

    @property
    def loaded(self) -> LoadedAdapter:
        """The adapter with its config, provenance and figures."""
        return self._parts.loaded

    @property
    def facts(self) -> AdapterFacts:
        """What its card records: both ends' pins and recipes, family, λ, file hashes."""
        return self._parts.facts

    @property
    def files(self) -> dict[str, bytes]:
        """The exact bytes of ``config.json`` and ``model.safetensors``."""
        return dict(self._parts.files)

    @property
    def sha256(self) -> str:
        """sha256 of ``model.safetensors``."""
        return self._parts.loaded.sha256

    @property
    def repo_id(self) -> str | None:
        """The Hub repo it was pulled from, if it was."""
        return self._parts.repo_id

    @property
    def commit(self) -> str | None:
        """The commit it was pulled from, if it was."""
        return self._parts.commit

    def transform(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map source-generation vectors into the target space (``adapter.transform``)."""
        return self.adapter.transform(vectors)

    def card(self, repo_id: str) -> ModelCard:
        """The model card for publishing as ``repo_id``."""
        weights = self._parts.files[ADAPTER_WEIGHTS_FILENAME]
        return adapter_card(self.facts, self.loaded, weights, repo_id)

    def __repr__(self) -> str:
        where = f" from {self.repo_id}@{self.commit[:12]}" if self.repo_id and self.commit else ""
        return f"HubAdapter({self.facts.adapter_id!r}{where})"

    # --- building one ----------------------------------------------------------------------------

    @classmethod
    def from_registry(cls, registry: Registry, adapter_id: str) -> HubAdapter:
        """A registered adapter (its files verified against the registry's sha256)."""
        record = registry.adapter(adapter_id)
        doc = registry.document()
        loaded = load_registered_adapter(registry, adapter_id)
        folder = registry.store.fetch_artifact(record.location)
        files = {name: (folder / name).read_bytes() for name in ADAPTER_FILES}
        if hashlib.sha256(files[ADAPTER_WEIGHTS_FILENAME]).hexdigest() != record.sha256:
            raise AdapterIntegrityError(record.location, "its files changed while being read")
        facts = AdapterFacts.build(
            record.id,
            loaded,
            doc.generations[record.source],
            doc.generations[record.target],
            record.direction,
            {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        )
        return cls(_Parts(loaded, files, facts, None, None))

    @classmethod
    def from_folder(
        cls,
        folder: str | os.PathLike[str],
        *,
        repo_id: str | None = None,
        commit: str | None = None,
    ) -> HubAdapter:
        """An adapter folder with its card (as published), each file checked against the card."""
        root = Path(folder)
        where = f"{repo_id}@{commit}" if repo_id and commit else str(root)
        hint = (
            f"nothing was loaded: {repo_id}'s files are not the ones its card describes; "
            "use an earlier revision, or ask its owner to publish it again"
            if repo_id
            else None
        )
        card_path = root / CARD_FILENAME
        if not card_path.is_file():
            raise AdapterIntegrityError(where, f"it has no {CARD_FILENAME} card", hint)
        facts = read_facts(ModelCard.load(card_path), where)
        files: dict[str, bytes] = {}
        for name in ADAPTER_FILES:
            try:
                data = (root / name).read_bytes()
            except FileNotFoundError:
                raise AdapterIntegrityError(where, f"{name} is missing", hint) from None
            digest = hashlib.sha256(data).hexdigest()
            recorded = facts.files.get(name)
            if digest != recorded:
                raise AdapterIntegrityError(
                    where,
                    f"sha256 of {name} is {digest[:12]}…, the card records "
                    f"{(recorded or 'none')[:12]}…",
                    hint,
                )
            files[name] = data
        loaded = load_adapter(root, sha256=facts.files[ADAPTER_WEIGHTS_FILENAME])
        _check_against_provenance(facts, loaded, where)
        return cls(_Parts(loaded, files, facts, repo_id, commit))

    # --- the ModelHubMixin protocol ----------------------------------------------------------------

    def _save_pretrained(self, save_directory: Path) -> None:
        for name, data in self._parts.files.items():
            atomic_write_bytes(Path(save_directory) / name, data)

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        repo_id = kwargs.get("repo_id") or self.repo_id or self.facts.adapter_id
        return self.card(str(repo_id))

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        force_download: bool = False,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> HubAdapter:
        """Load an adapter from a Hub repo (pinned to the commit ``revision`` is now) or a folder.

        Raises:
            AdapterIntegrityError: a file's sha256 differs from the card's, or
                the files contradict each other.
            HubError: the repo, revision or a file is missing; 401/403; no network.
        """
        name = str(pretrained_model_name_or_path)
        if os.path.isdir(name):
            return cls.from_folder(name)
        commit = resolve_commit(name, revision)
        with hub_errors(name, revision=commit):
            adapter = super().from_pretrained(
                name,
                force_download=force_download,
                token=token,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                revision=commit,
                **model_kwargs,
            )
        return adapter

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        **model_kwargs: Any,
    ) -> HubAdapter:
        commit = resolve_commit(model_id, revision)
        _require_files(model_id, commit)
        folder = snapshot_download(
            model_id,
            revision=commit,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            allow_patterns=[*ADAPTER_FILES, CARD_FILENAME],
        )
        return cls.from_folder(folder, repo_id=model_id, commit=commit)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        commit_message: str | None = None,
        token: str | None = None,
        branch: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Upload ``config.json``, ``model.safetensors`` and the card in one commit; returns its oid."""
        with hub_errors(repo_id, action="publish to"):
            info = super().push_to_hub(
                repo_id,
                private=private,
                commit_message=commit_message or f"embedreg: publish {self.facts.adapter_id}",
                token=token,
                branch=branch,
                model_card_kwargs={"repo_id": repo_id},
                **kwargs,
            )
        oid = getattr(info, "oid", None)
        if isinstance(oid, str) and oid:
            return oid
        return resolve_commit(repo_id, branch)  # pragma: no cover - older clients return a URL

    def save_to(self, folder: str | os.PathLike[str], repo_id: str) -> Path:
        """Write the three files (as :meth:`push_to_hub` uploads them) into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self._save_pretrained(out)
        self.card(repo_id).save(str(out / CARD_FILENAME))
        return out


def _check_against_provenance(facts: AdapterFacts, loaded: LoadedAdapter, where: str) -> None:
    """The card's pins must be those the weights file itself records (its sha256 covers them)."""
    prov = loaded.provenance
    for role, end, recorded in (
        ("source", facts.source, prov.source),
        ("target", facts.target, prov.target),
    ):
        if recorded.is_empty() and not isinstance(prov.extra.get(role), dict):
            raise AdapterIntegrityError(
                where, f"the weights file records no {role} generation to check the card against"
            )
        if recorded.pin != end.pin or recorded.recipe_hash != end.recipe_hash:
            raise AdapterIntegrityError(
                where,
                f"the card's {role} generation ({end.pin}) is not the one the weights file records "
                f"({recorded.pin})",
            )
        # as stored: a dimension of the wrong type (kept in extra) or null is refused too
        dimension = recorded.extra.get("dimension", recorded.dimension)
        stated = dimension is not None or "dimension" in recorded.nulls
        if stated and dimension != end.dimension:
            raise AdapterIntegrityError(
                where,
                f"the card's {role} generation is {end.dimension}-d, the weights file records "
                f"{dimension!r}",
            )
    dims = (loaded.adapter.input_dim, loaded.adapter.output_dim)
    if dims != (facts.source.dimension, facts.target.dimension):
        raise AdapterIntegrityError(
            where,
            f"the adapter maps {dims[0]} → {dims[1]} dimensions, the card says "
            f"{facts.source.dimension} → {facts.target.dimension}",
        )
    if loaded.adapter.family != facts.family:
        raise AdapterIntegrityError(
            where, f"the card says family {facts.family!r}, the files {loaded.adapter.family!r}"
        )


def _require_files(repo_id: str, commit: str) -> None:
    """Refuse, naming the file, a repo that lacks a card or an adapter file at ``commit``."""
    if is_offline():
        return  # the snapshot comes from the cache; from_folder names what is missing
    with hub_errors(repo_id, revision=commit):
        info = hf_api().model_info(repo_id, revision=commit)
    present = {s.rfilename for s in info.siblings or []}
    for name in (CARD_FILENAME, *ADAPTER_FILES):
        if name not in present:
            raise HubFileNotFound(
                f"Hub repo {repo_id} has no file {name!r} at commit {commit[:12]}",
                "check the repo id and revision: an embedreg adapter repo holds README.md, "
                "config.json and model.safetensors ('embedreg adapter publish' writes them)",
                repo_id=repo_id,
            )
