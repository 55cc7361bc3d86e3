"""The training loop: tag-conditioned pix2pix, one D step then one G step per batch.

Owns the order of a training step and everything around it: device and AMP, tag
dropout, TensorBoard, the progress bar, checkpoints, Ctrl-C, and DDP under ``torchrun``.

    trainer = Trainer(load_config("cpu", {"data": "data/openmoji"}))
    trainer.train()
"""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from colorize.config import TrainConfig, config_from_dict
from colorize.data.dataset import PairDataset, collate_pairs
from colorize.data.manifest import Manifest
from colorize.data.tags import MONOCHROME
from colorize.device import pick_device
from colorize.fileio import atomic_write_text
from colorize.models.build import build_discriminator, build_generator
from colorize.models.losses import GANLoss
from colorize.text.encoder import TagEncoder, TagTable
from colorize.train.checkpoint import export_model, find_checkpoint, load_checkpoint, new_run_dir, save_checkpoint
from colorize.train.distributed import init_distributed
from colorize.train.visual import sample_grid

__all__ = ["Trainer", "desaturate_some", "drop_tags", "pick_device"]


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
               progress: bool = True) -> Trainer:
        """Continue ``latest``, a run folder or a checkpoint file, in its own run folder.

        The run keeps its saved config; only ``steps`` may be raised to train longer.
        """
        checkpoint = find_checkpoint(resume, runs_dir)
        state = load_checkpoint(checkpoint)
        config = config_from_dict(TrainConfig, state["config"])
        if steps is not None:
            config.steps = steps
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

        # Tags: the dataset's whole vocabulary is embedded once (cached on disk by encoder
        # identity) and carried in every checkpoint, so training never runs the encoder.
        if state is not None:
            self.table = TagTable(state["vocab"], state["vectors"], state["encoder"])
        else:
            vocab = {t for row in Manifest(cfg.data) for t in row["tags"]}
            if cfg.monochrome > 0:
                vocab.add(MONOCHROME)
            self.table = TagTable.build(vocab, TagEncoder(cfg.encoder))
            cfg.model.tag_dim = self.table.dim
        self.table.to(self.device)

        splits = ("train", "excluded") if cfg.include_flags else "train"
        self.dataset = PairDataset(cfg.data, split=splits, size=cfg.model.size, augment=cfg.augment)
        if len(self.dataset) == 0:
            raise ValueError(f"{cfg.data}: the train split is empty; nothing to train on.")

        self.G = build_generator(cfg.model).to(self.device)
        self.D = build_discriminator(cfg.model).to(self.device)
        if self.device.type == "cuda":
            self.G, self.D = self.G.to(memory_format=torch.channels_last), self.D.to(memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.gan = GANLoss(cfg.gan_loss)
        self.step = 0
        if state is not None:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self.step = int(state["step"])
        self.G_train = DDP(self.G) if self.dist.enabled else self.G
        self.D_train = DDP(self.D) if self.dist.enabled else self.D

        self.run_dir = run_dir
        if self.run_dir is None and self.dist.main:
            self.run_dir = new_run_dir(cfg.runs_dir, cfg.name)
        if self.dist.main:
            # the resolved config goes into the run folder before any training
            atomic_write_text(self.run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        self._stop = False

    # -- one training step, written out -------------------------------------------------

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp) if self.amp is not None else nullcontext()

    def _d_tags(self, tags: torch.Tensor) -> torch.Tensor | None:
        return tags if self.D.project is not None else None

    def d_step(self, sketch: torch.Tensor, target: torch.Tensor, fake: torch.Tensor, tags: torch.Tensor) -> dict[str, float]:
        """Update D on real pairs and on the generator's (detached) output.

        Real and fake go through D as one batch: one forward per step, which DDP needs, and
        BatchNorm sees both, so its statistics cannot tell them apart.
        """
        t = self._d_tags(tags)
        with self._autocast():
            logits = self.D_train(torch.cat([sketch, sketch]), torch.cat([target, fake.detach()]),
                                  None if t is None else torch.cat([t, t]))
            real, fake_logits = logits.float().chunk(2)
            loss = self.gan.discriminator(real, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_d)
        return {"Loss/D": loss.item(), "D/real": real.mean().item(), "D/fake": fake_logits.mean().item()}

    def g_step(self, sketch: torch.Tensor, target: torch.Tensor, fake: torch.Tensor, tags: torch.Tensor) -> dict[str, float]:
        """Update G to fool D and to match the target in L1 (weighted by ``l1_lambda``)."""
        self.D.requires_grad_(False)  # D is only a critic here: no gradients for its weights
        with self._autocast():
            adversarial = self.gan.generator(self.D(sketch, fake, self._d_tags(tags)).float())
            l1 = F.l1_loss(fake.float(), target)
            loss = adversarial + self.config.l1_lambda * l1
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_g)
        self.D.requires_grad_(True)
        return {"Loss/G_GAN": adversarial.item(), "Loss/G_L1": l1.item(), "Loss/G_total": loss.item()}

    def train_step(self, batch: dict[str, Any]) -> tuple[dict[str, float], torch.Tensor]:
        cfg = self.config
        cl = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        sketch = batch["sketch"].to(self.device, non_blocking=True).contiguous(memory_format=cl)
        target = batch["target"].to(self.device, non_blocking=True).contiguous(memory_format=cl)
        tag_sets = drop_tags(batch["tags"], cfg.tag_dropout_set, cfg.tag_dropout_each, self.rng)
        if cfg.monochrome > 0:
            target, tag_sets = desaturate_some(target, tag_sets, cfg.monochrome, self.rng)
        tags = self.table.pool(tag_sets)
        with self._autocast():
            fake = self.G_train(sketch, tags if self.G.conditioning != "none" else None)
        losses = self.d_step(sketch, target, fake, tags)
        losses |= self.g_step(sketch, target, fake, tags)
        self.scaler.update()
        return losses, fake

    # -- the loop ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain data."""
        return {
            "config": self.config.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "encoder": self.table.identity,
            "vocab": list(self.table.vocab),
            "vectors": self.table.vectors.cpu(),
        }

    def save(self) -> Path | None:
        """Checkpoint (rotated) and refresh the export; main process only."""
        if not self.dist.main:
            return None
        path = save_checkpoint(self.run_dir / "checkpoints", self.step, self.state(), keep_last=self.config.keep_last)
        export_model(self.run_dir / "export", self.G.state_dict(), self.config.model.__dict__, list(self.table.vocab),
                     self.table.vectors, self.table.identity, self.step)
        return path

    def _loader(self) -> DataLoader:
        cfg = self.config
        sampler = DistributedSampler(self.dataset, seed=cfg.seed) if self.dist.enabled else None
        generator = torch.Generator().manual_seed(cfg.seed + self.step)
        return DataLoader(self.dataset, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                          num_workers=cfg.workers, collate_fn=collate_pairs, drop_last=len(self.dataset) >= cfg.batch_size,
                          pin_memory=self.device.type == "cuda", persistent_workers=cfg.workers > 0,
                          generator=generator)

    def _batches(self, loader: DataLoader):
        epoch = self.step * self.config.batch_size * self.dist.world // max(1, len(self.dataset))
        while True:
            if isinstance(loader.sampler, DistributedSampler):
                loader.sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    def _on_sigint(self, signum, frame) -> None:
        if self._stop:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop = True
        if self.dist.main:
            tqdm.write("Ctrl-C: finishing this step and saving a checkpoint (press again to quit at once).",
                       file=sys.stderr)

    def train(self) -> Path | None:
        """Run until ``config.steps``; return the last checkpoint's path (main process)."""
        cfg = self.config
        writer = None
        if self.dist.main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.run_dir / "tb"))
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        bar = tqdm(total=cfg.steps, initial=self.step, desc=self.run_dir.name if self.run_dir else "train",
                   unit="step", disable=not self.progress, file=sys.stderr, dynamic_ncols=True)
        loader = self._loader()
        batches = self._batches(loader)
        last_saved, losses = None, {}
        self.G_train.train(), self.D_train.train()
        tick, seen = time.perf_counter(), 0
        try:
            while self.step < cfg.steps and not self._stop:
                try:
                    batch = next(batches)
                except RuntimeError:  # a DataLoader worker hit by the same Ctrl-C
                    if self._stop:
                        break
                    raise
                losses, fake = self.train_step(batch)
                self.step += 1
                seen += len(batch["id"]) * self.dist.world
                bar.update()
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    rate = seen / max(1e-9, time.perf_counter() - tick)
                    tick, seen = time.perf_counter(), 0
                    losses = {k: self.dist.mean(v) for k, v in losses.items()}
                    bar.set_postfix({"D": f"{losses['Loss/D']:.3f}", "G_L1": f"{losses['Loss/G_L1']:.3f}",
                                     "img/s": f"{rate:.1f}"})
                    if writer is not None:
                        for key, value in losses.items():
                            writer.add_scalar(key, value, self.step)
                        writer.add_scalar("Speed/images_per_s", rate, self.step)
                if writer is not None and (self.step % cfg.image_every == 0 or self.step == 1):
                    grid = sample_grid(batch["sketch"], fake, batch["target"], batch["tags"])
                    writer.add_image("Samples/sketch_output_target", grid, self.step, dataformats="HWC")
                if self.step % cfg.save_every == 0:
                    last_saved = self.save()
        finally:
            signal.signal(signal.SIGINT, previous)
            bar.close()
        last_saved = self.save() if self.dist.main else None
        if writer is not None:
            flat = {k: v for k, v in cfg.to_dict().items() if isinstance(v, int | float | str | bool)}
            flat |= {f"model.{k}": v for k, v in cfg.model.__dict__.items() if isinstance(v, int | float | str | bool)}
            writer.add_hparams(flat, {"hparam/G_L1": losses.get("Loss/G_L1", float("nan"))},
                               run_name="hparams")
            writer.close()
        if self._stop and self.dist.main:
            tqdm.write(f"Stopped at step {self.step}; saved {last_saved}. Resume with --resume latest.", file=sys.stderr)
        self.dist.barrier()
        return last_saved
