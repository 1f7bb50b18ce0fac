"""A query path as a sentence-transformers model, built from the library's own modules.

:func:`build_model` assembles, with sentence-transformers' own module types,
the pipeline that embedreg's :class:`~embedreg.models.Encoder` and
:class:`~embedreg.routing.QueryPath` compute together:

1. ``Transformer``: the source generation's pinned model folder, reading at
   most ``max_tokens`` tokens;
2. ``Pooling``: the recipe's ``mean``, ``cls`` or ``lasttoken`` pooling;
3. ``Normalize``, when the source recipe normalises;
4. ``Dense`` (identity activation, bias): the compiled path, one affine map
   ``y = x Wᵀ + b`` (a chain of affine adapters merged into one);
5. ``Normalize``, when the target recipe normalises (as ``QueryPath.apply`` does).

The recipe's prefixes become the model's ``prompts`` (``query``, ``document``),
with the exported role's as ``default_prompt_name``; :meth:`save` is
sentence-transformers' own (``modules.json``,
``config_sentence_transformers.json``, each module's config, the Dense
weights in safetensors).  sentence-transformers is the optional extra
``embedreg[st]``, imported only here, when a model is built or loaded.

Example:
    >>> POOLING_MODES["last-token"]
    'lasttoken'
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..constants import ST_EXTRA
from ..errors import DimensionMismatch, ExtraUnavailable, ModelLoadError
from ..models import model_folder
from .target import ExportPlan

__all__ = ["POOLING_MODES", "build_model", "load_model", "quiet", "save_model", "st_version"]

#: embedreg's pooling names → sentence-transformers' ``pooling_mode``.
POOLING_MODES: dict[str, str] = {"mean": "mean", "cls": "cls", "last-token": "lasttoken"}

#: Loggers whose INFO/WARNING chatter (prompt notes, load reports) stays out of the output.
_LOGGERS = ("sentence_transformers", "transformers")


def st_version() -> str:
    """The installed sentence-transformers version.

    Raises:
        ExtraUnavailable: it is not installed (``pip install 'embedreg[st]'``).
    """
    try:
        import sentence_transformers
    except ImportError:
        raise ExtraUnavailable(
            "exporting a sentence-transformers model", "sentence-transformers", ST_EXTRA
        ) from None
    return str(sentence_transformers.__version__)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress bars (transformers', huggingface_hub's) and no load chatter while inside."""
    from huggingface_hub.utils.tqdm import are_progress_bars_disabled, disable_progress_bars
    from huggingface_hub.utils.tqdm import enable_progress_bars as hub_bars_on
    from transformers.utils import logging as hf_logging

    levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    bars = hf_logging.is_progress_bar_enabled()
    hub_was_off = are_progress_bars_disabled()
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if not hub_was_off:
        disable_progress_bars()
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        if not hub_was_off and are_progress_bars_disabled():
            hub_bars_on()


def build_model(plan: ExportPlan) -> Any:
    """The sentence-transformers model of ``plan`` (on the CPU, float32), not yet saved.

    Raises:
        ExtraUnavailable: sentence-transformers is not installed.
        ModelChanged: a local source folder no longer matches its pin.
        ModelLoadError, DimensionMismatch: the model is not what the generation says.
    """
    st_version()
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )

    source, recipe = plan.source, plan.source.recipe
    folder = model_folder(source)  # re-hashed against the pin (a Hub snapshot at its commit)
    maps = plan.maps
    with quiet():
        try:
            transformer = Transformer(str(folder), max_seq_length=recipe.max_tokens)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(
                f"sentence-transformers cannot load generation {source.name!r} from {folder}: {first}",
                "the folder needs transformers config, weights and tokenizer files",
            ) from None
    width = int(transformer.get_embedding_dimension())
    if width != source.dimension:
        raise DimensionMismatch(source.dimension, width, f"the model of generation {source.name!r}")
    modules: list[Any] = [transformer, Pooling(width, pooling_mode=POOLING_MODES[recipe.pooling])]
    if recipe.normalize:
        modules.append(Normalize())
    for affine in maps:
        modules.append(
            Dense(
                affine.input_dim,
                affine.output_dim,
                bias=True,
                activation_function=torch.nn.Identity(),
                init_weight=torch.tensor(affine.W, dtype=torch.float32),
                init_bias=torch.tensor(affine.b, dtype=torch.float32),
            )
        )
    if maps and plan.path.renormalize:
        modules.append(Normalize())
    prompts = {"query": recipe.query_prefix, "document": recipe.document_prefix}
    with quiet():
        return SentenceTransformer(
            modules=modules,
            device="cpu",
            prompts=prompts,
            default_prompt_name=plan.role if prompts[plan.role] else None,
            similarity_fn_name="cosine" if plan.target.recipe.normalize else "dot",
        )


def save_model(model: Any, folder: Path) -> None:
    """Write ``model`` into ``folder`` with sentence-transformers' own ``save`` (no card)."""
    with quiet():
        model.save(str(folder), create_model_card=False)


def load_model(folder: Path) -> Any:
    """Load a saved model back with sentence-transformers alone (CPU, local files only)."""
    from sentence_transformers import SentenceTransformer

    with quiet():
        return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
