"""``colorize evaluate``: score a model on a dataset split.

    $ colorize evaluate --data data/openmoji                    # the shipped model, val split
    $ colorize evaluate checkpoints/00003-cpu --data data/openmoji -o eval/00003
"""

from __future__ import annotations

from pathlib import Path

import click

MODEL_HELP = "A model folder (model.safetensors + config.json), a run folder or a checkpoint .pt. Default: the shipped model."


def load_model(model: Path | None, device: str):
    """The Colorizer for a MODEL argument, or a ClickException that says what to pass."""
    from colorize.infer.colorizer import Colorizer

    try:
        return Colorizer.from_pretrained(model, device=device)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None


def check_out(out: Path, names: list[str], overwrite: bool) -> None:
    """Refuse to replace earlier reports unless ``--overwrite``."""
    existing = [str(out / n) for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{', '.join(existing)} already exist(s). Choose another --out, "
                                   f"or pass --overwrite to replace them.")


@click.command()
@click.argument("model", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dataset folder (manifest.jsonl inside).")
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val", "excluded"]),
              help="Which split to score. 'excluded' holds the flags unless the dataset was built with --include-flags.")
@click.option("-o", "--out", default=Path("evaluation"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for evaluation.json and evaluation.md.")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1, None))
@click.option("--limit", type=click.IntRange(1, None), help="Score only the first N samples (a quick look).")
@click.option("--no-baseline", is_flag=True, help="Skip scoring the same model with no tags.")
@click.option("--redraw", multiple=True, type=click.Choice(["xdog", "dilate", "adaptive"]),
              help="Also score on line art this extractor draws from the colour images: lines in another hand "
                   "than the dataset's. Repeatable.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cuda", "mps", "cpu"]))
@click.option("--overwrite", is_flag=True, help="Replace an earlier evaluation in --out.")
def evaluate(model, data, split, out, batch_size, limit, no_baseline, redraw, device, overwrite) -> None:
    """Score MODEL on a dataset split: L1, PSNR, SSIM, CIEDE2000 and variant accuracy.

    Variant accuracy is the share of samples, among drawings that come in several
    colourings, whose output is closest to their own colour image: it measures whether
    the output follows the tags. It is printed next to its chance level, and next to the
    same model's score with no tags at all.
    """
    from colorize.eval.evaluate import evaluate as run_evaluation
    from colorize.eval.evaluate import to_markdown, write_report

    check_out(out, ["evaluation.json", "evaluation.md"], overwrite)
    colorizer = load_model(model, device)
    try:
        results = run_evaluation(colorizer, data, split=split, batch_size=batch_size, baseline=not no_baseline,
                                 limit=limit, redraw=redraw)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    json_path, md_path = write_report(results, out)
    click.echo(to_markdown(results))
    click.echo(f"Wrote {json_path} and {md_path}")
