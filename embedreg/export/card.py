"""The card of an exported sentence-transformers model.

:func:`export_card` renders ``cards/st_export_card.md`` through
huggingface_hub's ``ModelCard`` / ``ModelCardData``: ``library_name:
sentence-transformers``, ``pipeline_tag: sentence-similarity``, the
sentence-transformers and embedreg tags, ``base_model`` (the source
generation's Hub repo, when it has one), the held-out figures as
``model-index`` eval results, and an ``embedreg`` section
(:func:`export_facts`) with both generations' pins and recipes, the path's
adapters with their weights' sha256, the verification and the sha256 of every
file of the folder.  :func:`read_export_facts` reads that section back.

Example:
    >>> fmt({"x": 0.98765, "criterion": True, "labels": True, "n": None})
    {'x': '0.9877', 'criterion': 'pass', 'labels': 'true', 'n': '—'}
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..constants import CARD_FILENAME, HUB_ST_TAGS, ST_EXPORT_FORMAT, ST_LIBRARY_NAME
from ..hub.adapter_card import EVAL_FIGURES, EndFacts, card_value
from ..hub.cards import render_card
from .target import ExportPlan
from .verify import Verification

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

__all__ = ["export_card", "export_facts", "fmt", "read_export_facts"]


def _value(value: Any, key: str = "") -> str:
    if isinstance(value, bool):
        if key == "criterion":
            return "pass" if value else "fail"
        return "true" if value else "false"
    return card_value(value)


def fmt(values: dict[str, Any]) -> dict[str, str]:
    """Each value as the card prints it (4 decimals, the criterion as pass/fail, — for none)."""
    return {key: _value(value, key) for key, value in values.items()}


def _hops(plan: ExportPlan, directions: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for hop in plan.path.hops:
        if hop.is_identity or hop.adapter_id is None:
            continue
        out.append(
            {
                "source": hop.source,
                "target": hop.target,
                "adapter": hop.adapter_id,
                "family": hop.family,
                "direction": directions.get(hop.adapter_id, ""),
                "sha256": hop.sha256,
                "retention": hop.retention if math.isfinite(hop.retention) else None,
                "criterion": {True: "pass", False: "fail", None: "not judged"}[hop.criterion],
                "figures": hop.figures,
            }
        )
    return out


def export_facts(
    plan: ExportPlan,
    verification: Verification,
    files: dict[str, str],
    directions: dict[str, str],
) -> dict[str, Any]:
    """The card's ``embedreg`` section (JSON-ready)."""
    interval = plan.path.interval
    return {
        "format": ST_EXPORT_FORMAT,
        "source": EndFacts.of(plan.source).to_dict(),
        "target": EndFacts.of(plan.target).to_dict(),
        "role": plan.role,
        "adapter": plan.adapter_id,
        "path": {
            "quality": plan.path.quality if plan.path.adapter_ids else 1.0,
            "basis": plan.path.basis,
            "interval": interval.to_list() if interval else None,
            "criterion": plan.path.criterion,
            "hops": [
                {k: v for k, v in h.items() if k != "figures"} for h in _hops(plan, directions)
            ],
        },
        "verification": verification.to_dict(),
        "files": dict(sorted(files.items())),
    }


def read_export_facts(card: ModelCard) -> dict[str, Any] | None:
    """The ``embedreg`` section of an export's card, or ``None`` when it has none."""
    section = getattr(card.data, "embedreg", None)
    if isinstance(section, dict) and section.get("format") == ST_EXPORT_FORMAT:
        return section
    return None


def _eval_results(plan: ExportPlan, hops: list[dict[str, Any]]) -> list[Any]:
    from huggingface_hub import EvalResult

    out = []
    for hop in hops:
        for key, read in EVAL_FIGURES:
            value = read(hop["figures"])
            if value is None or not math.isfinite(value):
                continue
            out.append(
                EvalResult(
                    task_type="feature-extraction",
                    task_name=f"{plan.source.name} texts in {plan.target.name}'s space",
                    dataset_type="embedreg/held-out-pairs",
                    dataset_name=f"held-out pairs of {hop['adapter']}",
                    metric_type=key,
                    metric_name=f"{hop['adapter']} {key}" if len(hops) > 1 else key,
                    metric_value=float(value),
                )
            )
    return out


def export_card(
    plan: ExportPlan,
    verification: Verification,
    files: dict[str, str],
    *,
    where: str,
    on_hub: bool,
    directions: dict[str, str],
) -> ModelCard:
    """The card of the export of ``plan`` (``where``: its Hub repo id or folder)."""
    from huggingface_hub import ModelCardData

    facts = export_facts(plan, verification, files, directions)
    hops = _hops(plan, directions)
    base = EndFacts.of(plan.source).hub_repo
    title = f"{plan.source.name} → {plan.target.name} (sentence-transformers)"
    data = ModelCardData(
        library_name=ST_LIBRARY_NAME,
        pipeline_tag="sentence-similarity",
        tags=[*HUB_ST_TAGS, *sorted({str(h["family"]) for h in hops})],
        base_model=base,
        model_name=title,
        eval_results=_eval_results(plan, hops) or None,
        embedreg=facts,
    )
    path = facts["path"]
    shown = fmt(verification.to_dict())
    shown["min_cosine"] = f"{verification.min_cosine:.6f}"
    shown["mean_cosine"] = f"{verification.mean_cosine:.6f}"
    shown["max_norm_error"] = f"{verification.max_norm_error:.1e}"
    prefix = (
        plan.source.recipe.query_prefix
        if plan.role == "query"
        else plan.source.recipe.document_prefix
    )
    return render_card(
        "st_export_card.md",
        data,
        title=title,
        where=where,
        revision_hint=on_hub,
        role=plan.role,
        prefix=prefix,
        source=EndFacts.of(plan.source).to_dict(),
        target=EndFacts.of(plan.target).to_dict(),
        path_label=" → ".join(plan.path.adapter_ids),
        quality=_value(float(path["quality"])),
        basis=path["basis"],
        interval=" to ".join(f"{x:.4f}" for x in path["interval"]) if path["interval"] else None,
        criterion=path["criterion"],
        hops=[
            {
                **{k: _value(v) if k in ("retention",) else v for k, v in h.items()},
                "figures": sorted(fmt(h["figures"].to_dict()).items()),  # the card lists them all
            }
            for h in hops
        ],
        verification=shown,
        files={name: digest for name, digest in files.items() if name != CARD_FILENAME},
    )
