"""The model card of a published adapter: what it joins, how it was measured, how to apply it.

:class:`AdapterFacts` is what a card records about an adapter, in the
``embedreg`` section of its YAML front matter: both generations' pins,
recipes and dimensions, the family, λ, the training data's sha256 and the
sha256 of ``config.json`` and ``model.safetensors``.  :func:`adapter_card`
renders ``cards/adapter_card.md`` with huggingface_hub's ``ModelCard`` and
``ModelCardData`` (``library_name: embedreg``, tags, ``base_model`` = the
newer generation's Hub repo with ``base_model_relation: adapter``, the
held-out figures as ``model-index`` eval results), and a ``Use`` snippet that
applies the map with numpy alone (checked against the adapter before it is
written).  :func:`read_facts` reads the section back, for pulling.

Example:
    >>> from embedreg.registry import Recipe
    >>> end = EndFacts("v2", "org/minilm@" + "0" * 40, Recipe(), 384)
    >>> end.hub_repo, EndFacts.from_dict(end.to_dict()) == end
    ('org/minilm', True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import HUB_ADAPTER_TAGS, HUB_LIBRARY_NAME, MAX_DIMENSION
from ..errors import AdapterIntegrityError, EmbedRegError
from ..registry import Figures, Generation, Recipe, SelectionRecord
from ..training.paths import path_rows
from .cards import render_card

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from ..adapters import Adapter, LoadedAdapter

__all__ = [
    "CARD_FORMAT",
    "AdapterFacts",
    "EndFacts",
    "adapter_card",
    "card_value",
    "numpy_snippet",
    "read_facts",
]

#: ``format`` of the ``embedreg`` section of an adapter card.
CARD_FORMAT = "embedreg.adapter-card/1"

#: Figures that also go into the card's ``model-index`` (eval results), when measured.
EVAL_FIGURES: tuple[tuple[str, Callable[[Figures], float | None]], ...] = (
    ("retention", lambda f: f.retention),
    ("cmc@1", lambda f: f.cmc_at_1),
    ("cmc@5", lambda f: f.cmc_at_5),
    ("map", lambda f: f.map),
    ("recall@1", lambda f: f.recall_at_1),
    ("recall@10", lambda f: f.recall_at_10),
    ("agreement@10", lambda f: f.agreement_at_10),
    ("target.cmc@1", lambda f: f.target.cmc_at_1),
    ("flips.negative", lambda f: f.flips_negative),
)


@dataclass(frozen=True)
class EndFacts:
    """One end of an adapter: a generation's name, pin, recipe and dimension."""

    generation: str
    pin: str
    recipe: Recipe
    dimension: int

    @classmethod
    def of(cls, gen: Generation) -> EndFacts:
        """The facts of a registered generation."""
        return cls(gen.name, gen.pin, gen.recipe, gen.dimension)

    @property
    def recipe_hash(self) -> str:
        """sha256 of the recipe (as in the registry)."""
        return self.recipe.hash

    @property
    def hub_repo(self) -> str | None:
        """The Hub repo of a ``repo@commit`` pin, else ``None``."""
        if self.pin.startswith("sha256:") or "@" not in self.pin:
            return None
        return self.pin.rsplit("@", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        """The card's form."""
        return {
            "generation": self.generation,
            "pin": self.pin,
            "recipe": self.recipe.to_dict(),
            "recipe_hash": self.recipe_hash,
            "dimension": self.dimension,
        }

    @classmethod
    def from_dict(cls, data: Any) -> EndFacts:
        """Inverse of :meth:`to_dict`; a recipe that does not hash to ``recipe_hash`` is refused."""
        dimension = data["dimension"]
        if not isinstance(dimension, int) or isinstance(dimension, bool):
            raise ValueError(f"dimension {dimension!r} is not an integer")
        if not 1 <= dimension <= MAX_DIMENSION:
            raise ValueError(f"dimension {dimension:,} is not between 1 and {MAX_DIMENSION:,}")
        for key in ("generation", "pin"):
            if not isinstance(data[key], str):
                raise ValueError(f"{key} {data[key]!r} is not a string")
        end = cls(
            data["generation"],
            data["pin"],
            Recipe.from_dict(data["recipe"]),
            dimension,
        )
        if data.get("recipe_hash", end.recipe_hash) != end.recipe_hash:
            raise ValueError(f"the recipe of {end.generation} does not hash to its recipe_hash")
        return end


@dataclass(frozen=True)
class AdapterFacts:
    """What an adapter card records (its ``embedreg`` front-matter section).

    ``settings`` are the family's headline settings
    (:meth:`~embedreg.adapters.Adapter.card_facts`), whatever the family.
    """

    adapter_id: str
    family: str
    direction: str
    source: EndFacts
    target: EndFacts
    training: dict[str, Any]
    files: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def newer(self) -> EndFacts:
        """The newer generation: the source of a backward adapter, the target of a forward one."""
        return self.source if self.direction == "backward" else self.target

    def to_dict(self) -> dict[str, Any]:
        """The card's form."""
        return {
            "format": CARD_FORMAT,
            "adapter": self.adapter_id,
            "family": self.family,
            "direction": self.direction,
            "settings": dict(self.settings),
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "training_data": dict(self.training),
            "files": dict(sorted(self.files.items())),
        }

    @classmethod
    def from_dict(cls, data: Any) -> AdapterFacts:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
            raise ValueError("the card has no embedreg adapter section")
        settings = data.get("settings")
        if settings is None:  # cards written before family settings: one λ, if any
            settings = {} if data.get("lambda") is None else {"lambda": data["lambda"]}
        return cls(
            adapter_id=str(data["adapter"]),
            family=str(data["family"]),
            direction=str(data["direction"]),
            settings=dict(settings),
            source=EndFacts.from_dict(data["source"]),
            target=EndFacts.from_dict(data["target"]),
            training=dict(data.get("training_data") or {}),
            files={str(k): str(v) for k, v in dict(data["files"]).items()},
        )

    @classmethod
    def build(
        cls,
        adapter_id: str,
        loaded: LoadedAdapter,
        source: Generation,
        target: Generation,
        direction: str,
        files: dict[str, str],
    ) -> AdapterFacts:
        """The facts of a registered adapter whose ends are ``source`` and ``target``."""
        data = loaded.provenance.training_data
        return cls(
            adapter_id=adapter_id,
            family=loaded.adapter.family,
            direction=direction,
            settings=loaded.adapter.card_facts(),
            source=EndFacts.of(source),
            target=EndFacts.of(target),
            training={"sha256": data.sha256, "pairs": data.pairs, "heldout": data.heldout},
            files=files,
        )


def read_facts(card: ModelCard, where: str) -> AdapterFacts:
    """The :class:`AdapterFacts` in ``card``'s front matter.

    Raises:
        AdapterIntegrityError: the card has no (readable) embedreg section.
    """
    section = getattr(card.data, "embedreg", None)
    try:
        return AdapterFacts.from_dict(section)
    except (EmbedRegError, ValueError, TypeError, KeyError) as exc:
        detail = exc.message if isinstance(exc, EmbedRegError) else str(exc)
        raise AdapterIntegrityError(
            where, f"its README.md is not an embedreg adapter card ({detail})"
        ) from None


# --- the numpy-only snippet -------------------------------------------------------------------

_READER = '''import json, struct
import numpy as np

def read_safetensors(path):
    """The float32 tensors of a safetensors file, read with numpy alone."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name != "__metadata__":
            start, end = info["data_offsets"]
            tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
    return tensors

t = read_safetensors("model.safetensors")
x = np.asarray(new_vectors, dtype=np.float32)   # ({n}, {din}) vectors of {src}
'''


def numpy_snippet(adapter: Adapter, facts: AdapterFacts, weights: bytes) -> str | None:
    """Python that applies ``adapter`` with numpy alone, or ``None`` when there is none.

    The snippet is run on random vectors against ``weights`` (the bytes of
    ``model.safetensors``) and kept only if it reproduces
    :meth:`~embedreg.adapters.Adapter.transform` (re-normalised when the
    target generation normalises).
    """
    body = type(adapter).numpy_map
    if body is None:
        return None
    lines = _READER.replace("{n}", "N").replace("{din}", str(facts.source.dimension))
    lines = lines.replace("{src}", facts.source.generation)
    lines += body + f"   # (N, {facts.target.dimension}) in {facts.target.generation}'s space\n"
    if facts.target.recipe.normalize:
        lines += f"y /= np.linalg.norm(y, axis=1, keepdims=True)   # {facts.target.generation} normalises\n"
    code = lines.rstrip("\n")
    return code if _reproduces(code, adapter, facts, weights) else None


def _reproduces(code: str, adapter: Adapter, facts: AdapterFacts, weights: bytes) -> bool:
    import os
    import tempfile

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, facts.source.dimension)).astype(np.float32)
    want = adapter.transform(x)
    if facts.target.recipe.normalize:
        want = want / np.linalg.norm(want, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.safetensors")
        with open(path, "wb") as fh:
            fh.write(weights)
        scope: dict[str, Any] = {"new_vectors": x}
        try:
            exec(code.replace('"model.safetensors"', json.dumps(path)), scope)  # our own code
        except Exception:
            return False
    got = np.asarray(scope.get("y"))
    return got.shape == want.shape and bool(np.allclose(got, want, atol=1e-4, rtol=1e-4))


# --- the card ------------------------------------------------------------------------------


def card_value(value: Any) -> str:
    """A value as a card's table shows it: 4 decimals, ``—`` for none or NaN, JSON in code.

    Example:
        >>> card_value(0.91234), card_value(None), card_value({"b": 1})
        ('0.9123', '—', '`{"b": 1}`')
    """
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4f}"
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, sort_keys=True) + "`"
    return str(value)


def _eval_results(facts: AdapterFacts, figures: Figures) -> list[Any]:
    from huggingface_hub import EvalResult

    sha = str(facts.training.get("sha256") or "unknown")
    out = []
    for key, read in EVAL_FIGURES:
        value = read(figures)
        if value is not None and math.isfinite(value):
            out.append(
                EvalResult(
                    task_type="feature-extraction",
                    task_name=f"{facts.source.generation} queries in {facts.target.generation}'s space",
                    dataset_type="embedreg/held-out-pairs",
                    dataset_name=f"held-out pairs of training data {sha[:12]}",
                    dataset_revision=sha,
                    metric_type=key,
                    metric_name=key,
                    metric_value=float(value),
                )
            )
    return out


def selection_rows(selection: SelectionRecord | None) -> dict[str, Any] | None:
    """What the card says about a ``--family auto`` choice: the basis and one row per candidate.

    Example:
        >>> from embedreg.registry.provenance import CandidateRecord
        >>> sel = SelectionRecord(basis="cmc@1", validation_pairs=600, chosen="affine",
        ...     reason="best", candidates=(CandidateRecord(label="affine", seconds=1.0,
        ...     validation=Figures(cmc_at_1=0.5, recall_at_1=0.9)),))
        >>> selection_rows(sel)["rows"]
        [{'label': 'affine', 'figure': '0.5000', 'recall': '0.9000', 'seconds': '1.0', 'chosen': True}]
    """
    if selection is None:
        return None
    basis = selection.basis or "cmc@1"
    rows = []
    for cand in selection.candidates:
        figs = cand.validation
        figure = figs.cmc_at_1 if basis == "cmc@1" else figs.recall_at_1
        rows.append(
            {
                "label": str(cand.label),
                "figure": "not fit"
                if cand.error
                else card_value(figure)
                + (f" ({cand.folds} folds, stopped)" if cand.stopped else ""),
                "recall": card_value(figs.recall_at_1),
                "seconds": f"{float(cand.seconds or 0):.1f}",
                "chosen": cand.label == selection.chosen,
            }
        )
    return {
        "basis": basis,
        "pairs": selection.validation_pairs,
        "fit_pairs": selection.fit_pairs,
        "folds": int(selection.folds or 1),
        "reason": selection.reason or "",
        "rows": rows,
    }


def adapter_card(
    facts: AdapterFacts, loaded: LoadedAdapter, weights: bytes, repo_id: str
) -> ModelCard:
    """The card of an adapter to be published as ``repo_id`` (``weights``: its safetensors bytes)."""
    from huggingface_hub import ModelCardData

    figures = loaded.figures
    base = facts.newer.hub_repo
    extra: dict[str, Any] = {"embedreg": facts.to_dict()}
    if base:
        extra["base_model_relation"] = "adapter"
    data = ModelCardData(
        library_name=HUB_LIBRARY_NAME,
        tags=[*HUB_ADAPTER_TAGS, facts.family],
        base_model=base,
        model_name=facts.adapter_id,
        eval_results=_eval_results(facts, figures) or None,
        **extra,
    )
    snippet = numpy_snippet(loaded.adapter, facts, weights)
    if snippet is None:
        snippet = (
            f"# family {facts.family!r} has no numpy-only recipe: apply it with embedreg (below)\n"
            f"# config.json holds its shapes, model.safetensors its tensors"
        )
    provenance = {  # the card lists the stored form, as registry.json holds it
        k: card_value(v)
        for k, v in sorted(loaded.provenance.to_dict().items())
        if k not in ("source", "target", "selection", "paths")
    }
    return render_card(
        "adapter_card.md",
        data,
        adapter_id=facts.adapter_id,
        direction=facts.direction,
        family=facts.family,
        settings=[(k, card_value(v)) for k, v in facts.settings.items()],
        source=facts.source.to_dict(),
        target=facts.target.to_dict(),
        training={k: card_value(v) for k, v in facts.training.items()},
        numpy_snippet=snippet,
        repo_id=repo_id,
        files=facts.files,
        figures=[(k, card_value(v)) for k, v in sorted(figures.to_dict().items())],
        selection=selection_rows(loaded.provenance.selection),
        paths=path_rows(loaded.provenance.paths),
        paths_info=loaded.provenance.paths,
        provenance=list(provenance.items()),
    )
