"""``colorize export``: write a shareable model folder from a run or checkpoint.

    $ colorize export checkpoints/00000-hands-finetune -o colorize/pretrained/hands-64 --half
"""

from __future__ import annotations

from pathlib import Path

import click

from colorize.cli.options import load_colorizer


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model folder to write: model.safetensors + config.json.")
@click.option("--half", is_flag=True, help="Store weights as float16: half the size, read back as float32.")
@click.option("--overwrite", is_flag=True, help="Replace a model (model.safetensors or config.json) already in --out.")
def export(source, out, half, overwrite) -> None:
    """Export SOURCE (a run folder, a checkpoint .pt or a model folder) for colouring.

    A run folder gives its export/; a run without one yet gives its best checkpoint
    (checkpoints/best.pt, when the run makes checks), else its newest.

    The folder holds the generator's weights and the tag table as safetensors, and the
    model config and vocabulary as JSON: loading it runs no code. Other files in --out
    (a model card, say) are left alone.
    """
    existing = [out / name for name in ("model.safetensors", "config.json") if (out / name).exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{existing[0]} already exists, and export would replace it. Choose another "
                                   f"--out, or pass --overwrite.")
    from colorize.models.io import ModelError

    model = load_colorizer(source, "cpu")  # checks the model's config, tag table and weights
    try:
        model.save_pretrained(out, half=half)
    except ModelError as e:
        raise click.ClickException(f"cannot export the model: {e}") from None
    size = (out / "model.safetensors").stat().st_size / 1e6
    click.echo(f"Wrote {out}: model.safetensors ({size:.1f} MB{', float16' if half else ''}) and config.json, "
               f"from {model.source} (step {model.step})")
