"""Typed configuration: what a model is (:class:`ModelConfig`) and how it is trained (:class:`TrainConfig`).

Only this module and the CLI know the whole config tree. Configs are plain data: they are
written as JSON into every run folder and checkpoint, and read from TOML files, either a
named preset shipped with the package (``colorize/configs/NAME.toml``) or a path.

    config = load_config("cpu", overrides={"steps": 100})
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from colorize.data.linestyles import CLASSIC_LOOKS, LineStyler
from colorize.fileio import resolved
from colorize.models.conditioning import CONDITIONING
from colorize.models.generator import LINES
from colorize.models.layers import NORMS
from colorize.models.losses import GAN_LOSSES

__all__ = ["MODEL_RANGES", "DataSource", "ModelConfig", "TrainConfig", "check_model_fields", "config_from_dict",
           "data_sources", "load_config", "parse_assignment", "parse_data_entry", "preset_names", "with_overrides"]


@dataclass
class ModelConfig:
    """The networks' shape; everything needed to rebuild them from a checkpoint."""

    size: int = 256            # side of the square training images
    ngf: int = 64              # generator width at the first level
    ndf: int = 64              # discriminator width at the first layer
    levels: int | None = None  # U-Net down-steps; None: log2(size), down to 1x1 as pix2pix's unet_256
    norm: str = "batch"        # batch | instance
    dropout: bool = True       # dropout in the decoder blocks under the bottleneck
    conditioning: str = "tokens"  # channel | film | tokens | none: how tags reach the generator
    d_tags: bool = True        # the discriminator sees tags by projection (never in mode none)
    d_layers: int = 3          # PatchGAN depth; 3 = 70x70 patches
    cond_dim: int = 256        # FiLM MLP width
    grid: int = 16             # side of the coarse tag plane in channel mode
    attn_size: int = 16        # tokens mode: cross-attention in decoder blocks of this side or less
    colour_words: bool = False  # a tag that names a colour ("red question mark") also gives it as a tag ("red")
    lines: str = "paint"       # paint: the generator redraws the lines | multiply: it paints fills, the sketch is multiplied over
    tag_dim: int = 384         # tag embedding size; set from the encoder

    def __post_init__(self) -> None:
        check_model_fields(self)
        if self.levels is None:
            self.levels = int(math.log2(self.size))
        _check_range("levels", self.levels)
        if self.size % (2 ** self.levels):
            raise ValueError(f"model.size {self.size} is not divisible by 2**levels = {2 ** self.levels} "
                             f"(model.levels {self.levels})")


# The range of each whole-number field of ModelConfig. They are checked before any network
# is built, so a damaged or hostile config.json is refused by field instead of asking for
# gigabytes (ngf 8192 would need terabytes). The shipped presets use size 64-256, ngf/ndf
# 32-64, levels 6-8, cond_dim 256, grid 16, attn_size 16 and a 384-d encoder; each bound
# leaves at least 8x room above them. The widths stop where a model no longer trains on one
# accelerator: ngf 512 at size 256 is a 3.5 G-parameter generator, 13 GiB in float32 and
# 52 GiB with Adam's state; at 1024 it is four times that.
MODEL_RANGES: dict[str, tuple[int, int]] = {
    "size": (4, 4096),        # the smallest U-Net (2 levels) needs 4 px; --size allows 16..4096
    "ngf": (1, 512),
    "ndf": (1, 512),
    "levels": (2, 12),        # 2**12 = 4096, the largest size
    "d_layers": (1, 8),       # PatchGAN stride-2 layers; 3 is pix2pix's 70x70 patches
    "cond_dim": (1, 4096),
    "grid": (1, 256),         # the channel mode's tag plane has grid**2 cells
    "attn_size": (0, 4096),   # 0: no decoder block reads the tokens
    "tag_dim": (1, 8192),     # sentence-transformers models give 384 to 4096
}
MODEL_FLAGS = ("dropout", "d_tags", "colour_words")


def _check_range(name: str, value: Any) -> None:
    low, high = MODEL_RANGES[name]
    # bool is an int in Python, but "ngf": true is a damaged file, not a width of 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"model.{name} must be a whole number from {low} to {high}, got {value!r}")


def check_model_fields(config: ModelConfig) -> None:
    """Refuse a :class:`ModelConfig` field of the wrong type or out of range, by name (``ValueError``).

    Every way a model config comes in (a preset, ``--set``, a checkpoint, an export's
    config.json) goes through here, so a model is refused before anything is allocated,
    not later by torch.
    """
    choices = {"norm": NORMS, "conditioning": CONDITIONING, "lines": LINES}
    for name, valid in choices.items():
        value = getattr(config, name)
        if not isinstance(value, str) or value not in valid:
            raise ValueError(f"model.{name}: unknown {name} {value!r}; choose from {', '.join(valid)}")
    for name in MODEL_FLAGS:
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"model.{name} must be true or false, got {getattr(config, name)!r}")
    for name in MODEL_RANGES:
        if not (name == "levels" and config.levels is None):  # None: derived from size
            _check_range(name, getattr(config, name))


@dataclass
class TrainConfig:
    """One training run. Each field has a short comment; ``colorize train --help`` shows the flags."""

    data: str | list[str] = "data/openmoji"  # dataset folder, or a list of "FOLDER[:WEIGHT]" (the first: reference)
    model: ModelConfig = field(default_factory=ModelConfig)
    encoder: str = "all-MiniLM-L6-v2"  # sentence-transformers model: name or local path
    steps: int = 20000                # optimisation steps in total
    batch_size: int = 8               # per process
    lr_g: float = 2e-4                # Adam learning rate, generator
    lr_d: float = 2e-4                # Adam learning rate, discriminator
    beta1: float = 0.5                # Adam beta1 (pix2pix)
    gan_loss: str = "vanilla"         # vanilla | lsgan | hinge
    gan_lambda: float = 1.0           # weight of the adversarial term; 0: colour loss only, D is not trained
    l1_lambda: float = 100.0          # weight of the L1 term (pix2pix: 100)
    variant_weight: float = 0.0       # extra L1 weight on pixels where a drawing's colourings differ
    lr_decay: str = "none"            # none | cosine (to 0 at the end of `steps` or `minutes`, whichever is first)
    ema: float = 0.0                  # EMA decay of the generator's weights (0: off); exported when on
    group: int = 1                    # colourings of one drawing kept together in a batch
    minutes: float = 0.0              # wall-clock budget in minutes (0: none); training stops at steps or minutes
    eval_every: int = 0               # steps between tag-fidelity checks on `eval_split` (0: off)
    eval_split: str = "val"           # split the checks score; the best check's weights are exported
    eval_redraw: str = ""             # also check on line art redrawn by this extractor (xdog | dilate | adaptive | traced ...)
    eval_pick: str = "reference"      # which check is best: reference (the first dataset's accuracy) | mean (of every dataset's)
    cache: bool = False               # keep decoded images in memory (small sizes, workers = 0)
    cache_mb: int = 2048              # ... up to this many MB; images beyond it are read from disk each time
    tag_dropout_set: float = 0.1      # chance to drop a sample's whole tag set
    tag_dropout_each: float = 0.1     # chance to drop each single tag
    augment: bool = True              # geometric + line-style augmentation
    line_styles: dict[str, float] = field(default_factory=lambda: {"artist": 1.0})  # share of each way lines are drawn (colorize.data.linestyles)
    line_looks: dict[str, float] = field(default_factory=lambda: dict(CLASSIC_LOOKS))  # chance of each look (thin, broken, pencil, scan...)
    augment_size: int = 0             # side the geometric augmentation runs at before shrinking to model.size (0: model.size)
    include_flags: bool = False       # also train on split 'excluded' (flags)
    monochrome: float = 0.0           # share of samples desaturated and tagged 'monochrome' (the seed's finding)
    init: str = ""                    # model folder whose generator weights the run starts from (fine-tuning); "": random
    workers: int = 1                  # DataLoader worker processes
    seed: int = 0
    device: str = "auto"              # auto | cuda | mps | cpu
    amp: str = "auto"                 # auto (bf16/fp16 on CUDA, off elsewhere) | bf16 | fp16 | off
    log_every: int = 25               # steps between scalar logs
    image_every: int = 500            # steps between image grids
    save_every: int = 1000            # steps between checkpoints
    keep_last: int = 3                # checkpoints kept per run
    name: str = "colorize"            # run folder suffix: checkpoints/00012-NAME
    runs_dir: str = "checkpoints"     # where run folders go

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = config_from_dict(ModelConfig, self.model)
        if isinstance(self.data, os.PathLike):
            self.data = os.fspath(self.data)
        elif isinstance(self.data, list | tuple):  # JSON-able, and equal to itself read back
            self.data = [os.fspath(entry) if isinstance(entry, os.PathLike) else entry for entry in self.data]
        data_sources(self.data)  # a bad entry fails here, named, before anything is built
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {self.gan_loss!r}; choose from {', '.join(GAN_LOSSES)}")
        if self.lr_decay not in ("none", "cosine"):
            raise ValueError(f"unknown lr_decay {self.lr_decay!r}; choose from none, cosine")
        if not (self.ema == 0 or 0 < self.ema < 1):
            raise ValueError(f"ema must be 0 (off) or a decay in (0, 1), got {self.ema}")
        if self.group < 1 or self.group > self.batch_size:
            raise ValueError(f"group must be between 1 and batch_size ({self.batch_size}), got {self.group}")
        LineStyler(self.line_styles, self.line_looks)  # an unknown style or a bad share fails here, named
        if self.eval_pick not in ("reference", "mean"):
            raise ValueError(f"unknown eval_pick {self.eval_pick!r}; choose from reference, mean")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"unknown amp {self.amp!r}; choose from auto, bf16, fp16, off")

    @property
    def sources(self) -> list[DataSource]:
        """The datasets to train on, with their weights; the first is the reference the checks pick by."""
        return data_sources(self.data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataSource:
    """One dataset of a run: its folder and its weight, the relative share of each batch drawn from it."""

    path: str
    weight: float = 1.0


def parse_data_entry(entry: str) -> DataSource:
    """``"data/openclipart:0.3"`` -> ``DataSource("data/openclipart", 0.3)``; ``"data/openmoji"`` -> weight 1.

    Only the last colon splits, and only when what follows it reads as a number, so
    ``C:\\data\\art`` or ``art:v2`` stay whole paths. A folder whose own name ends in
    ``:NUMBER`` is written with its weight after it: ``art:2:1``. ``ValueError`` names a bad entry.
    """
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"data entry {entry!r}: expected a dataset folder, optionally with :WEIGHT "
                         f"(e.g. data/openclipart:0.3)")
    path, sep, text = entry.rpartition(":")
    try:
        weight = float(text) if sep else None
    except ValueError:
        weight = None
    if weight is None:
        return DataSource(entry, 1.0)
    if not path:
        raise ValueError(f"data entry {entry!r}: no folder before the weight; write FOLDER:WEIGHT")
    if not (math.isfinite(weight) and weight > 0):
        raise ValueError(f"data entry {entry!r}: the weight must be a positive number, got {text!r} (a folder "
                         f"whose own name ends in :NUMBER takes its weight after it: {entry}:1)")
    return DataSource(path, weight)


def data_sources(data: str | list[str] | tuple[str, ...]) -> list[DataSource]:
    """The entries of ``TrainConfig.data`` (one or a list), parsed; the same folder twice is refused."""
    entries = list(data) if isinstance(data, list | tuple) else [data]
    if not entries:
        raise ValueError("data is an empty list; give at least one dataset folder")
    sources = [parse_data_entry(entry) for entry in entries]
    seen: dict[Path, str] = {}
    for entry, source in zip(entries, sources, strict=True):
        key = resolved(source.path)  # data/a, ./data/a/, /abs/data/a and a link to it are one folder
        if key in seen:
            raise ValueError(f"data entries {seen[key]!r} and {entry!r} name the same folder ({key}); "
                             f"give each dataset once (its weight sets its share)")
        seen[key] = entry
    # each share is taken of the largest weight (see MixedBatchPlan), so huge weights cannot
    # overflow; one so small beside it that its share is 0 would never be drawn
    top = max(sources, key=lambda s: s.weight)
    for entry, source in zip(entries, sources, strict=True):
        if not source.weight / top.weight > 0:
            raise ValueError(f"data entry {entry!r}: its weight is too small beside {top.weight:g} to ever be "
                             f"drawn; give weights of similar scale (only their ratios matter)")
    return sources


def config_from_dict(cls, data: dict[str, Any]):
    """Build ``cls`` from a dict, naming any unknown keys instead of ignoring them."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    return cls(**data)


def preset_names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("colorize.configs").iterdir()
                  if p.name.endswith(".toml"))


def load_config(source: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a preset name or TOML path, then ``overrides``.

    Override keys are TrainConfig fields, or ``model.FIELD`` for the model's.
    """
    data: dict[str, Any] = {}
    if source is not None:
        path = Path(source)
        if path.suffix != ".toml" and str(source) in preset_names():
            text = resources.files("colorize.configs").joinpath(f"{source}.toml").read_text(encoding="utf-8")
        elif path.is_file():
            text = path.read_text(encoding="utf-8")
        else:
            raise FileNotFoundError(f"{source}: no such config file or preset; presets: {', '.join(preset_names())}")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{source}: not valid TOML ({e})") from None
    return _merge(data, overrides)


def with_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A copy of ``config`` with ``overrides`` (keys as in :func:`load_config`) applied and checked."""
    data = config.to_dict()
    if "model.size" in overrides and "model.levels" not in overrides:
        data["model"]["levels"] = None  # derived from the new size again
    return _merge(data, overrides)


STYLE_TABLES = ("line_styles", "line_looks")


def _merge(data: dict[str, Any], overrides: dict[str, Any] | None) -> TrainConfig:
    """``data`` (a config as plain dicts) with ``overrides`` on top; None values are skipped.

    ``model.FIELD`` sets a model field; ``line_styles.NAME`` and ``line_looks.NAME`` set one
    style's share in those tables (0 turns it off), keeping the others."""
    model = dict(data.pop("model", {}))
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        table, _, name = key.partition(".")
        if table == "model":
            model[name] = value
        elif table in STYLE_TABLES and name:
            default = TrainConfig.__dataclass_fields__[table].default_factory()
            data[table] = {**data.get(table, default), name: value}
        else:
            data[key] = value
    data["model"] = config_from_dict(ModelConfig, model)
    return config_from_dict(TrainConfig, data)


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"model.dropout=false"`` -> ``("model.dropout", False)``: the value read as TOML
    (numbers, booleans, quoted text), else kept as text; ``ValueError`` without ``=``."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{item!r} is not KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    return key.strip(), value
