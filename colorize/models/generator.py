"""The U-Net generator of pix2pix, with tag conditioning from a registry of modes.

The shape is pix2pix's ``unet_256``: ``levels`` stride-2 convolutions down (8 at 256 px,
down to 1x1), the same number of transposed convolutions up, a skip connection at every
level, and dropout in the three decoder blocks under the bottleneck. Widths are
``ngf * (1, 2, 4, 8, 8, ...)``.

Conditioning modes (:data:`CONDITIONING`):

* ``channel``: the seed design. A learned linear map lays the tag embedding out on a
  coarse ``grid`` x ``grid`` plane, which is upsampled to the sketch's size and stacked
  on it as a fourth input channel (256x256x4).
* ``film``: the embedding goes through a small MLP to a scale and shift for every
  channel of the bottleneck and of every decoder block (FiLM, in the spirit of Tag2Pix's
  SECat), so tag information reaches the decoder directly instead of surviving the
  encoder. The heads start at zero: training begins from plain pix2pix.
* ``none``: plain pix2pix; tags are ignored.

    G = UnetGenerator(ngf=64, levels=8, conditioning="film", tag_dim=384)
    fake = G(sketch, tags)        # [B, 3, 256, 256], [B, 384] -> [B, 3, 256, 256]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CONDITIONING", "UnetGenerator", "norm_layer"]

CONDITIONING = ("channel", "film", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (pix2pix's default) or ``instance`` normalisation; ``ValueError`` otherwise."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}; choose from batch, instance")


class FiLM(nn.Module):
    """Per-channel scale and shift from a condition vector: ``x * (1 + gamma) + beta``."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.to_gamma_beta = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.to_gamma_beta.weight)  # identity at start
        nn.init.zeros_(self.to_gamma_beta.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.to_gamma_beta(cond).to(x.dtype)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class UnetGenerator(nn.Module):
    """pix2pix U-Net, optionally conditioned on a pooled tag embedding.

    Args:
        in_channels: sketch channels (3: RGB line art).
        out_channels: output channels (3: RGB).
        ngf: width of the first level; deeper levels are 2x, 4x, then 8x this.
        levels: down-sampling steps; the input side must be divisible by ``2 ** levels``
            (8 for 256 px, 6 for 64 px).
        norm: ``batch`` or ``instance``.
        dropout: dropout 0.5 in the three decoder blocks under the bottleneck, as pix2pix.
        conditioning: ``channel``, ``film`` or ``none`` (see module docstring).
        tag_dim: size of the tag embedding (384 for all-MiniLM-L6-v2).
        cond_dim: hidden size of the FiLM MLP.
        grid: side of the coarse tag plane in ``channel`` mode.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, levels: int = 8,
                 norm: str = "batch", dropout: bool = True, conditioning: str = "channel",
                 tag_dim: int = 384, cond_dim: int = 256, grid: int = 16):
        super().__init__()
        if conditioning not in CONDITIONING:
            raise ValueError(f"unknown conditioning {conditioning!r}; choose from {', '.join(CONDITIONING)}")
        if levels < 2:
            raise ValueError(f"levels must be at least 2, got {levels}")
        self.conditioning, self.levels, self.tag_dim, self.grid = conditioning, levels, tag_dim, grid
        widths = [ngf * min(2 ** i, 8) for i in range(levels)]

        extra = 1 if conditioning == "channel" else 0
        if conditioning == "channel":
            self.tag_plane = nn.Linear(tag_dim, grid * grid)
        self.down = nn.ModuleList([nn.Conv2d(in_channels + extra, widths[0], 4, 2, 1)])
        for i in range(1, levels):
            innermost = i == levels - 1
            self.down.append(nn.Sequential(
                nn.LeakyReLU(0.2, inplace=True),  # as pix2pix: the skip then carries the activated map
                nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=innermost),
                *([] if innermost else [norm_layer(norm, widths[i])]),
            ))
        # up[i] maps level i's features (concatenated with the skip, except at the bottleneck)
        # to level i-1's width; up[0] produces the image.
        self.up = nn.ModuleList()
        for i in range(levels):
            innermost, outermost = i == levels - 1, i == 0
            c_in = widths[i] if innermost else 2 * widths[i]
            if outermost:
                self.up.append(nn.Sequential(nn.ReLU(inplace=True), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()))
            else:
                drop = dropout and levels - 4 <= i < levels - 1
                self.up.append(nn.Sequential(
                    nn.ReLU(inplace=True),
                    nn.ConvTranspose2d(c_in, widths[i - 1], 4, 2, 1, bias=False),
                    norm_layer(norm, widths[i - 1]),
                    *([nn.Dropout(0.5)] if drop else []),
                ))
        if conditioning == "film":
            self.cond_mlp = nn.Sequential(nn.Linear(tag_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim), nn.SiLU())
            # the bottleneck, then the output of every decoder block but the last
            self.film = nn.ModuleList([FiLM(cond_dim, widths[-1])] + [FiLM(cond_dim, widths[i - 1]) for i in range(levels - 1, 0, -1)])

    def forward(self, sketch: torch.Tensor, tags: torch.Tensor | None = None) -> torch.Tensor:
        """``sketch`` [B, C, H, W] in [-1, 1] and ``tags`` [B, tag_dim] -> colours [B, 3, H, W] in [-1, 1]."""
        b, _, h, w = sketch.shape
        assert h % (2 ** self.levels) == 0 and w % (2 ** self.levels) == 0, \
            f"sketch {h}x{w} must be divisible by 2**levels = {2 ** self.levels}"
        if self.conditioning != "none":
            assert tags is not None and tags.shape == (b, self.tag_dim), \
                f"tags must be [B={b}, {self.tag_dim}], got {None if tags is None else tuple(tags.shape)}"
        x = sketch
        if self.conditioning == "channel":
            plane = self.tag_plane(tags.to(sketch.dtype)).view(b, 1, self.grid, self.grid)
            x = torch.cat([x, F.interpolate(plane, size=(h, w), mode="bilinear", align_corners=False)], dim=1)
        cond = self.cond_mlp(tags.float()) if self.conditioning == "film" else None

        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        films = iter(self.film) if cond is not None else None
        x = skips.pop()
        if films is not None:
            x = next(films)(x, cond)
        for i in range(self.levels - 1, -1, -1):
            x = self.up[i](x)
            if i > 0:
                if films is not None:
                    x = next(films)(x, cond)
                x = torch.cat([skips.pop(), x], dim=1)
        return x
