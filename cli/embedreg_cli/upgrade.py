"""``embedreg upgrade``: plan, apply, resume, follow, roll back and finalize gallery upgrades."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import click
from embedreg.constants import DEFAULT_CHUNK_ITEMS, ItemOrder, Strategy

from .context import State, pass_state, registry_option
from .options import (
    batch_size_option,
    chunk_size_option,
    device_option,
    gathered,
    json_option,
    num_processes_option,
    routing_options,
    stack,
)
from .output import console, emit_json, say, show, table
from .progress import Update, progress_bar

if TYPE_CHECKING:
    from embedreg.routing import RoutingPolicy
    from embedreg.upgrade import JobOptions, PartialChoice, UpgradeResult

F = TypeVar("F", bound=Callable[..., Any])


def _human_bytes(n: int | None) -> str:
    from embedreg.upgrade.costs import human_bytes

    return human_bytes(n)


def _human_seconds(s: float | None) -> str:
    from embedreg.upgrade.costs import human_seconds

    return human_seconds(s)


def _job(**values: Any) -> JobOptions:
    from embedreg.upgrade import JobOptions

    return JobOptions(**values)


def _partial(**values: Any) -> PartialChoice:
    from embedreg.upgrade import PartialChoice

    return PartialChoice(**values)


def _job_options(*, sizes: bool) -> Callable[[F], F]:
    """How an upgrade job runs, passed on as one ``job`` (a :class:`~embedreg.upgrade.JobOptions`).

    ``--num-processes`` and ``--device``; with ``sizes`` (a new job) also
    ``--chunk-size`` and ``--batch-size`` (a resumed job keeps its own).
    """
    to_job = gathered("job", _job, ("chunk_size", "batch_size", "num_processes", "device"))
    if not sizes:
        return stack(num_processes_option, device_option, to_job)
    chunks = chunk_size_option(DEFAULT_CHUNK_ITEMS, "Items per checkpointed chunk.")
    return stack(chunks, batch_size_option, num_processes_option, device_option, to_job)


def _partial_options(*, seeded: bool) -> Callable[[F], F]:
    """Which items a partial upgrade re-embeds, passed on as one ``partial`` (a PartialChoice).

    ``--fraction`` and ``--order``; with ``seeded`` (a job) also ``--seed``.
    """
    to_choice = gathered("partial", _partial, ("fraction", "order", "seed"))
    options = [
        click.option(
            "--fraction",
            type=click.FloatRange(0.0, 1.0, min_open=True),
            default=0.5,
            show_default=True,
            help="Fraction of the items a partial upgrade re-embeds.",
        ),
        click.option(
            "--order",
            type=click.Choice(ItemOrder.values()),
            default="random",
            show_default=True,
            help="Order a partial upgrade re-embeds items in.",
        ),
    ]
    if seeded:
        seed = click.option(
            "--seed", type=int, default=0, show_default=True, help="Seed of the random order."
        )
        options.append(seed)
    return stack(*options, to_choice)


@click.group()
def upgrade() -> None:
    """Move a gallery to a new generation: plan, apply (resumably), roll back."""


@upgrade.command("plan")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, help="Target generation (name or alias).")
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=64,
    show_default=True,
    help="Gallery items the target encodes to measure its rate (0: load no model).",
)
@_partial_options(seeded=False)
@batch_size_option
@device_option
@routing_options
@json_option
@registry_option
@pass_state
def plan(
    state: State,
    folder: Path,
    to: str,
    sample: int,
    partial: PartialChoice,
    batch_size: int,
    device: str,
    policy: RoutingPolicy,
    as_json: bool,
) -> None:
    """Compare the upgrade strategies for the gallery in FOLDER and recommend one."""
    from embedreg.upgrade import plan as make_plan

    with console().status(f"Measuring {to} on {sample} item(s) of {folder} …"):
        p = make_plan(
            state.registry(),
            folder,
            to,
            sample=sample,
            partial=partial,
            device=device,
            batch_size=batch_size,
            policy=policy,
        )
    if as_json:
        emit_json(p.to_dict())
        return
    segs = ", ".join(f"{n} of {s}" for s, n in p.segments.items())
    tbl = table(
        "STRATEGY",
        "ITEMS",
        "TIME",
        "DISK",
        "MEMORY",
        "QUALITY",
        title=f"upgrade of {p.name or folder} ({segs}) to {p.target}",
    )
    marks = {"measured": "", "estimate": " *", "not measured": ""}
    for row in p.rows:
        tbl.add_row(
            row.strategy + ("" if row.available else " !"),
            str(row.items),
            _human_seconds(row.seconds),
            _human_bytes(row.disk_bytes),
            _human_bytes(row.memory_bytes),
            row.quality.label() + marks.get(row.quality.basis, ""),
        )
    tbl.caption = (
        "quality: 1.0 = today's search [95% interval], * an estimate; ! something is "
        "missing (below); time, disk and memory are estimates from rates measured here"
    )
    show(tbl)
    for row in p.rows:
        for need in row.needs:
            say(f"{row.strategy} needs: {need}")
        if row.query_us:
            say(f"{row.strategy}: adds {row.query_us:.0f} µs per query")
        say(f"{row.strategy} quality: {row.quality.detail}")
    say(f"[bold]Recommendation: {p.recommendation}[/] ({p.reason})")
    if p.command:
        say(f"run: {p.command}")


@upgrade.command("apply")
@click.argument("folder")
@click.option("--to", "to", required=True, help="Target generation (name or alias).")
@click.option("--strategy", type=click.Choice(Strategy.values()), required=True)
@_partial_options(seeded=True)
@click.option(
    "--promote", metavar="ALIAS", help="Move ALIAS to the target once the gallery is wholly it."
)
@_job_options(sizes=True)
@routing_options
@json_option
@registry_option
@pass_state
def apply(
    state: State,
    folder: str,
    to: str,
    strategy: str,
    partial: PartialChoice,
    promote: str | None,
    job: JobOptions,
    policy: RoutingPolicy,
    as_json: bool,
) -> None:
    """Upgrade the gallery in FOLDER (a folder or database URL) to --to by --strategy, as a resumable job."""
    from embedreg.upgrade import apply as run_apply
    from embedreg.upgrade import database

    _run_job(
        folder,
        f"Re-embedding with {to}",
        as_json,
        in_database=lambda update: database.apply(
            state.registry(),
            folder,
            to,
            strategy,
            partial=partial,
            job=job,
            promote=promote,
            progress=update,
        ),
        in_folder=lambda update: run_apply(
            state.registry(),
            folder,
            to,
            strategy,
            partial=partial,
            promote=promote,
            job=job,
            policy=policy,
            progress=update,
            on_stage=say,
        ),
    )


def _run_job(
    folder: str,
    title: str,
    as_json: bool,
    *,
    in_database: Callable[[Update], dict[str, Any]],
    in_folder: Callable[[Update], UpgradeResult],
) -> None:
    """Run an upgrade job of the gallery at FOLDER under one progress bar, then report it.

    A database URL runs ``in_database`` (:mod:`embedreg.upgrade.database`,
    whose result is a dict), a folder ``in_folder`` (a journaled job of
    :mod:`embedreg.upgrade.apply`); each gets the bar's ``update``.
    """
    from embedreg.gallery.locate import is_url

    if is_url(folder):
        with progress_bar(title) as update:
            done = in_database(update)
        _report_db(done, as_json)
        return
    with progress_bar(title) as update:
        result = in_folder(update)
    _report(result, as_json)


def _json_or_notes(result: Any, as_json: bool) -> bool:
    """Print ``result`` as JSON (then True: nothing more to say), or its notes on stderr."""
    if as_json:
        emit_json(result.to_dict())
        return True
    for note in result.notes:
        say(note)
    return False


def _report_db(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    segs = ", ".join(f"{n} of {s}" for s, n in result["segments"].items())
    say(
        f"Upgraded {result['gallery']} to [bold]{result['target']}[/] ({result['strategy']}): "
        f"{segs}; {result['embedded']} re-embedded in {result['seconds']:.1f}s"
    )
    say(
        "The previous collections are kept: 'embedreg upgrade rollback URL' returns to them, "
        "'embedreg upgrade finalize URL' drops them."
    )
    for note in result.get("registry") or []:
        say(f"  {note}")


def _report(result: UpgradeResult, as_json: bool) -> None:
    if result.state == "worker":
        return  # a non-main process of a launch: the main one reports
    if _json_or_notes(result, as_json):
        return
    if result.state == "unchanged":
        say(f"The gallery {result.gallery} is unchanged (adapt-queries).")
        return
    segs = ", ".join(f"{n} of {s}" for s, n in result.segments.items())
    say(
        f"Upgraded {result.gallery} to [bold]{result.target}[/] ({result.strategy}): "
        f"version {result.version}, {segs}; {result.embedded} re-embedded"
        f"{f', {result.mapped} mapped' if result.mapped else ''} in {result.seconds:.1f}s "
        f"on {result.processes} process(es)"
    )
    say(
        f"The previous version is kept: 'embedreg upgrade rollback {result.gallery}' returns "
        f"to it, 'embedreg upgrade finalize {result.gallery}' deletes it."
    )


@upgrade.command("resume")
@click.argument("folder")
@_job_options(sizes=False)
@routing_options
@json_option
@registry_option
@pass_state
def resume(
    state: State, folder: str, job: JobOptions, policy: RoutingPolicy, as_json: bool
) -> None:
    """Continue the interrupted upgrade job of the gallery in FOLDER (a folder or database URL).

    The job runs on where it stopped: a folder's from its last complete
    chunk, a database's from what its new collections hold.
    """
    from embedreg.upgrade import database
    from embedreg.upgrade import resume as run_resume

    _run_job(
        folder,
        f"Re-embedding for {folder}",
        as_json,
        in_database=lambda update: database.resume(
            state.registry(), folder, job=job, progress=update
        ),
        in_folder=lambda update: run_resume(
            state.registry(),
            folder,
            job=job,
            policy=policy,
            progress=update,
            on_stage=say,
        ),
    )


def _or_in_database(
    ask: Literal["status", "rollback", "finalize"], line: Callable[[str, dict[str, Any]], str]
) -> Callable[[F], F]:
    """FOLDER (a folder or a database URL) and ``--json``; a database URL is answered here.

    Where FOLDER is a database URL, the function ``ask`` of
    :mod:`embedreg.upgrade.database` answers instead of the command, printed
    as JSON or as ``line(FOLDER, answer)`` on stderr; a folder runs the command.
    """

    def answer(fn: F) -> F:
        @functools.wraps(fn)
        def either(*args: Any, **kwargs: Any) -> Any:
            from embedreg.gallery.locate import is_url

            folder, as_json = kwargs["folder"], kwargs["as_json"]
            if not is_url(folder):
                return fn(*args, **kwargs)
            from embedreg.upgrade import database

            if ask == "rollback":  # puts the registry's record and promoted alias back too
                state = click.get_current_context().ensure_object(State)
                found: dict[str, Any] = database.rollback(folder, state.registry())
            else:
                found = getattr(database, ask)(folder)
            if as_json:
                emit_json(found)
            else:
                say(line(folder, found))
            return None

        return cast(F, either)

    return stack(click.argument("folder"), json_option, answer)


def _database_status(url: str, found: dict[str, Any]) -> str:
    if found["state"] == "none":
        return f"No upgrade job in {url}."
    return f"Upgrade job {found['id']} of {url} to {found['to']}: {found['state']}"


def _database_rollback(url: str, back: dict[str, Any]) -> str:
    return "\n".join([f"Rolled back {url}: {back['action']}", *back.get("registry", [])])


def _database_finalize(url: str, done: dict[str, Any]) -> str:
    return f"Finalized the upgrade of {url}: dropped {', '.join(done['dropped']) or 'nothing'}"


@upgrade.command("status")
@_or_in_database("status", _database_status)
def status(folder: str, as_json: bool) -> None:
    """Show the upgrade job of the gallery in FOLDER: state, progress, rate, ETA."""
    from embedreg.gallery.kinded import write_back_progress
    from embedreg.upgrade import status as job_status

    st = job_status(folder)
    searched = write_back_progress(folder)
    if as_json:
        emit_json({**st.to_dict(), "write_back": searched})
        return
    for wb in searched:
        say(
            f"Searches wrote back {wb['written']} item(s) into segment {wb['generation']}: "
            f"{wb['segment']} of {wb['total']} item(s) ({100 * wb['share']:.0f}%) embedded by it"
        )
    if st.state == "none":
        say(f"No upgrade job in {folder} (version {st.version}).")
        return
    tbl = table("FIELD", "VALUE", title=f"upgrade of {folder}")
    tbl.add_row("state", st.state)
    tbl.add_row("job", f"{st.job}: {st.strategy} to {st.target}, created {st.created}")
    if st.total:
        tbl.add_row(
            "progress", f"{st.done} of {st.total} item(s) ({100 * st.done / st.total:.0f}%)"
        )
    if st.rate:
        tbl.add_row("rate", f"{st.rate:,.1f} items/s")
    if st.eta_seconds is not None:
        tbl.add_row("ETA", _human_seconds(st.eta_seconds))
    tbl.add_row("version", str(st.version))
    show(tbl)
    say(st.message)


@upgrade.command("rollback")
@_or_in_database("rollback", _database_rollback)
@click.option("--force", is_flag=True, help="Roll back even if the gallery changed since.")
@registry_option
@pass_state
def rollback(state: State, folder: str, force: bool, as_json: bool) -> None:
    """Return the gallery in FOLDER to its version before the last upgrade (or discard a job)."""
    from embedreg.upgrade import rollback as run_rollback

    result = run_rollback(state.registry(), folder, force=force)
    if _json_or_notes(result, as_json):
        return
    what = (
        f"version {result.version} is back"
        if result.action == "restored"
        else f"{result.action}, version {result.version}"
    )
    say(f"Rolled back {folder}: {what}, content hash {result.content_hash}")


@upgrade.command("finalize")
@_or_in_database("finalize", _database_finalize)
def finalize(folder: str, as_json: bool) -> None:
    """Forget the version the last upgrade of FOLDER replaced, and delete its files."""
    from embedreg.upgrade import finalize as run_finalize

    result = run_finalize(folder)
    if _json_or_notes(result, as_json):
        return
    say(f"Finalized the upgrade of {folder} (version {result.version}).")
