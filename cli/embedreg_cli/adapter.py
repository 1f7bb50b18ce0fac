"""``embedreg adapter``: train, list, show, measure, compare and remove adapters.

Every command is a thin view over :mod:`embedreg.adapt`; heavy libraries load
only inside the commands that need them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from embedreg.records import AdapterRecord

from .context import State, json_option, pass_state, registry_option
from .output import console, emit_json, say, table

if TYPE_CHECKING:
    from embedreg.pairs import PairedEmbeddings
    from embedreg.registry import Registry
    from embedreg.training import TrainConfig, TrainerCallback

F = TypeVar("F", bound=Callable[..., Any])

FAMILY_CHOICES = ("lambda-orth", "procrustes", "affine", "lowrank", "mlp", "identity")

#: Figures shown in tables, in order, with their labels (rates shown in percent).
FIGURE_ROWS: tuple[tuple[str, str], ...] = (
    ("recall@1", "recall@1 A(src)→tgt"),
    ("recall@10", "recall@10 A(src)→tgt"),
    ("agreement@10", "agreement@10 with tgt/tgt"),
    ("cmc@1", "CMC top-1 A(src)/tgt"),
    ("cmc@5", "CMC top-5 A(src)/tgt"),
    ("map", "mAP A(src)/tgt"),
    ("target.cmc@1", "CMC top-1 tgt/tgt"),
    ("source.cmc@1", "CMC top-1 src/src"),
    ("adapted.cmc@1", "CMC top-1 A(src)/A(src)"),
    ("geometry", "geometry (points)"),
    ("criterion", "criterion"),
    ("flips.positive", "positive flips"),
    ("flips.negative", "negative flips"),
    ("defect", "defect D"),
    ("lambda", "λ (absolute)"),
    ("retention", "retention"),
    ("gallery.cmc@1", "CMC top-1 A(src)/F̃(tgt)"),
    ("gallery.recall@1", "recall@1 A(src)/F̃(tgt)"),
    ("heldout", "held-out pairs"),
)
_PERCENT = {
    "recall@1",
    "recall@10",
    "agreement@10",
    "cmc@1",
    "cmc@5",
    "map",
    "target.cmc@1",
    "source.cmc@1",
    "adapted.cmc@1",
    "geometry",
    "flips.positive",
    "flips.negative",
    "gallery.cmc@1",
    "gallery.recall@1",
}


def format_figure(key: str, value: Any) -> str:
    """A figure as tables show it (rates in percent, ``—`` when absent)."""
    if value is None:
        return "n/a" if key == "criterion" else "—"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, float):
        if key in _PERCENT:
            return f"{100 * value:+.2f}" if key == "geometry" else f"{100 * value:.2f}"
        return f"{value:.3f}" if math.isfinite(value) else str(value)
    return str(value)


@click.group()
def adapter() -> None:
    """Train, measure and manage adapters between generations."""


# --- shared options ---------------------------------------------------------------


def data_options(fn: F) -> F:
    """``--pairs NEW_FILE OLD_FILE``."""
    return click.option(
        "--pairs",
        nargs=2,
        type=click.Path(exists=True, path_type=Path),
        metavar="NEW_FILE OLD_FILE",
        help="Embeddings files of the same items by the two generations, in the order given.",
    )(fn)


def train_options(fn: F) -> F:
    """The training settings shared by ``train`` and ``compare``."""
    options = [
        click.option(
            "--lam",
            type=float,
            help="λ as an absolute Frobenius radius (the paper: 12 at 1024-d); 'inf' = plain affine.",
        ),
        click.option(
            "--lam-per-dim",
            type=float,
            help="λ per dimension: λ = value × √min(in, out) [default: 0.375].",
        ),
        click.option(
            "--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."
        ),
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            help="Most epochs (default 40; early stopping ends sooner).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            help="Pairs per step (default: about 32 steps per epoch).",
        ),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            help="Adam learning rate (default 1e-3).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seeds the split, batches and initialisation.",
        ),
        click.option(
            "--heldout",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.2,
            show_default=True,
            help="Fraction of the pairs kept out of training for the figures.",
        ),
        click.option(
            "--joint-forward",
            is_flag=True,
            help="λ-orth: also train the joint forward (gallery) map.",
        ),
        click.option(
            "--contrastive",
            type=click.FloatRange(min=0),
            help="λ-orth: weight of the contrastive term (default 0).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def build_config(
    *,
    lam: float | None,
    lam_per_dim: float | None,
    device: str,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    joint_forward: bool,
    contrastive: float | None,
) -> TrainConfig:
    """A :class:`~embedreg.training.TrainConfig` from the command-line options."""
    from embedreg.training import TrainConfig

    base = TrainConfig()
    if lam is not None and lam_per_dim is not None:
        raise click.UsageError("give --lam or --lam-per-dim, not both")
    changes: dict[str, Any] = {"device": device, "seed": seed, "joint_forward": joint_forward}
    if lam is not None:
        changes.update(lam=lam, lam_per_dim=None)
    elif lam_per_dim is not None:
        changes.update(lam=None, lam_per_dim=lam_per_dim)
    for key, value in (
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("lr", lr),
        ("w_contrastive", contrastive),
    ):
        if value is not None:
            changes[key] = value
    return replace(base, **changes)


def _load_data(
    reg: Registry, new: str, old: str, pairs: tuple[Path, Path] | None
) -> PairedEmbeddings:
    from embedreg.adapt import load_pairs

    if not pairs:
        raise click.UsageError("give --pairs NEW_FILE OLD_FILE")
    with console().status("Reading embeddings …"):
        return load_pairs(reg, new, old, pairs[0], pairs[1])


@contextmanager
def training_progress() -> Iterator[tuple[TrainerCallback, Callable[[str], None]]]:
    """A rich progress display for training: epochs, loss, D and held-out recall.

    Yields a trainer callback and a stage callback (``on_stage``).
    """
    from embedreg.training import EpochStats, TrainerCallback, TrainStart
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=console(),
        transient=False,
    )

    class Bar(TrainerCallback):
        task: Any = None

        def on_train_begin(self, start: TrainStart) -> None:
            where = start.device + ("" if start.resident else ", streamed")
            if start.fitting != "gradient":
                say(f"  {start.family}: closed form on {start.n_train} pairs ({where})")
                return
            self.task = progress.add_task(
                f"  {start.family} epochs ({where})", total=start.epochs, stats=""
            )

        def on_epoch_end(self, stats: EpochStats) -> bool | None:
            d = "—" if stats.defect is None else f"{stats.defect:.3f}"
            text = (
                f"loss {stats.loss:.4f} val {stats.val_loss:.4f} "
                f"D {d} R@1 {100 * stats.val_recall:.1f}%"
            )
            progress.update(self.task, completed=stats.epoch, stats=text)
            return None

        def on_train_end(self, result: Any) -> None:
            if self.task is not None:
                progress.update(self.task, total=result.epochs_run, completed=result.epochs_run)
                self.task = None

    with progress:
        yield Bar(), lambda text: progress.console.print(text)


def _figures_table(records: list[tuple[str, dict[str, Any]]], title: str | None = None) -> Any:
    tbl = table("FIGURE", *(name for name, _ in records), title=title)
    for key, label in FIGURE_ROWS:
        if not any(key in figs for _, figs in records):
            continue
        tbl.add_row(label, *(format_figure(key, figs.get(key)) for _, figs in records))
    return tbl


def _record_json(rec: AdapterRecord) -> dict[str, Any]:
    return rec.to_dict()


# --- commands -------------------------------------------------------------------------


@adapter.command("train")
@click.argument("new")
@click.argument("old")
@data_options
@click.option(
    "--family", type=click.Choice(FAMILY_CHOICES), default="lambda-orth", show_default=True
)
@click.option(
    "--direction",
    type=click.Choice(("backward", "forward", "both")),
    default="backward",
    show_default=True,
    help="backward: NEW → OLD; forward: OLD → NEW; both: the two.",
)
@train_options
@click.option(
    "--name",
    help="Adapter id instead of <from>-to-<to>.<family> (with both: NAME.backward/NAME.forward).",
)
@click.option(
    "--replace", "replace_existing", is_flag=True, help="Overwrite an adapter with the same id."
)
@json_option
@registry_option
@pass_state
def train(
    state: State,
    /,
    new: str,
    old: str,
    pairs: tuple[Path, Path] | None,
    family: str,
    direction: str,
    heldout: float,
    name: str | None,
    replace_existing: bool,
    as_json: bool,
    **settings: Any,
) -> None:
    """Train an adapter between generations NEW and OLD, measure it, store it.

    NEW is the newer generation (its vectors are the queries), OLD the older
    one (its galleries exist). The default backward adapter maps NEW vectors
    into OLD's space. A fifth of the pairs (--heldout) is kept out of training;
    the figures measured on it are stored with the adapter and in the
    registry. --lam is absolute (a Frobenius radius); --lam-per-dim is per
    dimension (λ = value × √min(in, out)); the default is --lam-per-dim 0.375.
    """
    from embedreg.adapt import train_adapter

    reg = state.registry()
    config = build_config(**settings)
    data = _load_data(reg, new, old, pairs)
    with training_progress() as (bar, stage):
        runs = train_adapter(
            reg,
            new,
            old,
            data,
            family=family,
            direction=direction,
            config=config,
            heldout=heldout,
            name=name,
            replace_existing=replace_existing,
            callbacks=[bar],
            on_stage=stage,
        )
    if as_json:
        emit_json([_record_json(r.record) for r in runs])
    for run in runs:
        rec = run.record
        console().print(
            _figures_table([(rec.id, rec.figures)], title=f"{rec.source} → {rec.target}")
        )
        say(
            f"Registered adapter [bold]{rec.id}[/] ({rec.family}, {rec.direction}, "
            f"{run.training.epochs_run} epoch(s), {run.training.seconds:.1f}s)"
        )


@adapter.command("list")
@click.option("--source", help="Only adapters from this generation.")
@click.option("--target", help="Only adapters to this generation.")
@json_option
@registry_option
@pass_state
def list_(state: State, source: str | None, target: str | None, as_json: bool) -> None:
    """List the registered adapters with their headline figures."""
    records = state.registry().adapters(source=source, target=target)
    if as_json:
        emit_json([_record_json(r) for r in records])
        return
    if not records:
        say(
            "No adapters yet: train one with 'embedreg adapter train NEW OLD --pairs NEW_FILE OLD_FILE'."
        )
        return
    tbl = table(
        "ID", "FROM → TO", "DIRECTION", "FAMILY", "RETENTION", "CRITERION", "RECALL@1", "CREATED"
    )
    for r in records:
        f = r.figures
        tbl.add_row(
            r.id,
            f"{r.source} → {r.target}",
            r.direction,
            r.family,
            format_figure("retention", f.get("retention")),
            format_figure("criterion", f.get("criterion")),
            format_figure("recall@1", f.get("recall@1")),
            r.created,
        )
    console().print(tbl)


@adapter.command("show")
@click.argument("adapter_id", metavar="ID")
@json_option
@registry_option
@pass_state
def show(state: State, adapter_id: str, as_json: bool) -> None:
    """Show one adapter: its generations, figures and provenance."""
    rec = state.registry().adapter(adapter_id)
    if as_json:
        emit_json(_record_json(rec))
        return
    prov = rec.provenance
    info = table("FIELD", "VALUE", title=f"adapter {rec.id}")
    rows = [
        ("maps", f"{rec.source} → {rec.target} ({rec.direction})"),
        ("family", rec.family),
        ("location", rec.location),
        ("sha256", rec.sha256),
        ("created", rec.created),
        ("source pin", str(prov.get("source", {}).get("pin", "—"))),
        ("target pin", str(prov.get("target", {}).get("pin", "—"))),
        ("training data", str(prov.get("training_data", {}).get("sha256", "—"))),
        (
            "hyperparameters",
            ", ".join(f"{k}={v}" for k, v in prov.get("hyperparameters", {}).items()) or "—",
        ),
        ("embedreg", str(prov.get("embedreg_version", "—"))),
    ]
    for key, value in rows:
        info.add_row(key, value)
    console().print(info)
    console().print(_figures_table([(rec.id, rec.figures)], title="held-out figures"))


@adapter.command("eval")
@click.argument("adapter_id", metavar="ID")
@click.option(
    "--pairs",
    nargs=2,
    type=click.Path(exists=True, path_type=Path),
    metavar="SRC_FILE TGT_FILE",
    help="Embeddings files of the same items by the adapter's source and target generations.",
)
@click.option("--device", default="auto", show_default=True)
@json_option
@registry_option
@pass_state
def eval_(
    state: State, adapter_id: str, pairs: tuple[Path, Path] | None, device: str, as_json: bool
) -> None:
    """Measure adapter ID on other pairs (its files are verified first)."""
    from embedreg.adapt import evaluate_adapter

    reg = state.registry()
    rec = reg.adapter(adapter_id)
    data = _load_data(reg, rec.source, rec.target, pairs)
    figures = evaluate_adapter(reg, adapter_id, data, device=device)
    if as_json:
        emit_json({"id": rec.id, "figures": figures})
        return
    console().print(_figures_table([(rec.id, figures)], title=f"{rec.id} on {len(data)} pairs"))


@adapter.command("rm")
@click.argument("adapter_id", metavar="ID")
@registry_option
@pass_state
def rm(state: State, adapter_id: str) -> None:
    """Remove adapter ID and its files."""
    rec = state.registry().remove_adapter(adapter_id)
    say(f"Removed adapter {rec.id}")


@adapter.command("compare")
@click.argument("new")
@click.argument("old")
@data_options
@click.option(
    "--direction",
    type=click.Choice(("backward", "forward")),
    default="backward",
    show_default=True,
)
@click.option("--families", help="Comma-separated families (default: all installed).")
@train_options
@json_option
@registry_option
@pass_state
def compare(
    state: State,
    /,
    new: str,
    old: str,
    pairs: tuple[Path, Path] | None,
    direction: str,
    families: str | None,
    heldout: float,
    as_json: bool,
    **settings: Any,
) -> None:
    """Fit every family on one split of NEW/OLD pairs and show their figures side by side.

    Nothing is stored. --json prints one object per family.
    """
    from embedreg.adapt import compare_families

    reg = state.registry()
    config = build_config(**settings)
    data = _load_data(reg, new, old, pairs)
    if direction == "forward":
        data = data.swapped()
    names = [f.strip() for f in families.split(",")] if families else None
    with training_progress() as (bar, stage):
        rows = compare_families(
            data, families=names, config=config, heldout=heldout, callbacks=[bar], on_stage=stage
        )
    if as_json:
        emit_json(
            [
                {
                    "family": r.family,
                    "figures": r.figures,
                    "seconds": round(r.seconds, 3),
                    "epochs": r.epochs,
                    "error": r.error,
                }
                for r in rows
            ]
        )
        return
    src, tgt = (new, old) if direction == "backward" else (old, new)
    fitted = [(r.family, r.figures) for r in rows if r.error is None]
    tbl = _figures_table(fitted, title=f"{src} → {tgt}: every family on one split")
    tbl.add_row("seconds", *(f"{r.seconds:.1f}" for r in rows if r.error is None))
    console().print(tbl)
    for r in rows:
        if r.error is not None:
            say(f"  {r.family}: not applicable ({r.error})")
