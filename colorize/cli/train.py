"""``colorize train``: train a tag-conditioned pix2pix on a dataset folder.

    $ colorize train --data data/openmoji
    $ colorize train --data data/openmoji --data data/openclipart:0.3
    $ colorize train --config seed --data data/openmoji --device cuda
    $ colorize train --minutes 30 --set variant_weight=4 --set model.conditioning=film
    $ colorize train --resume latest --minutes 60
    $ colorize train --config hands-finetune --init openmoji-64   # fine-tune a model on more hands
    $ torchrun --nproc_per_node 2 -m colorize train --data data/openmoji
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from colorize.cli.options import device_option
from colorize.models.conditioning import CONDITIONING
from colorize.models.losses import GAN_LOSSES


@click.command()
@click.option("--data", multiple=True, type=click.Path(path_type=Path), metavar="FOLDER[:WEIGHT]",
              help="Dataset folder (from `colorize data ...`). Repeat it to train on several: each batch draws "
                   "from them in proportion to their weights (default 1), e.g. --data data/openmoji "
                   "--data data/openclipart:0.3; the first is the reference the checks pick the best by. "
                   "[cpu preset: data/openmoji]")
@click.option("--config", "config_source", default="cpu", show_default=True,
              help="A preset (cpu: fitted to a 2-core CPU; seed: the 2017 post's 256 px, batch 1, 4-channel input) "
                   "or a TOML file. Flags below override it.")
@click.option("--steps", type=click.IntRange(1, None), help="Total optimisation steps (with --resume: train on to this many).")
@click.option("--minutes", type=click.FloatRange(0, None),
              help="Wall-clock budget in minutes, checks and saves included (0: none); training stops at --steps "
                   "or --minutes, whichever comes first. With --resume: the total, time already trained included.")
@click.option("--eval-every", type=click.IntRange(0, None),
              help="Steps between tag-fidelity checks (variant accuracy, ΔE2000) on the val split; the best is exported.")
@click.option("--batch-size", type=click.IntRange(1, None), help="Samples per step (per process).")
@click.option("--size", type=click.IntRange(16, 4096), help="Training resolution in pixels (a power of two).")
@click.option("--ngf", type=click.IntRange(1, None), help="Generator width at the first level.")
@click.option("--ndf", type=click.IntRange(1, None), help="Discriminator width at the first layer.")
@click.option("--conditioning", type=click.Choice(CONDITIONING),
              help="How tags reach the generator: channel (a 4th input plane, the seed design), "
                   "film (scale and shift in every decoder block), tokens (each tag its own token, read by "
                   "cross-attention; the default), none (plain pix2pix).")
@click.option("--gan-loss", type=click.Choice(GAN_LOSSES), help="Adversarial objective.")
@click.option("--l1-lambda", type=click.FloatRange(0, None), help="Weight of the L1 term (pix2pix: 100).")
@click.option("--lr", type=click.FloatRange(0, None, min_open=True), help="Adam learning rate for both networks.")
@click.option("--encoder", help="Tag encoder: a sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2).")
@click.option("--workers", type=click.IntRange(0, None), help="DataLoader worker processes.")
@device_option(default=None, help="Where to train. auto: cuda, then mps, then cpu. [config's device: auto]")
@click.option("--amp", type=click.Choice(["auto", "bf16", "fp16", "off"]), help="Mixed precision (auto: bf16/fp16 on CUDA only).")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--name", help="Run folder suffix: checkpoints/00012-NAME.")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), help="Where run folders go. [checkpoints]")
@click.option("--save-every", type=click.IntRange(1, None), help="Steps between checkpoints.")
@click.option("--image-every", type=click.IntRange(1, None), help="Steps between TensorBoard image grids.")
@click.option("--log-every", type=click.IntRange(1, None), help="Steps between scalar logs.")
@click.option("--keep-last", type=click.IntRange(1, None), help="Checkpoints kept per run.")
@click.option("--include-flags", is_flag=True, default=None, help="Also train on flags (split 'excluded').")
@click.option("--monochrome", type=click.FloatRange(0, 1),
              help="Share of samples turned grey and tagged 'monochrome', to teach that tag to switch colour off.")
@click.option("--init", type=click.Path(file_okay=False), metavar="MODEL",
              help="Start from this model folder's generator weights (fine-tuning, e.g. on your own drawings); "
                   "the run's model settings must be the ones it was trained with.")
@click.option("--no-augment", "augment", flag_value=False, default=None, help="Turn augmentation off.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Set any config field (model fields as model.KEY), e.g. --set variant_weight=4 "
                   "--set model.dropout=false. Values are read as TOML (numbers, true/false), else as text.")
@click.option("--resume", help="Continue a run: 'latest', a run folder, or a checkpoint file. "
                               "The run keeps its own config; only --steps and --minutes may change.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config as JSON and exit.")
def train(config_source, resume, dry_run, runs_dir, settings, **flags) -> None:
    """Train a tag-conditioned pix2pix (U-Net + PatchGAN) on a dataset.

    Each run gets a numbered folder under checkpoints/ with its config.json, TensorBoard
    logs (tb/), rotated checkpoints (checkpoints/step-*.pt) and an export for colouring
    (export/model.safetensors + config.json). Ctrl-C saves a checkpoint and exits.
    For many GPUs, start it with torchrun.
    """
    from colorize.config import load_config
    from colorize.train.trainer import Trainer

    model_keys = {"size", "ngf", "ndf", "conditioning"}
    overrides = {("model." + k if k in model_keys else k): v for k, v in flags.items()}
    lr = overrides.pop("lr", None)
    overrides |= {"lr_g": lr, "lr_d": lr, "runs_dir": None if runs_dir is None else str(runs_dir)}
    data = [str(d) for d in overrides.pop("data")]
    overrides["data"] = None if not data else data[0] if len(data) == 1 else data  # one --data: a plain folder
    overrides |= parse_settings(settings)
    try:
        if resume:
            extra = sorted(k for k, v in overrides.items() if v is not None and k not in ("steps", "minutes", "runs_dir"))
            if extra:
                names = ", ".join("--" + k.removeprefix("model.").replace("_", "-") for k in extra)
                raise click.ClickException(f"--resume keeps the run's own config; drop {names} "
                                           f"(only --steps and --minutes may change).")
            trainer = Trainer.resume(resume, runs_dir=runs_dir or "checkpoints", steps=flags["steps"],
                                     minutes=flags["minutes"])
            config = trainer.config
        else:
            config = load_config(config_source, overrides)
            if dry_run:
                click.echo(json.dumps(config.to_dict(), indent=2))
                return
            trainer = Trainer(config)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    if dry_run:
        click.echo(json.dumps(config.to_dict(), indent=2))
        return
    if trainer.dist.main:
        mixture = ""
        if len(trainer.datasets) > 1:
            mixture = " (" + ", ".join(f"{name} {len(d)} x{s.weight:g}" for name, d, s in
                                       zip(trainer.names, trainer.datasets, trainer.sources, strict=True)) + ")"
        click.echo(f"Run folder: {trainer.run_dir}  device: {trainer.device}  amp: {trainer.amp or 'off'}  "
                   f"train samples: {len(trainer.dataset)}{mixture}  step {trainer.step}/{config.steps}"
                   + (f"  budget: {config.minutes:g} min ({trainer.elapsed / 60:.1f} used)" if config.minutes else ""),
                   err=True)
    last = trainer.train()
    if trainer.dist.main:
        click.echo(f"{last}\nExport for colouring: {trainer.run_dir / 'export'}")


def parse_settings(settings: tuple[str, ...]) -> dict:
    """``("variant_weight=4", "model.dropout=false")`` -> ``{"variant_weight": 4, "model.dropout": False}``."""
    from colorize.config import parse_assignment

    try:
        return dict(parse_assignment(item) for item in settings)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--set") from None
