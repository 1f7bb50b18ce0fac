"""Model folders: where a generation's files are, and what they say about themselves.

:func:`model_folder` finds a generation's pinned files: a local folder,
re-hashed against its sha256 pin, or a Hub repo downloaded (once, then from
the Hugging Face cache) at its pinned commit by :func:`hub_snapshot`.

A transformers folder has ``config.json``; a sentence-transformers folder adds
``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json`` and
``config_sentence_transformers.json``.  :func:`inspect_model_dir` reads them
into a :class:`ModelDirInfo`, whose ``None`` fields mean "the folder does not
say".  Modules that embedreg's encoder would not apply (a ``Dense``
projection, for instance) are refused, since the vectors would differ from
what sentence-transformers produces.

Example:
    >>> info = inspect_model_dir("/path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> info.dimension, info.pooling, info.normalize, info.max_tokens  # doctest: +SKIP
    (384, 'mean', True, 256)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import ENV_HF_OFFLINE, HUB_DEFAULT_BRANCH
from ..errors import HubUnreachable, ModelChanged, ModelLoadError, ModelSourceError
from ..registry import Generation, HubSource, LocalSource
from ..util.hashing import folder_weights_sha256, weight_files
from ..util.hubcalls import hf_api, hub_errors, is_offline, quiet_hub_bars

__all__ = [
    "ModelDirInfo",
    "hub_snapshot",
    "inspect_model_dir",
    "model_folder",
    "require_safetensors",
    "resolve_hub_revision",
]

#: sentence-transformers Pooling flags → embedreg pooling names.
_POOLING_FLAGS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_lasttoken": "last-token",
}
_UNSUPPORTED_POOLING = (
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
)
#: Keys of transformers configs that give the hidden size, in order of preference.
_HIDDEN_KEYS = ("hidden_size", "d_model", "dim", "n_embd", "hidden_dim", "embed_dim")
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class ModelDirInfo:
    """What a model folder's config files say; ``None`` where they are silent."""

    dimension: int | None = None
    pooling: str | None = None
    normalize: bool | None = None
    max_tokens: int | None = None
    query_prefix: str | None = None
    document_prefix: str | None = None


def read_model_json(path: Path) -> Any:
    """A JSON file of a model folder; ``None`` where it is absent, one-line error where unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelSourceError(
            f"cannot read {path}: {exc}", "repair or remove the file in the model folder"
        ) from None


def inspect_model_dir(folder: str | Path) -> ModelDirInfo:
    """Read dimension and recipe defaults from a model folder's config files."""
    root = Path(folder)
    config = read_model_json(root / "config.json")
    modules = read_model_json(root / "modules.json")
    st_config = read_model_json(root / "sentence_bert_config.json") or {}
    st_prompts = (read_model_json(root / "config_sentence_transformers.json") or {}).get(
        "prompts"
    ) or {}

    dimension: int | None = None
    pooling: str | None = None
    normalize: bool | None = None
    pooling_dir = root / "1_Pooling"

    if isinstance(modules, list):
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
        unsupported = [k for k in kinds if k not in _SUPPORTED_MODULES]
        if unsupported:
            raise ModelSourceError(
                f"model folder {root} uses sentence-transformers module(s) "
                f"{', '.join(unsupported)}, which embedreg's encoder does not apply",
                "use a folder whose modules are Transformer, Pooling and Normalize only",
            )
        normalize = "Normalize" in kinds
        for m in modules:
            if isinstance(m, dict) and str(m.get("type", "")).endswith("Pooling"):
                pooling_dir = root / str(m.get("path") or "1_Pooling")

    pooling_config = read_model_json(pooling_dir / "config.json")
    if isinstance(pooling_config, dict):
        active = [
            flag for flag, on in pooling_config.items() if flag.startswith("pooling_mode_") and on
        ]
        bad = [
            flag for flag in active if flag in _UNSUPPORTED_POOLING or flag not in _POOLING_FLAGS
        ]
        if bad:
            raise ModelSourceError(
                f"model folder {root} pools with {', '.join(bad)}, which embedreg does not support",
                "embedreg supports mean, cls and last-token pooling",
            )
        if len(active) > 1:
            raise ModelSourceError(
                f"model folder {root} combines several pooling modes ({', '.join(active)})",
                "embedreg supports a single pooling mode",
            )
        if active:
            pooling = _POOLING_FLAGS[active[0]]
        wed = pooling_config.get("word_embedding_dimension")
        if isinstance(wed, int) and wed > 0:
            dimension = wed

    if dimension is None and isinstance(config, dict):
        for key in _HIDDEN_KEYS:
            value = config.get(key)
            if isinstance(value, int) and value > 0:
                dimension = value
                break

    max_tokens = st_config.get("max_seq_length") if isinstance(st_config, dict) else None
    if not (isinstance(max_tokens, int) and max_tokens > 0):
        positions = config.get("max_position_embeddings") if isinstance(config, dict) else None
        # BERT-style configs reserve positions for special tokens; 512 is the usual ceiling.
        max_tokens = min(positions, 512) if isinstance(positions, int) and positions > 0 else None

    query_prefix = st_prompts.get("query") if isinstance(st_prompts, dict) else None
    document_prefix = None
    if isinstance(st_prompts, dict):
        document_prefix = st_prompts.get("document", st_prompts.get("passage"))

    return ModelDirInfo(
        dimension=dimension,
        pooling=pooling,
        normalize=normalize,
        max_tokens=max_tokens,
        query_prefix=query_prefix if isinstance(query_prefix, str) else None,
        document_prefix=document_prefix if isinstance(document_prefix, str) else None,
    )


def require_safetensors(folder: Path, what: str) -> None:
    """Refuse a model folder whose weights are not safetensors (pickle can run code when loaded).

    Raises:
        ModelSourceError: the folder holds only ``.bin`` / ``.pt`` / ``.ckpt`` … weights.
    """
    files = weight_files(folder)
    if not any(f.name.endswith(".safetensors") for f in files):
        found = ", ".join(sorted({f.name for f in files})[:3]) or "no weight file"
        raise ModelSourceError(
            f"{what} has no safetensors weights ({found}); embedreg loads safetensors only, "
            "since pickle-based checkpoints can run code when loaded",
            "convert it on a machine you trust: load it with transformers and save_pretrained() "
            "it again (safetensors is the default), then register that folder",
        )


def model_folder(generation: Generation, *, verify_pin: bool = True) -> Path:
    """The local folder holding ``generation``'s pinned model files.

    A local source is checked against its sha256 pin (unless ``verify_pin``
    is false); a Hub source is downloaded (or found in the Hugging Face cache)
    at its pinned commit.

    Raises:
        ModelLoadError: the folder is gone, or the Hub cannot serve the commit.
        ModelChanged: the local folder's weights differ from the pin.

    Example:
        >>> model_folder(registry.generation("v2"))  # doctest: +SKIP
        PosixPath('/models/all-MiniLM-L6-v2')
    """
    source = generation.source
    if isinstance(source, LocalSource):
        folder = Path(source.path)
        if not folder.is_dir():
            raise ModelLoadError(
                f"the model folder {folder} of generation {generation.name!r} does not exist",
                "restore the folder (its weights must match the pin) or remove the generation",
            )
        if verify_pin:
            try:
                found = folder_weights_sha256(folder)
            except FileNotFoundError:
                found = "0" * 64
            if found != source.sha256:
                raise ModelChanged(generation.name, str(folder), source.pin, f"sha256:{found}")
        require_safetensors(folder, f"the model folder {folder} of generation {generation.name!r}")
        return folder
    assert isinstance(source, HubSource)
    return hub_snapshot(source, generation=generation.name)


def hub_snapshot(source: HubSource, *, generation: str) -> Path:
    """The folder of ``source`` at its pinned commit (downloaded once, then from the cache).

    Example:
        >>> hub_snapshot(HubSource("org/model", "0" * 40), generation="v2")  # doctest: +SKIP
        PosixPath('~/.cache/huggingface/hub/models--org--model/snapshots/000…')
    """
    name = generation
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        with quiet_hub_bars():  # never into logs
            return Path(snapshot_download(repo_id=source.repo_id, revision=source.revision))
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"Hub repo {source.repo_id} of generation {name!r} was not found",
            "check the repo id and your access token (HF_TOKEN)",
        ) from None
    except RevisionNotFoundError:
        raise ModelLoadError(
            f"Hub repo {source.repo_id} has no commit {source.revision} (generation {name!r})",
            "the pinned commit is gone from the Hub; restore it or register a new generation",
        ) from None
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"cannot reach the Hub for {source.pin} (generation {name!r}) and it is not cached",
            "connect once to download it (it is cached for offline use afterwards)",
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        raise ModelLoadError(
            f"cannot fetch {source.pin} (generation {name!r}): {exc}",
            "check the network and the Hub's status, then retry",
        ) from None


def resolve_hub_revision(repo_id: str, revision: str | None = None) -> str:
    """The 40-hex commit that branch, tag or commit ``revision`` of Hub repo ``repo_id`` is now.

    ``None`` means the default branch (``main``).  This asks the Hub (the
    client's ``model_info``), so it needs the network.

    Raises:
        HubRepoNotFound, HubRevisionNotFound, HubAuthError, HubUnreachable: as
            the Hub answers (one line each, naming the repo).

    Example:
        >>> resolve_hub_revision("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        'c9745ed1d9f207416be6d2e6f8de32d1f16199bf'
    """
    ref = revision or HUB_DEFAULT_BRANCH
    if is_offline():
        raise HubUnreachable(
            f"{ENV_HF_OFFLINE} is set, so revision {ref!r} of {repo_id} cannot be resolved",
            f"pass --revision <40-hex commit>, or unset {ENV_HF_OFFLINE}",
            repo_id=repo_id,
        )
    with hub_errors(repo_id, revision=ref):
        info = hf_api().model_info(repo_id, revision=ref)
    if not info.sha:
        raise HubUnreachable(
            f"the Hub did not say which commit {repo_id}@{ref} is", "check HF_ENDPOINT"
        )
    return str(info.sha)
