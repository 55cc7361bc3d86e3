"""GAN objectives for the patch discriminator: ``vanilla``, ``lsgan`` and ``hinge``.

    loss = GANLoss("vanilla")
    d_loss = loss.discriminator(real_logits, fake_logits)
    g_loss = loss.generator(fake_logits)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["GAN_LOSSES", "GANLoss"]

GAN_LOSSES = ("vanilla", "lsgan", "hinge")


class GANLoss:
    """The adversarial terms of one GAN objective.

    * ``vanilla``: binary cross-entropy on logits (pix2pix's default).
    * ``lsgan``: least squares toward 1 (real) and 0 (fake).
    * ``hinge``: ``relu(1 - real) + relu(1 + fake)`` for D, ``-fake`` for G.
    """

    def __init__(self, kind: str = "vanilla"):
        if kind not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {kind!r}; choose from {', '.join(GAN_LOSSES)}")
        self.kind = kind

    def _toward(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's loss: real patches toward real, generated ones toward fake (averaged halves)."""
        if self.kind == "hinge":
            return 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
        return 0.5 * (self._toward(real, True) + self._toward(fake, False))

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """G's adversarial loss: make D call its output real."""
        if self.kind == "hinge":
            return -fake.mean()
        return self._toward(fake, True)
