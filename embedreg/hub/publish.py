"""Publishing a registered adapter to a Hub repo, and pulling one into a registry.

:func:`publish_adapter` is ``embedreg adapter publish``: the adapter's
verified ``config.json`` and ``model.safetensors`` and its card go up in one
commit (through :meth:`HubAdapter.push_to_hub`), optionally tagged, and the
registry records the repo and commit.

:func:`pull_adapter` is ``embedreg adapter pull``: the repo is resolved to a
commit and downloaded at it; every file must have the sha256 its card
records; both generations must be in the local registry with the same pins
and recipes (otherwise the refusal names what differs and how to register
the missing one); then the exact files are stored and the adapter
registered, remembering where it came from.

Example:
    >>> pub = publish_adapter(reg, "v2-short-to-v2.lambda-orth", "alice/v2-short-to-v2", tag="v1")  # doctest: +SKIP
    >>> pull_adapter(other_reg, "alice/v2-short-to-v2@v1").record.sha256 == reg.adapter(  # doctest: +SKIP
    ...     "v2-short-to-v2.lambda-orth").sha256
    True
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..adapters import artifact_key, register_files
from ..constants import CARD_FILENAME
from ..errors import AdapterIntegrityError, DuplicateName, GenerationNotMatched, HubConflict
from ..registry import (
    DIRECTIONS,
    AdapterRecord,
    Generation,
    Publication,
    Recipe,
    Registry,
    RegistryDocument,
)
from ..registry.names import validate_name
from ..util.hubcalls import hf_api, hub_errors
from .adapter_card import EndFacts
from .mixin import ADAPTER_FILES, HubAdapter
from .repos import parse_repo_ref, refuse_taken_tag

__all__ = ["PullResult", "match_generation", "publish_adapter", "pull_adapter"]


def publish_adapter(
    registry: Registry,
    adapter_id: str,
    repo_id: str,
    *,
    private: bool = False,
    tag: str | None = None,
    replace: bool = False,
) -> Publication:
    """Publish registered adapter ``adapter_id`` as Hub repo ``repo_id``; returns where it went.

    The repo is created when missing (``private`` then applies).  A repo
    that holds other files of the same names (a card of another adapter, or
    files that are no embedreg adapter's) is refused unless ``replace``;
    publishing the same adapter id again makes a new commit.  With ``tag``,
    the commit is tagged; an existing tag of that name is refused before
    anything is uploaded.

    Raises:
        UnknownAdapter, AdapterIntegrityError: the adapter or its files.
        HubConflict: the tag exists, or the repo holds something else.
        HubError: 401/403, no network, …
    """
    hub = HubAdapter.from_registry(registry, adapter_id)
    repo_id, _ = parse_repo_ref(repo_id)
    api = hf_api()
    with hub_errors(repo_id):
        exists = api.repo_exists(repo_id)
    if exists and not replace:
        _check_ours(repo_id, adapter_id)
    if exists:
        refuse_taken_tag(repo_id, tag)
    commit = hub.push_to_hub(repo_id, private=private)
    record = registry.record_publication(adapter_id, Publication(repo_id, commit))
    if tag is not None:
        with hub_errors(repo_id, revision=commit, action="tag"):
            api.create_tag(repo_id, tag=tag, revision=commit)
        record = registry.record_publication(adapter_id, Publication(repo_id, commit, tag))
    assert record.published is not None
    return record.published


def _check_ours(repo_id: str, adapter_id: str) -> None:
    """Refuse to overwrite files of the adapter repo's names that another adapter (or tool) wrote."""
    from huggingface_hub import ModelCard, hf_hub_download

    api = hf_api()
    with hub_errors(repo_id):
        present = {s.rfilename for s in api.model_info(repo_id).siblings or []}
    ours = {CARD_FILENAME, *ADAPTER_FILES}
    if not present & ours:
        return
    owner = None
    if CARD_FILENAME in present:
        with hub_errors(repo_id, path=CARD_FILENAME):
            card = ModelCard.load(
                hf_hub_download(repo_id, CARD_FILENAME), ignore_metadata_errors=True
            )
        section = getattr(card.data, "embedreg", None)
        owner = section.get("adapter") if isinstance(section, dict) else None
    if owner == adapter_id:
        return
    what = f"adapter {owner!r}" if owner else "files embedreg did not write"
    raise HubConflict(
        f"Hub repo {repo_id} holds {what} ({', '.join(sorted(present & ours))})",
        "publish to another repo, or pass --replace to overwrite them",
        repo_id=repo_id,
    )


@dataclass(frozen=True)
class PullResult:
    """What :func:`pull_adapter` registered (``already`` when it was registered before)."""

    record: AdapterRecord
    repo_id: str
    commit: str
    already: bool = False


def pull_adapter(registry: Registry, ref: str, *, name: str | None = None) -> PullResult:
    """Download the adapter at ``ref`` (``OWNER/NAME[@REVISION]``), verify it and register it.

    ``name`` gives it another id than the one its card records.  Pulling an
    adapter that is registered already, with the same bytes, changes nothing.

    Raises:
        AdapterIntegrityError: a file's sha256 differs from the card's (nothing
            is registered).
        GenerationNotMatched: a generation is missing locally or pinned
            differently (the message names what differs).
        DuplicateName: another adapter has that id.
    """
    repo_id, revision = parse_repo_ref(ref)
    doc = registry.document()  # a missing registry is reported before any download
    hub = HubAdapter.from_pretrained(repo_id, revision=revision)
    assert hub.commit is not None
    facts = hub.facts
    source = match_generation(doc, facts.source, "source")
    target = match_generation(doc, facts.target, "target")
    ident = validate_name(name or facts.adapter_id, "adapter")
    existing = doc.adapters.get(ident)
    if existing is not None:
        if existing.sha256 == hub.sha256:
            return PullResult(existing, repo_id, hub.commit, already=True)
        raise DuplicateName("adapter", ident, "another adapter (with other weights)")
    loaded = hub.loaded
    dims = (hub.adapter.input_dim, hub.adapter.output_dim)
    if dims != (source.dimension, target.dimension):
        raise GenerationNotMatched(
            f"the adapter maps {dims[0]} → {dims[1]} dimensions, but generations "
            f"{source.name!r} and {target.name!r} are {source.dimension}- and "
            f"{target.dimension}-d",
            "pull an adapter made for these generations",
        )
    direction = loaded.provenance.direction or facts.direction
    if direction not in DIRECTIONS:
        raise AdapterIntegrityError(
            f"{repo_id}@{hub.commit}", f"direction {direction!r} is not one of {DIRECTIONS}"
        )
    record = AdapterRecord(
        id=ident,
        source=source.name,
        target=target.name,
        direction=direction,
        family=hub.adapter.family,
        location=artifact_key(ident, hub.sha256),
        sha256=hub.sha256,
        figures=loaded.figures,
        provenance=loaded.provenance,
        published=Publication(repo_id, hub.commit, revision if revision != hub.commit else None),
    )
    with tempfile.TemporaryDirectory(prefix="embedreg-pull-") as tmp:
        paths = {}
        for file_name, data in hub.files.items():
            (Path(tmp) / file_name).write_bytes(data)
            paths[file_name] = Path(tmp) / file_name
        spaces = {g.name: (g.pin, g.recipe.hash) for g in (source, target)}
        added = register_files(registry, record, paths, expect=spaces)
    return PullResult(added, repo_id, hub.commit)


def match_generation(doc: RegistryDocument, end: EndFacts, role: str) -> Generation:
    """The local generation with ``end``'s pin and recipe (by preference the same name).

    Raises:
        GenerationNotMatched: none; the message names what differs from a
            generation of the same name, or how to register the missing one.
    """
    same = sorted(
        (
            g
            for g in doc.generations.values()
            if g.pin == end.pin and g.recipe.hash == end.recipe_hash
        ),
        key=lambda g: (g.name != end.generation, g.name),
    )
    if same:
        return same[0]
    named = doc.generations.get(end.generation)
    if named is not None:
        diffs = _differences(named, end)
        raise GenerationNotMatched(
            f"the adapter's {role} generation {end.generation!r} differs from the local one: "
            + "; ".join(diffs),
            f"register a generation with the adapter's pin and recipe under another name "
            f"({_add_command('NAME', end)}) and pull again",
        )
    raise GenerationNotMatched(
        f"the adapter's {role} generation {end.generation!r} ({end.pin}) is not in the local registry",
        f"register it first: {_add_command(end.generation, end)}",
    )


def _differences(local: Generation, end: EndFacts) -> list[str]:
    out = []
    if local.pin != end.pin:
        out.append(f"pin {local.pin} here, {end.pin} in the adapter")
    mine, theirs = local.recipe.to_dict(), end.recipe.to_dict()
    for key in mine:
        if mine[key] != theirs.get(key):
            out.append(f"{key} {mine[key]!r} here, {theirs.get(key)!r} in the adapter")
    if local.dimension != end.dimension:
        out.append(f"dimension {local.dimension} here, {end.dimension} in the adapter")
    return out or ["the recipe hashes differ"]


def _add_command(name: str, end: EndFacts) -> str:
    repo = end.hub_repo
    if repo is not None:
        model = f"{repo} --revision {end.pin.rsplit('@', 1)[1]}"
    else:
        model = f"<folder whose weights hash to {end.pin}>"
    return f"embedreg gen add {name} {model}{_recipe_flags(end.recipe)}"


def _recipe_flags(recipe: Recipe) -> str:
    flags = [f"--pooling {recipe.pooling}", "--normalize" if recipe.normalize else "--no-normalize"]
    flags.append(f"--max-tokens {recipe.max_tokens}")
    if recipe.query_prefix:
        flags.append(f"--query-prefix {shlex.quote(recipe.query_prefix)}")
    if recipe.document_prefix:
        flags.append(f"--doc-prefix {shlex.quote(recipe.document_prefix)}")
    return " " + " ".join(flags)
