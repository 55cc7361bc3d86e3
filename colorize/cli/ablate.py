"""``colorize ablate`` (inference-time) and ``colorize ablate-train`` (training-time) tag ablations.

    $ colorize ablate --data data/openmoji -o ablation/
    $ colorize ablate-train --data data/openmoji -o ablation-train/ --steps 3000 --size 64
"""

from __future__ import annotations

from pathlib import Path

import click

from colorize.cli.options import MODEL_HELP, check_out, device_option, load_colorizer, model_argument, split_option
from colorize.models.conditioning import CONDITIONING


@click.command()
@model_argument()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dataset folder (manifest.jsonl inside).")
@split_option()
@click.option("-o", "--out", default=Path("ablation"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the tables, sheets and maps.")
@click.option("--limit", default=96, show_default=True, type=click.IntRange(2, None),
              help="Samples to ablate; drawings with several colourings come first.")
@click.option("--maps", default=8, show_default=True, type=click.IntRange(0, None), help="Samples that get influence maps.")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1, None))
@click.option("--seed", default=0, show_default=True, type=int, help="Picks samples, shuffles and swaps.")
@device_option()
@click.option("--overwrite", is_flag=True, help="Replace an earlier ablation in --out.")
def ablate(model, data, split, out, limit, maps, batch_size, seed, device, overwrite) -> None:
    """Do the tags matter, and which? Colour samples under tag conditions and compare.

    Conditions: full tags, no tags, another sample's tags (shuffled), each tag left out
    in turn, one colour word swapped (red heart -> blue heart, dark skin tone -> light
    skin tone) and, when MODEL knows it, the tag 'monochrome'. Writes metrics.csv /
    metrics.md, ablation.json, sheets/ (sketch x condition), influence/ (where each
    tag changes the picture) and influence.csv.
    """
    from colorize.eval.ablate import ablate as run_ablation

    check_out(out, ["metrics.csv", "metrics.md", "ablation.json"], overwrite)
    colorizer = load_colorizer(model, device)
    try:
        run_ablation(colorizer, data, out, split=split, limit=limit, batch_size=batch_size, seed=seed, maps=maps)
    except (FileNotFoundError, ValueError, KeyError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo((out / "metrics.md").read_text(encoding="utf-8"))
    click.echo(f"Wrote {out}/: metrics.csv, metrics.md, ablation.json, influence.csv, sheets/, influence/")


ablate.help += f"\n\nMODEL: {MODEL_HELP}"


@click.command("ablate-train")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dataset folder. [config's data: data/openmoji]")
@click.option("-o", "--out", default=Path("ablation-train"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the runs and the comparison.")
@click.option("--config", "config_source", default="cpu", show_default=True, help="Preset or TOML file every run starts from.")
@click.option("--modes", default="none,channel,film,tokens", show_default=True,
              help=f"Comma-separated conditioning modes to compare ({', '.join(CONDITIONING)}).")
@click.option("--encoders", help="Comma-separated text encoders to compare too (model folders). Default: the config's.")
@click.option("--steps", type=click.IntRange(1, None), help="Training steps per run (the shared budget).")
@click.option("--minutes", type=click.FloatRange(0, None),
              help="Wall-clock minutes per run (the shared budget; 0: steps only). At equal minutes a cheaper "
                   "recipe gets more steps.")
@click.option("--variant", "variants", multiple=True, metavar='"NAME: KEY=VALUE, ..."',
              help="A named change to the recipe, run once per mode (or once, if it sets model.conditioning). "
                   'Repeatable, e.g. --variant "no-gan: gan_lambda=0" --variant "old: model.size=128, batch_size=8".')
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Set a config field for every run.")
@click.option("--eval-every", type=click.IntRange(0, None),
              help="Steps between tag-fidelity checks in every run (the curves of comparison.png).")
@click.option("--batch-size", type=click.IntRange(1, None))
@click.option("--size", type=click.IntRange(16, 4096), help="Training resolution (a power of two).")
@click.option("--ngf", type=click.IntRange(1, None))
@click.option("--ndf", type=click.IntRange(1, None))
@click.option("--monochrome", type=click.FloatRange(0, 1),
              help="Share of samples turned grey and tagged 'monochrome' in every run.")
@split_option("--eval-split", help="Split each run is evaluated on.")
@click.option("--eval-limit", type=click.IntRange(1, None), help="Evaluate on the first N val samples only.")
@device_option(default=None, help="Where every run trains. [config's device: auto]")
@click.option("--seed", type=int)
def ablate_train(data, out, config_source, modes, encoders, steps, minutes, variants, settings, eval_every,
                 batch_size, size, ngf, ndf, monochrome, eval_split, eval_limit, device, seed) -> None:
    """Train the same budget under each conditioning mode (and recipe variant), evaluate each, compare.

    Each run has its own folder, OUT/runs/NAME; the comparison goes to OUT/comparison.md,
    .csv, .json and .png (variant accuracy against minutes, and the final scores). Run the
    same command again to resume: finished runs are skipped, an interrupted one continues
    from its last checkpoint.
    """
    from colorize.cli.train import parse_settings
    from colorize.config import load_config
    from colorize.experiments.sweep import parse_variant, sweep

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in mode_list if m not in CONDITIONING]
    if unknown or not mode_list:
        raise click.BadParameter(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONING)}",
                                 param_hint="--modes")
    overrides = {"data": None if data is None else str(data), "steps": steps, "batch_size": batch_size,
                 "model.size": size, "model.ngf": ngf, "model.ndf": ndf, "monochrome": monochrome,
                 "device": device, "seed": seed, "minutes": minutes, "eval_every": eval_every,
                 "eval_split": eval_split} | parse_settings(settings)
    try:
        named = dict(parse_variant(v) for v in variants) or None
        config = load_config(config_source, overrides)
        sweep(config, out, mode_list, encoders=[e.strip() for e in encoders.split(",")] if encoders else None,
              variants=named, eval_split=eval_split, eval_limit=eval_limit, log=lambda m: click.echo(m, err=True))
    except (FileNotFoundError, ValueError, KeyError, RuntimeError, InterruptedError) as e:
        raise click.ClickException(str(e)) from None
    click.echo((out / "comparison.md").read_text(encoding="utf-8"))
    click.echo(f"Wrote {out}/comparison.md, .csv, .json and .png")
