"""``embedreg embed``: turn an input file into an embeddings file with a generation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from embedreg.constants import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_SHARD_ROWS, PRECISIONS, ROLES

from .context import State, pass_state, registry_option
from .options import (
    batch_size_option,
    chunk_size_option,
    column_options,
    device_option,
    json_option,
    num_processes_option,
)
from .output import emit_json, say
from .progress import progress_bar

if TYPE_CHECKING:
    from embedreg.data import InputColumns
    from embedreg.registry import Generation


@click.command()
@click.argument("generation")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Embeddings file to write (a folder of shards when larger than --shard-rows).",
)
@click.option("--role", type=click.Choice(ROLES), default="document", show_default=True)
@batch_size_option
@device_option
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="auto: float16 autocast on GPUs, float32 on CPU.",
)
@column_options(images=True)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Images: embed the usable ones and list the unreadable, truncated or huge ones skipped.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_IMAGE_PIXELS,
    show_default=True,
    help="Images: refuse an image of more pixels, before decoding it.",
)
@click.option(
    "--shard-rows", type=click.IntRange(min=1), default=DEFAULT_SHARD_ROWS, show_default=True
)
@click.option("--force", is_flag=True, help="Replace OUT if it exists (never the input).")
@num_processes_option
@chunk_size_option(
    8192, "Items read and encoded at a time (the checkpoint unit with --num-processes)."
)
@json_option
@registry_option
@pass_state
def embed(
    state: State,
    generation: str,
    input_path: Path,
    output: Path,
    role: str,
    batch_size: int,
    device: str,
    precision: str,
    columns: InputColumns,
    skip_bad: bool,
    max_pixels: int,
    shard_rows: int,
    force: bool,
    num_processes: int,
    chunk_size: int,
    as_json: bool,
) -> None:
    """Embed INPUT (.txt, .jsonl or .csv; or images) with GENERATION into an embeddings file.

    Images: INPUT is a folder of images, or a .jsonl/.csv list naming image
    files (--image-column, default 'image'); GENERATION's image tower embeds
    them with the model's own image processor, a batch at a time.  An
    unreadable, truncated or huge image stops the run with nothing written,
    unless --skip-bad.  The file (safetensors) records the generation's name,
    pin and recipe hash, and which tower made the vectors, so it can never be
    read as another generation's vectors.  With
    --num-processes N (or under 'accelerate launch -m embedreg_cli embed …')
    the work is shared among processes, each on its own device.
    """
    from embedreg.data.images import is_image_input
    from embedreg.models import embed_inputs

    gen = state.registry().generation(generation)
    if is_image_input(input_path, columns.image):
        _embed_images(
            gen,
            input_path,
            output,
            role=role,
            batch_size=batch_size,
            device=device,
            precision=precision,
            image_field=columns.image,
            id_field=columns.id,
            label_field=columns.label,
            shard_rows=shard_rows,
            overwrite=force,
            skip_bad=skip_bad,
            max_pixels=max_pixels,
            as_json=as_json,
        )
        return
    if input_path.is_dir():
        raise click.BadParameter("a folder holds images, and it has none", param_hint="INPUT")
    with progress_bar(f"Embedding with {gen.name}") as update:
        result = embed_inputs(
            gen,
            input_path,
            output,
            role=role,
            batch_size=batch_size,
            device=device,
            precision=precision,
            text_field=columns.text,
            id_field=columns.id,
            label_field=columns.label,
            shard_rows=shard_rows,
            progress=update,
            overwrite=force,
            num_processes=num_processes,
            chunk_size=chunk_size,
        )
    if result.process != 0:
        return  # another process of a launch: the main one reports
    if as_json:
        emit_json(result.to_dict())
    say(
        f"Embedded {result.count} {role} item(s) with [bold]{gen.name}[/] ({result.dimension}-d) "
        f"→ {result.path} in {result.seconds:.1f} s "
        f"({result.items_per_second:,.1f} items/s, {result.device}, {result.precision})"
    )


def _embed_images(
    gen: Generation, input_path: Path, output: Path, *, as_json: bool, **options: Any
) -> None:
    from embedreg.models import embed_images
    from rich.markup import escape

    with progress_bar(f"Embedding images with {gen.name}") as update:
        result = embed_images(gen, input_path, output, progress=update, **options)
    if as_json:
        emit_json(result.to_dict())
    say(
        f"Embedded {result.count} image(s) with [bold]{gen.name}[/]'s image tower "
        f"({result.dimension}-d) → {result.path} in {result.seconds:.1f} s "
        f"({result.items_per_second:,.1f} images/s, {result.device}, {result.precision})"
    )
    if result.skipped:
        say(f"[yellow]Skipped {len(result.skipped)} image(s):[/]")
        for error in result.skipped:
            say(f"  {escape(error.image)}: {escape(error.detail)}")
