"""``colorize evaluate``: score a model on a dataset split.

    $ colorize evaluate --data data/openmoji                    # the shipped model, val split
    $ colorize evaluate checkpoints/00003-cpu --data data/openmoji -o eval/00003
    $ colorize evaluate checkpoints/00004-cpu --data data/openmoji --data data/openclipart   # each apart
"""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from colorize.cli.options import MODEL_HELP, check_out, device_option, load_colorizer, model_argument, split_option


@click.command()
@model_argument()
@click.option("--data", required=True, multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dataset folder (manifest.jsonl inside). Repeat it to score several, each on its own split, "
                   "reported apart.")
@split_option(help="Which split to score. 'excluded' holds the flags unless the dataset was built with --include-flags.")
@click.option("-o", "--out", default=Path("evaluation"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for evaluation.json and evaluation.md.")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1, None))
@click.option("--limit", type=click.IntRange(1, None), help="Score only the first N samples (a quick look).")
@click.option("--no-baseline", is_flag=True, help="Skip scoring the same model with no tags.")
@click.option("--redraw", multiple=True, type=click.Choice(["xdog", "dilate", "adaptive", "traced", "solid"]),
              help="Also score on line art this extractor draws from the colour image of each drawing's plainest "
                   "member: lines in another hand than the dataset's. Repeatable. (traced lines are scored anyway "
                   "where the split has variant groups.)")
@device_option()
@click.option("--overwrite", is_flag=True, help="Replace an earlier evaluation in --out.")
def evaluate(model, data, split, out, batch_size, limit, no_baseline, redraw, device, overwrite) -> None:
    """Score MODEL on a dataset split: L1, PSNR, SSIM, CIEDE2000 and variant accuracy.

    Variant accuracy is the share of samples, among drawings that come in several
    colourings, whose output is closest to their own colour image: it measures whether
    the output follows the tags. It is printed next to its chance level, and next to the
    same model's score with no tags at all.

    Wherever a split has such drawings, a "hands" table comes first, one row per dataset:
    variant accuracy, tone order (five skin tones that darken step by step), named-colour
    accuracy (red heart / blue heart) and which-person accuracy (two people, two tones),
    each with the dataset's own lines and with lines traced from the colour regions (one
    more pass over the split), beside variant accuracy with no tags and chance.
    """
    from colorize.eval.evaluate import evaluate as run_evaluation
    from colorize.eval.evaluate import evaluate_datasets, to_markdown, write_report

    if len(set(data)) < len(data):
        raise click.BadParameter("the same folder is given twice", param_hint="--data")
    check_out(out, ["evaluation.json", "evaluation.md"], overwrite)
    colorizer = load_colorizer(model, device)
    options = {"batch_size": batch_size, "baseline": not no_baseline, "limit": limit, "redraw": redraw}
    try:
        if len(data) == 1:
            results = run_evaluation(colorizer, data[0], split=split, **options)
        else:  # one section per dataset in evaluation.json and .md
            results = evaluate_datasets(colorizer, list(data), split=split, **options)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    json_path, md_path = write_report(results, out)
    click.echo(to_markdown(results))
    click.echo(f"Wrote {json_path} and {md_path}")


# cleaned first: the appended line has no indent, so cleandoc would keep the docstring's indent
evaluate.help = inspect.cleandoc(evaluate.help) + f"\n\nMODEL: {MODEL_HELP}"
