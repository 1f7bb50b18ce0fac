"""The Hugging Face Hub from the command line.

``embedreg gen check-updates``, ``embedreg adapter publish`` / ``adapter pull``
and ``embedreg push`` / ``embedreg pull``: each a few lines over
:mod:`embedreg.models` or :mod:`embedreg.hub` (imported inside the commands,
so ``embedreg --help`` never loads huggingface_hub).  The client's token is
used as the client finds it (``HF_TOKEN``, ``hf auth login``); no command
prints it.
"""

from __future__ import annotations

import click

from .context import State, pass_state, registry_option
from .options import json_option
from .output import emit_json, say, show, table


@click.command("check-updates")
@click.argument("names", nargs=-1)
@json_option
@registry_option
@pass_state
def check_updates(state: State, names: tuple[str, ...], as_json: bool) -> None:
    """List Hub generations whose branch or tag has moved since they were pinned.

    Only generations pinned from a branch or tag (gen add NAME OWNER/MODEL
    [--revision BRANCH|TAG]) have an upstream to follow; NAMES limits the
    check to those generations.  Nothing is changed: a moved upstream is a
    new generation to register when you choose.
    """
    from embedreg.models import check_updates as check

    rows = check(state.registry(), names=list(names) if names else None)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    moved = [r for r in rows if r.moved]
    failed = [r for r in rows if r.error]
    if moved:
        tbl = table("GENERATION", "REPO", "REF", "PINNED", "NOW")
        for r in moved:
            tbl.add_row(r.generation, r.repo_id, r.ref, r.pinned[:12], (r.current or "")[:12])
        show(tbl)
    for r in failed:
        say(f"[yellow]{r.generation}[/]: not checked: {r.error}")
    say(
        f"{len(rows)} generation(s) pinned from a branch or tag checked; "
        f"{len(moved)} moved upstream, {len(failed)} could not be checked."
    )


@click.command("publish")
@click.argument("adapter_id", metavar="ID")
@click.option(
    "--repo", "repo_id", required=True, metavar="OWNER/NAME", help="Hub repo to publish to."
)
@click.option("--private", is_flag=True, help="Create the repo private (when it does not exist).")
@click.option(
    "--revision-tag", "tag", metavar="TAG", help="Tag the commit (an existing tag is refused)."
)
@click.option(
    "--replace", is_flag=True, help="Overwrite files of another adapter (or tool) in the repo."
)
@click.option(
    "--as",
    "form",
    type=click.Choice(["embedreg", "sentence-transformers"]),
    default="embedreg",
    show_default=True,
    help="Publish the adapter's files, or a sentence-transformers model that applies it "
    "(see 'embedreg export sentence-transformers').",
)
@json_option
@registry_option
@pass_state
def publish(
    state: State,
    adapter_id: str,
    repo_id: str,
    private: bool,
    tag: str | None,
    replace: bool,
    form: str,
    as_json: bool,
) -> None:
    """Publish adapter ID to a Hub repo: config.json, model.safetensors and a card, one commit.

    The card (huggingface_hub ModelCard) records both generations' pins and
    recipes, the family, λ, the training data's sha256, the files' sha256
    and the held-out figures, with a snippet that applies the map with numpy
    alone.  The registry records the repo and commit.

    With --as sentence-transformers, the repo gets instead the source
    generation's model with the adapter as a Dense layer, verified against
    embedreg's own vectors: SentenceTransformer("OWNER/NAME") loads it.
    """
    if form == "sentence-transformers":
        from .export import publish_st

        publish_st(state.registry(), adapter_id, repo_id, None, private, tag, replace, as_json)
        return
    from embedreg.hub import publish_adapter

    pub = publish_adapter(
        state.registry(), adapter_id, repo_id, private=private, tag=tag, replace=replace
    )
    if as_json:
        emit_json({"adapter": adapter_id, **pub.to_dict()})
    tagged = f", tagged {pub.tag}" if pub.tag else ""
    say(f"Published [bold]{adapter_id}[/] to {pub.repo_id} at commit {pub.commit[:12]}{tagged}")


@click.command("pull")
@click.argument("ref", metavar="OWNER/NAME[@REVISION]")
@click.option("--name", "ident", help="Register it under this id (default: the id on its card).")
@json_option
@registry_option
@pass_state
def pull_adapter(state: State, ref: str, ident: str | None, as_json: bool) -> None:
    """Download a published adapter (pinned to a commit), verify it and register it.

    Every file must have the sha256 its card records, and both generations
    must be in this registry with the same pins and recipes; otherwise
    nothing is registered and the error names what differs.
    """
    from embedreg.hub import pull_adapter as pull

    result = pull(state.registry(), ref, name=ident)
    rec = result.record
    if as_json:
        emit_json({**rec.to_dict(), "already": result.already})
    what = "Already registered" if result.already else "Pulled"
    say(
        f"{what} [bold]{rec.id}[/] ({rec.source} → {rec.target}, {rec.family}) "
        f"from {result.repo_id} at commit {result.commit[:12]}"
    )


@click.command("push")
@click.argument("url", metavar="hf://OWNER/NAME")
@click.option("--private", is_flag=True, help="Create the repo private (when it does not exist).")
@click.option("--replace", is_flag=True, help="Overwrite a registry the repo holds already.")
@json_option
@registry_option
@pass_state
def push(state: State, url: str, private: bool, replace: bool, as_json: bool) -> None:
    """Copy the registry, with its adapters and a card, to a Hub repo in one commit.

    The repo then works as --registry hf://OWNER/NAME.  A repo that holds a
    registry already is refused unless --replace.
    """
    from embedreg.hub import push_registry

    done = push_registry(state.registry(), url, private=private, replace=replace)
    if as_json:
        emit_json(done.to_dict())
    say(
        f"Pushed {len(done.generations)} generation(s) and {len(done.adapters)} adapter(s) "
        f"to {done.url} at commit {done.commit[:12]}"
    )


@click.command("pull")
@click.argument("url", metavar="hf://OWNER/NAME[@REVISION]")
@json_option
@registry_option
@pass_state
def pull(state: State, url: str, as_json: bool) -> None:
    """Copy a Hub registry, with its adapters, into this (empty or new) registry.

    Every adapter's files are checked against their recorded sha256 before
    anything is written.
    """
    from embedreg.hub import pull_registry

    done = pull_registry(state.registry(), url)
    if as_json:
        emit_json(done.to_dict())
    say(
        f"Pulled {len(done.generations)} generation(s) and {len(done.adapters)} adapter(s) "
        f"from {done.url} at commit {done.commit[:12]}"
    )
