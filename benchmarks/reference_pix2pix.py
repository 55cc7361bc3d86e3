"""A plain pix2pix for benchmarks: the reference U-Net / PatchGAN written the reference way.

The recursive ``UnetSkipConnectionBlock`` construction, ``NLayerDiscriminator`` and the
reference training step (G forward; D on real and on fake in two separate calls; then G
with D frozen; BCE GAN loss + 100 x L1), with the same shapes as colorize's networks.
It is only the yardstick in ``train_speed.py`` and ``colorize run``'s speed benchmark.
"""

from __future__ import annotations

import torch
from torch import nn


class UnetBlock(nn.Module):
    def __init__(self, outer: int, inner: int, input_nc: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, dropout: bool = False, output_nc: int = 3):
        super().__init__()
        self.outermost = outermost
        input_nc = outer if input_nc is None else input_nc
        down = [nn.LeakyReLU(0.2, True), nn.Conv2d(input_nc, inner, 4, 2, 1, bias=False), nn.BatchNorm2d(inner)]
        if outermost:
            model = [nn.Conv2d(input_nc, inner, 4, 2, 1), sub, nn.ReLU(True),
                     nn.ConvTranspose2d(inner * 2, output_nc, 4, 2, 1), nn.Tanh()]
        elif innermost:
            model = [nn.LeakyReLU(0.2, True), nn.Conv2d(input_nc, inner, 4, 2, 1, bias=False), nn.ReLU(True),
                     nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        else:
            model = down + [sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False),
                            nn.BatchNorm2d(outer)] + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet(input_nc: int, ngf: int, levels: int) -> nn.Module:
    block = UnetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(levels - 5):
        block = UnetBlock(ngf * 8, ngf * 8, sub=block, dropout=True)
    block = UnetBlock(ngf * 4, ngf * 8, sub=block)
    block = UnetBlock(ngf * 2, ngf * 4, sub=block)
    block = UnetBlock(ngf, ngf * 2, sub=block)
    return UnetBlock(3, ngf, input_nc=input_nc, sub=block, outermost=True)


def patchgan(input_nc: int, ndf: int, n_layers: int = 3) -> nn.Module:
    layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2 if n < n_layers else 1, 1, bias=False),
                   nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


class ReferencePix2Pix:
    """The reference optimisation step on one batch."""

    def __init__(self, input_nc: int, ngf: int, ndf: int, levels: int):
        self.G, self.D = unet(input_nc, ngf, levels), patchgan(input_nc + 3, ndf)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce, self.l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()

    def step(self, a: torch.Tensor, b: torch.Tensor) -> None:
        fake = self.G(a)
        for p in self.D.parameters():
            p.requires_grad = True
        self.opt_d.zero_grad()
        pred_fake = self.D(torch.cat([a, fake.detach()], 1))
        pred_real = self.D(torch.cat([a, b], 1))
        loss_d = 0.5 * (self.bce(pred_fake, torch.zeros_like(pred_fake)) + self.bce(pred_real, torch.ones_like(pred_real)))
        loss_d.backward()
        self.opt_d.step()
        for p in self.D.parameters():
            p.requires_grad = False
        self.opt_g.zero_grad()
        pred = self.D(torch.cat([a, fake], 1))
        loss_g = self.bce(pred, torch.ones_like(pred)) + 100 * self.l1(fake, b)
        loss_g.backward()
        self.opt_g.step()
