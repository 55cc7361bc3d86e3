"""The training loop: tag-conditioned pix2pix, one D step then one G step per batch.

Owns the order of a training step and everything around it: device and AMP, tag
dropout, the colour loss and its weighting, learning-rate decay and the EMA, the
wall-clock budget, tag-fidelity checks, TensorBoard, the progress bar, checkpoints,
Ctrl-C, and DDP under ``torchrun``.

The colour loss is L1, weighted ``1 + variant_weight`` on the pixels where a drawing's
colourings differ (the pixels only the tags can decide) and 1 elsewhere. With
``gan_lambda = 0`` the discriminator is neither run nor trained.

A crash never loses the steps since the last checkpoint: an exception in the loop (an
image that will not decode, a full disk, running out of GPU memory) first saves the
usual resumable checkpoint of the state as it stands, says where on stderr, and is then
raised again. Nothing is saved when no step has been taken since the last checkpoint
(or since the start), since nothing would be gained; a second Ctrl-C still quits at
once, without saving.

Several datasets (``config.data`` a list, ``"FOLDER:WEIGHT"`` entries) train as one: one
tag vocabulary, the union of theirs; each keeps its own splits and variant masks; each
batch draws its samples from them by weight (:class:`~colorize.train.sampler.MixedBatchPlan`).

With ``eval_every`` set, every N steps the generator (its EMA when on) is scored on each
dataset's val split (:class:`~colorize.train.watch.VariantProbe`: variant accuracy on its
variant groups, else ΔE2000 and L1 on a fixed sample). The figures go to TensorBoard
(``Eval/KEY``; with several datasets ``Eval/NAME/KEY``) and to ``RUN/eval.csv``, a row per
dataset. The best check is kept as ``RUN/checkpoints/best.pt`` (and ``RUN/best.json``), and
it is what ``RUN/export`` holds. The first dataset is the reference that picks it: by its
variant accuracy (ties by ΔE2000), or by its ΔE2000 when it has no variant groups.

    trainer = Trainer(load_config("cpu", {"data": "data/openmoji"}))
    trainer.train()
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import ConcatDataset, DataLoader
from tqdm import tqdm

from colorize.config import TrainConfig, config_from_dict
from colorize.data.builder import read_build_info
from colorize.data.dataset import PairDataset, collate_pairs, dataset_names, variant_masks
from colorize.data.linestyles import LineStyler
from colorize.data.manifest import Manifest, resolve_manifest
from colorize.data.tags import MONOCHROME, with_colour_words
from colorize.device import pick_device
from colorize.fileio import atomic_write_text
from colorize.models.build import build_discriminator, build_generator
from colorize.models.io import (ModelError, load_checkpoint, load_pretrained, remove_killed_saves, save_checkpoint,
                                save_pretrained)
from colorize.models.losses import GANLoss
from colorize.text.encoder import TagEncoder, TagTable
from colorize.train.checkpoint import find_checkpoint, new_run_dir
from colorize.train.distributed import init_distributed
from colorize.train.ema import EMA
from colorize.train.sampler import MixedBatchPlan
from colorize.train.visual import sample_grid
from colorize.train.watch import VariantProbe

__all__ = ["Trainer", "append_rows", "best_key", "desaturate_some", "drop_tags", "pick_device"]


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``auto`` is bf16 on CUDA where supported, else fp16 on CUDA, else none."""
    if setting == "off" or (setting == "auto" and device.type != "cuda"):
        return None
    if setting == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]


def desaturate_some(target: torch.Tensor, tag_sets: list[list[str]], share: float,
                    rng: random.Random) -> tuple[torch.Tensor, list[list[str]]]:
    """Turn about ``share`` of the targets grey (Rec. 601 luma) and tag them ``monochrome``.

    The seed post saw a ``monochrome`` tag switch colour off; this teaches it on purpose,
    after tag dropout, so a grey target always comes with the tag that explains it.
    """
    chosen = [i for i in range(len(tag_sets)) if rng.random() < share]
    if not chosen:
        return target, tag_sets
    target = target.clone()
    luma = (0.299 * target[chosen, 0] + 0.587 * target[chosen, 1] + 0.114 * target[chosen, 2]).unsqueeze(1)
    target[chosen] = luma.expand(-1, 3, -1, -1)
    tag_sets = [tags + [MONOCHROME] if i in chosen and MONOCHROME not in tags else tags
                for i, tags in enumerate(tag_sets)]
    return target, tag_sets


def drop_tags(tag_sets: list[list[str]], p_set: float, p_each: float, rng: random.Random) -> list[list[str]]:
    """Tag dropout: drop a sample's whole set with ``p_set``, else each tag with ``p_each``.

    The model so learns to colour with partial tags and with none at all.
    """
    out = []
    for tags in tag_sets:
        if rng.random() < p_set:
            out.append([])
        else:
            out.append([t for t in tags if rng.random() >= p_each])
    return out


def best_key(row: dict[str, Any]) -> tuple[float, float]:
    """How a check ranks: variant accuracy first, then a lower ΔE2000. A reference dataset with
    no variant groups has no accuracy, and its checks rank by ΔE2000 alone. With ``eval_pick =
    "mean"`` the accuracy is ``pick``: the mean of every accuracy the checks measured, on every
    dataset's val split, with their own and their redrawn lines."""
    accuracy = row.get("pick", row.get("variant_accuracy"))
    return (-math.inf if accuracy is None else accuracy, -row["delta_e"])


def check_row(when: dict[str, Any], results: dict[str, dict[str, float]], pick: str = "reference") -> dict[str, Any]:
    """One check's row for :func:`best_key` and ``best.json``: ``when`` (step, minutes), the
    reference (first) dataset's figures, every dataset's figures under ``datasets`` when there
    are several, and with ``pick = "mean"`` the mean of every variant accuracy measured (own
    and redrawn lines, every dataset) as ``pick``."""
    reference = next(iter(results))
    row = {**when, "dataset": reference, **results[reference]}
    if len(results) > 1:
        row["datasets"] = results
    if pick == "mean":
        accuracies = [v for figures in results.values() for k, v in figures.items()
                      if k.endswith("variant_accuracy") and v is not None]
        if accuracies:
            row["pick"] = float(np.mean(accuracies))
    return row


def append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to the CSV at ``path``. When they bring columns its header lacks (a run
    resumed from an older version), the file is rewritten under the wider header instead."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    header, old = [], []
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            old = [] if set(fields) <= set(header) else list(reader)
    if header and set(fields) <= set(header):
        with path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=header).writerows(rows)
        return
    text = io.StringIO()
    out = csv.DictWriter(text, fieldnames=list(dict.fromkeys(header + fields)))
    out.writeheader()
    out.writerows(old + rows)
    atomic_write_text(path, text.getvalue())


def initial_weights(folder: str | Path, model: Any, encoder: dict) -> dict[str, torch.Tensor]:
    """The generator weights of the model folder ``folder`` (``init``: fine-tuning), once its
    networks are the shape ``model`` describes and its tags were embedded by ``encoder``;
    else a :class:`ModelError` naming the folder and the settings that differ."""
    from dataclasses import asdict

    config, weights, _ = load_pretrained(folder)
    theirs = asdict(config_from_dict(type(model), config["model"]))
    differ = [f"model.{k} is {theirs[k]!r} there, {v!r} here" for k, v in asdict(model).items() if theirs[k] != v]
    theirs_encoder = config.get("encoder") or {}
    if any(theirs_encoder.get(k) != encoder.get(k) for k in ("dim", "files", "pooling")):
        differ.append(f"its tags were embedded by another encoder ({theirs_encoder.get('name')!r}, files "
                      f"{theirs_encoder.get('files')!r}) than this run's ({encoder.get('name')!r}, files "
                      f"{encoder.get('files')!r})")
    if differ:
        raise ModelError(f"{folder}: cannot start from this model: {'; '.join(differ)}. Train with the model "
                         f"settings it was trained with (its config.json), or drop init.")
    return weights


class Trainer:
    """Train one model; :meth:`resume` continues a checkpoint instead.

    Args:
        config: the resolved configuration.
        state: a loaded checkpoint to continue from (see :meth:`resume`).
        run_dir: the run folder of ``state``; a new numbered one is made when None.
        progress: show a progress bar.
    """

    @classmethod
    def resume(cls, resume: str | Path, runs_dir: str | Path = "checkpoints", steps: int | None = None,
               minutes: float | None = None, progress: bool = True) -> Trainer:
        """Continue ``latest``, a run folder or a checkpoint file, in its own run folder.

        The run keeps its saved config; only ``steps`` and ``minutes`` (the budget in
        total, counting the time already trained) may change, to train longer.
        """
        checkpoint = find_checkpoint(resume, runs_dir)
        state = load_checkpoint(checkpoint)  # its model config, tag table and weights are checked there
        try:
            config = config_from_dict(TrainConfig, state["config"])
        except (TypeError, ValueError) as e:  # a training setting out of range: name the file it came from
            raise ModelError(f"{checkpoint}: {e}. Resume from another checkpoint of its run.") from None
        if steps is not None:
            config.steps = steps
        if minutes is not None:
            config.minutes = minutes
        return cls(config, state=state, run_dir=checkpoint.parent.parent, progress=progress)

    def __init__(self, config: TrainConfig, state: dict[str, Any] | None = None, run_dir: Path | None = None,
                 progress: bool = True):
        self.config = cfg = config
        self.device = pick_device(cfg.device)
        self.dist = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        self.amp = amp_dtype(cfg.amp, self.device)
        self.progress = progress and self.dist.main
        seed = cfg.seed + self.dist.rank
        random.seed(seed), np.random.seed(seed % 2**32), torch.manual_seed(seed)
        self.rng = random.Random(seed)

        # Datasets: each keeps its own splits; the first is the reference the checks pick by.
        self.sources = cfg.sources
        self.names = dataset_names([s.path for s in self.sources])

        # Tags: the datasets' whole vocabulary (their union) is embedded once (cached on disk
        # by encoder identity) and carried in every checkpoint, so training never runs the encoder.
        if state is not None:
            self.table = TagTable(state["vocab"], state["vectors"], state["encoder"])
        else:
            vocab = {t for source in self.sources for row in Manifest(source.path) for t in row["tags"]}
            if cfg.monochrome > 0:
                vocab.add(MONOCHROME)
            if cfg.model.colour_words:
                vocab |= set(with_colour_words(sorted(vocab)))  # the colour terms the tags name
            self.table = TagTable.build(vocab, TagEncoder(cfg.encoder))
            cfg.model.tag_dim = self.table.dim
        self.table.colour_words = cfg.model.colour_words
        self.table.to(self.device)

        splits = ("train", "excluded") if cfg.include_flags else "train"
        self.datasets: list[PairDataset] = []
        for source in self.sources:  # the cache's limit is shared out evenly
            if read_build_info(resolve_manifest(source.path).parent).get("test_only"):
                raise ValueError(f"{source.path}: a test set (built by `colorize data emoji` without --train): "
                                 f"its drawings are kept to measure hands the model never saw, so it is never "
                                 f"trained on. Score models on it with `colorize evaluate MODEL --data "
                                 f"{source.path}`, and drop it from --data.")
            dataset = PairDataset(source.path, split=splits, size=cfg.model.size, augment=cfg.augment,
                                  cache=cfg.cache, augment_size=cfg.augment_size or None,
                                  cache_mb=cfg.cache_mb / len(self.sources),
                                  line_styles=LineStyler(cfg.line_styles, cfg.line_looks),
                                  seed=seed * 1000 + len(self.datasets))
            if len(dataset) == 0:
                raise ValueError(f"{source.path}: the train split is empty; nothing to train on."
                                 + (" Drop it from --data." if len(self.sources) > 1 else ""))
            if cfg.variant_weight > 0:  # keyed by drawing within this dataset only
                dataset.differ = variant_masks(dataset)
            self.datasets.append(dataset)
        self.dataset = self.datasets[0] if len(self.datasets) == 1 else ConcatDataset(self.datasets)
        # one probe per dataset with anything to score in its eval split, in --data order
        self.probes: dict[str, VariantProbe] = {}
        if cfg.eval_every > 0 and self.dist.main:
            for name, source in zip(self.names, self.sources, strict=True):
                probe = VariantProbe(source.path, split=cfg.eval_split, size=cfg.model.size,
                                     redraw=cfg.eval_redraw or None)
                if len(probe):
                    self.probes[name] = probe

        self.G = build_generator(cfg.model).to(self.device)
        self.D = build_discriminator(cfg.model).to(self.device)
        if self.device.type == "cuda":
            self.G, self.D = self.G.to(memory_format=torch.channels_last), self.D.to(memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.gan = GANLoss(cfg.gan_loss)
        self.step, self.elapsed, self.best = 0, 0.0, None
        if state is None and cfg.init:
            self.G.load_state_dict(initial_weights(cfg.init, cfg.model, self.table.identity))
        if state is not None:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
            self.best = state.get("best")
        self._saved_step = self.step  # the newest step on disk: a crash saves only when past it
        self._saved_path: Path | None = None
        self.ema = EMA(self.G, cfg.ema) if cfg.ema > 0 else None
        if self.ema is not None and state is not None and state.get("G_ema"):
            self.ema.load_state_dict(state["G_ema"], updates=self.step)
        self.G_train = DDP(self.G) if self.dist.enabled else self.G
        self.D_train = DDP(self.D) if self.dist.enabled else self.D

        self.run_dir = run_dir
        if self.run_dir is None and self.dist.main:
            self.run_dir = new_run_dir(cfg.runs_dir, cfg.name)
        if self.dist.main:
            # the resolved config goes into the run folder before any training
            atomic_write_text(self.run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
            removed = remove_killed_saves(self.run_dir)
            if removed:
                tqdm.write(f"Removed {len(removed)} unfinished file(s), {sum(s for _, s in removed) / 1e6:.0f} MB, "
                           f"left by saves that were killed: {', '.join(str(p) for p, _ in removed)}",
                           file=sys.stderr)
        self._stop = False
        self._checked_at = -1

    # -- one training step, written out -------------------------------------------------

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp) if self.amp is not None else nullcontext()

    def _d_tags(self, tags: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return tags if self.D.project is not None else (None, None)

    def d_step(self, sketch: torch.Tensor, target: torch.Tensor, fake: torch.Tensor,
               tags: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """Update D on real pairs and on the generator's (detached) output.

        Real and fake go through D as one batch: one forward per step, which DDP needs, and
        BatchNorm sees both, so its statistics cannot tell them apart.
        """
        t, m = self._d_tags(tags)
        with self._autocast():
            logits = self.D_train(torch.cat([sketch, sketch]), torch.cat([target, fake.detach()]),
                                  None if t is None else torch.cat([t, t]), None if m is None else torch.cat([m, m]))
            real, fake_logits = logits.float().chunk(2)
            loss = self.gan.discriminator(real, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_d)
        return {"Loss/D": loss.item(), "D/real": real.mean().item(), "D/fake": fake_logits.mean().item()}

    def g_step(self, sketch: torch.Tensor, target: torch.Tensor, fake: torch.Tensor,
               tags: tuple[torch.Tensor, torch.Tensor], differ: torch.Tensor | None = None) -> dict[str, float]:
        """Update G to match the target in (weighted) L1, times ``l1_lambda``, and, with
        ``gan_lambda > 0``, to fool D."""
        cfg = self.config
        self.D.requires_grad_(False)  # D is only a critic here: no gradients for its weights
        with self._autocast():
            error = (fake.float() - target).abs()
            l1 = error.mean()
            colour = l1 if differ is None else (error * (1 + cfg.variant_weight * differ)).mean()
            loss = cfg.l1_lambda * colour
            losses = {"Loss/G_L1": l1.item()}
            if differ is not None:
                losses["Loss/G_L1_differ"] = ((error * differ).sum() / (3 * differ.sum()).clamp(min=1)).item()
            if cfg.gan_lambda > 0:
                t, m = self._d_tags(tags)
                adversarial = self.gan.generator(self.D(sketch, fake, t, m).float())
                loss = loss + cfg.gan_lambda * adversarial
                losses["Loss/G_GAN"] = adversarial.item()
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_g)
        self.D.requires_grad_(True)
        return losses | {"Loss/G_total": loss.item()}

    def train_step(self, batch: dict[str, Any]) -> tuple[dict[str, float], torch.Tensor]:
        cfg = self.config
        cl = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        sketch = batch["sketch"].to(self.device, non_blocking=True).contiguous(memory_format=cl)
        target = batch["target"].to(self.device, non_blocking=True).contiguous(memory_format=cl)
        tag_sets = drop_tags(batch["tags"], cfg.tag_dropout_set, cfg.tag_dropout_each, self.rng)
        if cfg.monochrome > 0:
            target, tag_sets = desaturate_some(target, tag_sets, cfg.monochrome, self.rng)
        tags = self.table.tokens(tag_sets)
        differ = batch["differ"].to(self.device) if cfg.variant_weight > 0 and "differ" in batch else None
        lines = batch["lines"].to(self.device).contiguous(memory_format=cl) if "lines" in batch else None
        with self._autocast():
            fake = self.G_train(sketch, *tags, lines=lines)
        losses = self.d_step(sketch, target, fake, tags) if cfg.gan_lambda > 0 else {}
        losses |= self.g_step(sketch, target, fake, tags, differ)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.G)
        return losses, fake

    # -- the loop ------------------------------------------------------------------------

    @property
    def G_eval(self) -> torch.nn.Module:
        """The generator that is checked and exported: the EMA when on, else G itself."""
        return self.ema.model if self.ema is not None else self.G

    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain data."""
        return {
            "config": self.config.to_dict(),
            "G": self.G.state_dict(),
            "G_ema": self.ema.state_dict() if self.ema is not None else None,
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "elapsed": self.elapsed,
            "best": self.best,
            "encoder": self.table.identity,
            "vocab": list(self.table.vocab),
            "vectors": self.table.vectors.cpu(),
        }

    def _export(self) -> None:
        save_pretrained(self.run_dir / "export", self.G_eval.state_dict(), self.config.model.__dict__,
                        list(self.table.vocab), self.table.vectors, self.table.identity, self.step)

    def save(self) -> Path | None:
        """Checkpoint (rotated); refresh the export unless checks choose it. Main process only."""
        if not self.dist.main:
            return None
        path = save_checkpoint(self.run_dir / "checkpoints", self.step, self.state(), keep_last=self.config.keep_last)
        self._saved_step, self._saved_path = self.step, path
        if self.best is None:
            self._export()
        return path

    def check(self, writer=None) -> dict[str, dict[str, float]]:
        """Score the generator on every dataset's probe; log them; keep and export it when the
        reference (the first dataset with a probe) says it is the best so far. Figures by dataset."""
        results = {name: probe(self.G_eval, self.table, self.device) for name, probe in self.probes.items()}
        self._checked_at = self.step
        results = {name: figures for name, figures in results.items() if figures}
        if not results:
            return results
        when = {"step": self.step, "minutes": round(self.elapsed / 60, 3)}
        append_rows(self.run_dir / "eval.csv", [{**when, "dataset": name, **figures}
                                                for name, figures in results.items()])
        if writer is not None:
            for name, figures in results.items():
                prefix = "Eval/" if len(self.sources) == 1 else f"Eval/{name}/"
                for key, value in figures.items():
                    writer.add_scalar(prefix + key, value, self.step)
        row = check_row(when, results, self.config.eval_pick)
        if self.best is None or best_key(row) > best_key(self.best):
            self.best = row
            save_checkpoint(self.run_dir / "checkpoints", self.step, self.state(), name="best.pt")
            atomic_write_text(self.run_dir / "best.json", json.dumps(row, indent=2) + "\n")
            self._export()
        return results

    def _lr_scale(self) -> float:
        cfg = self.config
        if cfg.lr_decay == "none":
            return 1.0
        progress = self.step / cfg.steps
        if cfg.minutes > 0:
            progress = max(progress, self.elapsed / (60 * cfg.minutes))
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def _set_lr(self) -> None:
        scale = self._lr_scale()
        for opt, base in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * scale

    def plan(self) -> MixedBatchPlan:
        """The order of all batches, every rank's share of them, and with several datasets their mixture."""
        cfg = self.config
        parts = [[row.get("drawing") or row["id"] for row in dataset.rows] for dataset in self.datasets]
        return MixedBatchPlan(parts, [s.weight for s in self.sources], batch_size=cfg.batch_size * self.dist.world,
                              seed=cfg.seed, group=cfg.group, rank=self.dist.rank, world=self.dist.world)

    def _loader(self) -> DataLoader:
        """Batches from the step after the last one: the plan is a function of the step."""
        cfg = self.config
        plan = self.plan()
        return DataLoader(self.dataset, batch_sampler=plan.batches(start=self.step), num_workers=cfg.workers,
                          collate_fn=collate_pairs, pin_memory=self.device.type == "cuda",
                          persistent_workers=cfg.workers > 0)

    def _out_of_time(self) -> bool:
        return self.config.minutes > 0 and self.elapsed >= 60 * self.config.minutes

    def _on_sigint(self, signum, frame) -> None:
        if self._stop:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop = True
        if self.dist.main:
            tqdm.write("Ctrl-C: finishing this step and saving a checkpoint (press again to quit at once).",
                       file=sys.stderr)

    def _save_on_crash(self, error: Exception) -> None:
        """Checkpoint the steps taken since the last save, after ``error`` stopped the loop; say where."""
        if not self.dist.main:
            return
        failed = f"Training stopped at step {self.step} by {type(error).__name__}"
        if self.step == self._saved_step:
            last = f"; the last checkpoint is {self._saved_path}" if self._saved_path else ""
            tqdm.write(f"{failed}; no step since the {'last checkpoint' if self._saved_path else 'start'}, "
                       f"so nothing was saved{last}.", file=sys.stderr)
            return
        try:
            path = self.save()
        except Exception as e:  # the original error is the one to raise; say this one too
            tqdm.write(f"{failed}, and saving a checkpoint failed as well ({type(e).__name__}: {e}).", file=sys.stderr)
            return
        tqdm.write(f"{failed}; saved {path}. Fix the cause (below), then resume with --resume latest.",
                   file=sys.stderr)

    def train(self) -> Path | None:
        """Run until ``config.steps`` or ``config.minutes``; return the last checkpoint's path (main process)."""
        cfg = self.config
        writer = None
        if self.dist.main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.run_dir / "tb"))
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        bar = tqdm(total=cfg.steps, initial=self.step, desc=self.run_dir.name if self.run_dir else "train",
                   unit="step", disable=not self.progress, file=sys.stderr, dynamic_ncols=True)
        batches = iter(self._loader())
        last_saved, losses = None, {}
        self.G_train.train(), self.D_train.train()
        tick, seen = time.perf_counter(), 0
        clock = time.perf_counter()
        try:
            while self.step < cfg.steps and not self._stop and not self._out_of_time():
                try:
                    batch = next(batches)
                except RuntimeError:  # a DataLoader worker hit by the same Ctrl-C
                    if self._stop:
                        break
                    raise
                self._set_lr()
                losses, fake = self.train_step(batch)
                self.step += 1
                seen += len(batch["id"]) * self.dist.world
                bar.update()
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    rate = seen / max(1e-9, time.perf_counter() - tick)
                    tick, seen = time.perf_counter(), 0
                    losses = {k: self.dist.mean(v) for k, v in losses.items()}
                    best_va = (self.best or {}).get("variant_accuracy")
                    bar.set_postfix({"G_L1": f"{losses['Loss/G_L1']:.3f}", "img/s": f"{rate:.1f}",
                                     **({"VA": f"{best_va:.3f}"} if best_va is not None else {})})
                    if writer is not None:
                        for key, value in losses.items():
                            writer.add_scalar(key, value, self.step)
                        writer.add_scalar("Speed/images_per_s", rate, self.step)
                        writer.add_scalar("LR/generator", self.opt_g.param_groups[0]["lr"], self.step)
                if writer is not None and (self.step % cfg.image_every == 0 or self.step == 1):
                    grid = sample_grid(batch["sketch"], fake, batch["target"], batch["tags"])
                    writer.add_image("Samples/sketch_output_target", grid, self.step, dataformats="HWC")
                now = time.perf_counter()
                self.elapsed, clock = self.elapsed + now - clock, now
                if self.probes and (self.step % cfg.eval_every == 0 or self._out_of_time()):
                    self.check(writer)
                if self.step % cfg.save_every == 0:
                    last_saved = self.save()
                now = time.perf_counter()
                self.elapsed, clock = self.elapsed + now - clock, now
            if self.probes and self._checked_at != self.step and not self._stop:
                self.check(writer)  # the last weights get a check too
        except Exception as error:  # not KeyboardInterrupt: a second Ctrl-C quits at once
            self.elapsed += time.perf_counter() - clock
            self._save_on_crash(error)
            if writer is not None:
                writer.close()
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
            bar.close()
        last_saved = self.save() if self.dist.main else None
        if writer is not None:
            flat = {k: v for k, v in cfg.to_dict().items() if isinstance(v, int | float | str | bool)}
            flat |= {f"model.{k}": v for k, v in cfg.model.__dict__.items() if isinstance(v, int | float | str | bool)}
            flat["data"] = " ".join(cfg.data) if isinstance(cfg.data, list) else cfg.data
            metrics = {"hparam/G_L1": losses.get("Loss/G_L1", float("nan"))}
            if self.best is not None:
                key = "variant_accuracy" if self.best.get("variant_accuracy") is not None else "delta_e"
                metrics[f"hparam/{key}"] = self.best[key]
            writer.add_hparams(flat, metrics, run_name="hparams")
            writer.close()
        if self.dist.main:
            why = "Stopped" if self._stop else "Out of time" if self._out_of_time() else "Done"
            best = ""
            if self.best:
                on = f" on {self.best['dataset']}" if len(self.sources) > 1 else ""
                figure = (f"variant accuracy {self.best['variant_accuracy']:.3f}"
                          if self.best.get("variant_accuracy") is not None else f"ΔE2000 {self.best['delta_e']:.2f}")
                best = f"; best check: step {self.best['step']}, {figure}{on}"
            tqdm.write(f"{why} at step {self.step} after {self.elapsed / 60:.1f} min; saved {last_saved}{best}."
                       + (" Resume with --resume latest." if self._stop else ""), file=sys.stderr)
        self.dist.barrier()
        return last_saved
