"""What several commands share: their common options, and loading a model for them.

Each option is written once here, so ``--device`` or ``--split`` reads and checks the
same in every command, and a model that cannot be loaded gives the same message
whichever command was asked to load it.

    @click.command()
    @model_argument()
    @device_option()
    def evaluate(model, device): colorizer = load_colorizer(model, device)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from colorize.data.images import MAX_PIXELS
from colorize.data.manifest import SPLITS
from colorize.device import DEVICES

__all__ = ["MODEL_HELP", "check_out", "device_option", "load_colorizer", "max_pixels_option", "model_argument",
           "model_option", "split_option"]

MODEL_HELP = ("A model folder (model.safetensors + config.json), a run folder from `colorize train`, "
              "or a checkpoint .pt. Default: the shipped OpenMoji model.")
DEVICE_HELP = "Where the model runs. auto: cuda, then mps, then cpu."


def device_option(default: str | None = "auto", help: str = DEVICE_HELP) -> Callable:
    """``--device auto|cuda|mps|cpu``; None as the default leaves it to the config."""
    return click.option("--device", default=default, show_default=default is not None, type=click.Choice(DEVICES),
                        help=help)


def split_option(name: str = "--split", default: str | None = "val", help: str | None = None) -> Callable:
    """A dataset split, ``train``, ``val`` or ``excluded``."""
    return click.option(name, default=default, show_default=default is not None, type=click.Choice(SPLITS),
                        help=help)


def max_pixels_option() -> Callable:
    """``--max-pixels``: the decompression-bomb limit every command that reads images shares."""
    return click.option("--max-pixels", default=MAX_PIXELS, show_default=True, type=click.IntRange(1, None),
                        help="Refuse images with more pixels than this (decompression bombs). It may be raised "
                             "above Pillow's own limit.")


def model_argument() -> Callable:
    """An optional MODEL argument (documented in the command's help with :data:`MODEL_HELP`).
    Its path is checked by :func:`load_colorizer`, whose message says what to pass instead."""
    return click.argument("model", required=False, type=click.Path(path_type=Path))


def model_option() -> Callable:
    """``--model``, for commands whose arguments are something else."""
    return click.option("--model", type=click.Path(path_type=Path), help=MODEL_HELP)


def load_colorizer(model: Path | None, device: str = "auto"):
    """The :class:`~colorize.infer.colorizer.Colorizer` for MODEL on DEVICE, or a
    ``ClickException`` that says what is wrong with it and what to pass instead."""
    from colorize.device import DeviceError
    from colorize.infer.colorizer import Colorizer
    from colorize.models.io import ModelError

    try:
        return Colorizer.from_pretrained(model, device=device)
    except (ModelError, DeviceError) as e:
        raise click.ClickException(f"cannot load the model: {e}") from None


def check_out(out: Path, names: list[str], overwrite: bool) -> None:
    """Refuse to replace earlier reports in OUT unless ``--overwrite``."""
    existing = [str(out / n) for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{', '.join(existing)} already exist(s). Choose another --out, "
                                   f"or pass --overwrite to replace them.")
