"""``embedreg export``: query paths as models that other libraries load without embedreg.

``embedreg export sentence-transformers ADAPTER_OR_PATH -o DIR [--repo OWNER/NAME]``
is a few lines over :func:`embedreg.export.export_sentence_transformers` and
:func:`embedreg.export.publish_sentence_transformers` (imported inside the
command, so ``embedreg --help`` loads neither torch nor sentence-transformers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from embedreg.constants import ROLES

from .context import State, pass_state, registry_option
from .options import json_option, routing_options

if TYPE_CHECKING:
    from embedreg.routing import RoutingPolicy
from .output import emit_json, say_plain


@click.group()
def export() -> None:
    """Export query paths as models that other libraries load without embedreg."""


def describe(result: Any, where: str) -> None:
    """The lines a person reads after an export (stderr)."""
    plan, check = result.plan, result.verification
    say_plain(
        f"Exported {plan.label} as a sentence-transformers model to {where} "
        f"(verified: lowest cosine {check.min_cosine:.6f} on {check.texts} texts, "
        f"sentence-transformers {check.library}; {result.seconds:.1f}s)"
    )
    say_plain(
        f"  SentenceTransformer(...).encode(texts) gives {plan.target.dimension}-d vectors in "
        f"{plan.target.name}'s space ({plan.role} prefix by default)"
    )
    warning = plan.path.warning()
    if warning:
        say_plain(f"Warning: {warning}")


@export.command("sentence-transformers")
@click.argument("what", metavar="ADAPTER_OR_PATH")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(path_type=Path),
    help="Folder to write the model to (created; never over files another tool wrote).",
)
@click.option(
    "--repo", "repo_id", metavar="OWNER/NAME", help="Publish the model to this Hub repo instead."
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    help="Prefix encode() applies by default (default: query; document for a forward adapter).",
)
@click.option("--force", is_flag=True, help="Replace an earlier export in the -o folder.")
@click.option("--private", is_flag=True, help="With --repo: create the repo private.")
@click.option("--revision-tag", "tag", metavar="TAG", help="With --repo: tag the commit.")
@click.option("--replace", is_flag=True, help="With --repo: overwrite what the repo holds.")
@routing_options
@json_option
@registry_option
@pass_state
def sentence_transformers(
    state: State,
    what: str,
    out: Path | None,
    repo_id: str | None,
    role: str | None,
    force: bool,
    private: bool,
    tag: str | None,
    replace: bool,
    policy: RoutingPolicy,
    as_json: bool,
) -> None:
    """Write adapter ID, or the best path NEW:OLD, as a sentence-transformers model.

    The model runs the source generation's pinned model with its recipe
    (pooling, normalisation, prefixes as prompts, max tokens), then the path
    as one Dense layer, then normalisation: SentenceTransformer(DIR).encode()
    returns vectors in the target generation's space.  Before anything is
    written, the model is loaded back with sentence-transformers and must
    reproduce embedreg's own vectors (cosine >= 0.9999 on every probe text).
    Paths that need two models (fused, cascade) and non-affine adapters are
    refused with the reason.
    """
    if (out is None) == (repo_id is None):
        raise click.UsageError("give either -o DIR or --repo OWNER/NAME")
    reg = state.registry()
    if repo_id is not None:
        if force:
            raise click.UsageError("--force applies to -o DIR; with --repo use --replace")
        publish_st(reg, what, repo_id, role, private, tag, replace, as_json, policy)
        return
    if private or tag or replace:
        raise click.UsageError("--private, --revision-tag and --replace apply to --repo")
    from embedreg.export import export_sentence_transformers

    assert out is not None
    result = export_sentence_transformers(reg, what, out, role=role, force=force, policy=policy)
    if as_json:
        emit_json(result.to_dict())
    describe(result, str(out))


def publish_st(
    registry: Any,
    what: str,
    repo_id: str,
    role: str | None,
    private: bool,
    tag: str | None,
    replace: bool,
    as_json: bool,
    policy: RoutingPolicy | None = None,
) -> None:
    """Publish an export to the Hub and report it (shared with ``adapter publish --as``)."""
    from embedreg.export import publish_sentence_transformers

    pub = publish_sentence_transformers(
        registry,
        what,
        repo_id,
        role=role,
        private=private,
        tag=tag,
        replace=replace,
        policy=policy,
    )
    if as_json:
        emit_json(pub.to_dict())
    describe(pub.export, f"{pub.repo_id} at commit {pub.commit[:12]}")
    tagged = f" (tagged {pub.tag})" if pub.tag else ""
    say_plain(
        f'  load it with SentenceTransformer("{pub.repo_id}", revision="{pub.commit}"){tagged}'
    )
