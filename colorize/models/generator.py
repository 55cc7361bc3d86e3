"""The U-Net generator of pix2pix, conditioned on tags by one of the registered modes.

The shape is pix2pix's ``unet_256``: ``levels`` stride-2 convolutions down (8 at 256 px,
down to 1x1), the same number of transposed convolutions up, a skip connection at every
level, and dropout in the three decoder blocks under the bottleneck. Widths are
``ngf * (1, 2, 4, 8, 8, ...)``.

How tags get in is the job of a conditioning module (:mod:`colorize.models.conditioning`:
``channel``, ``film``, ``tokens``, or ``none`` for no module at all), held as ``self.cond``
and called at the input, the bottleneck and every decoder block.

Tags come as tokens ``[B, T, tag_dim]`` with a mask ``[B, T]`` (True = a real tag), as
:meth:`colorize.text.encoder.TagTable.tokens` makes them, or already pooled as
``[B, tag_dim]``. ``channel`` and ``film`` read the masked mean of the tokens, which is
the same vector as the pooled set. In mode ``none`` the tags are accepted and ignored.

    G = UnetGenerator(ngf=64, levels=8, conditioning="tokens", tag_dim=384)
    fake = G(sketch, tokens, mask)   # [B, 3, 256, 256], [B, T, 384], [B, T] -> [B, 3, 256, 256]
"""

from __future__ import annotations

import torch
from torch import nn

from colorize.models.conditioning import CONDITIONING, Spec, build_conditioning
from colorize.models.layers import as_tokens, norm_layer

__all__ = ["CONDITIONING", "LINES", "UnetGenerator"]

# Who draws the lines in the output: ``paint``, the network itself (pix2pix); ``multiply``,
# the network paints only the fills and the sketch is multiplied over them, as
# ``colorize run`` lays the lines over at full size.
LINES = ("paint", "multiply")


class UnetGenerator(nn.Module):
    """pix2pix U-Net, conditioned on tags by the module of ``conditioning``.

    Args:
        in_channels: sketch channels (3: RGB line art).
        out_channels: output channels (3: RGB).
        ngf: width of the first level; deeper levels are 2x, 4x, then 8x this.
        levels: down-sampling steps; the input side must be divisible by ``2 ** levels``
            (8 for 256 px, 6 for 64 px).
        norm: ``batch`` or ``instance``.
        dropout: dropout 0.5 in the three decoder blocks under the bottleneck, as pix2pix.
        conditioning: ``channel``, ``film``, ``tokens`` or ``none`` (see module docstring).
        tag_dim: size of the tag embedding (384 for all-MiniLM-L6-v2).
        cond_dim: hidden size of the FiLM MLP, and the token width in ``tokens`` mode.
        grid: side of the coarse tag plane in ``channel`` mode.
        attn_size: in ``tokens`` mode, decoder blocks whose output is this many pixels a
            side or fewer read the tokens by cross-attention.
        lines: ``paint`` (the network reproduces the sketch's lines, pix2pix) or
            ``multiply`` (it paints the fills under them, and the output is the fills times
            the sketch). With ``multiply`` the colour loss no longer asks the network to
            redraw lines it is given, and line-style augmentation no longer asks it to
            guess how thick the target's lines were.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, levels: int = 8,
                 norm: str = "batch", dropout: bool = True, conditioning: str = "channel",
                 tag_dim: int = 384, cond_dim: int = 256, grid: int = 16, attn_size: int = 16,
                 lines: str = "paint"):
        super().__init__()
        if lines not in LINES:
            raise ValueError(f"unknown lines {lines!r}; choose from {', '.join(LINES)}")
        if conditioning not in CONDITIONING:
            raise ValueError(f"unknown conditioning {conditioning!r}; choose from {', '.join(CONDITIONING)}")
        if levels < 2:
            raise ValueError(f"levels must be at least 2, got {levels}")
        self.conditioning, self.levels, self.tag_dim, self.lines = conditioning, levels, tag_dim, lines
        widths = [ngf * min(2 ** i, 8) for i in range(levels)]
        cond = build_conditioning(conditioning, Spec(widths=tuple(widths), levels=levels, tag_dim=tag_dim,
                                                     cond_dim=cond_dim, grid=grid, attn_size=attn_size))
        extra = 0 if cond is None else cond.extra_channels
        # Parameters are registered in the order they were before the modes became modules
        # (a mode that widens the input first, the others after the decoder), so the
        # optimiser state of older checkpoints still lines up.
        if extra:
            self.cond = cond
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
        if not extra:
            self.cond = cond

    def forward(self, sketch: torch.Tensor, tags: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                lines: torch.Tensor | None = None, compose: bool = True) -> torch.Tensor:
        """``sketch`` [B, C, H, W] in [-1, 1], tags [B, T, tag_dim] (or [B, tag_dim]) and their
        mask [B, T] -> colours [B, 3, H, W] in [-1, 1].

        In ``multiply`` mode the output is the fills times ``lines`` (default: the sketch
        itself; training passes the sketch from before line-style augmentation, the lines
        the target was drawn with). ``compose=False`` returns the fills alone, for laying
        lines over at another resolution.
        """
        b, _, h, w = sketch.shape
        assert h % (2 ** self.levels) == 0 and w % (2 ** self.levels) == 0, \
            f"sketch {h}x{w} must be divisible by 2**levels = {2 ** self.levels}"
        cond, state, x = self.cond, None, sketch
        if cond is not None:
            assert tags is not None and tags.shape[0] == b and tags.shape[-1] == self.tag_dim, \
                f"tags must be [B={b}, T, {self.tag_dim}], got {None if tags is None else tuple(tags.shape)}"
            state = cond.prepare(*as_tokens(tags.float(), mask))
            x = cond.input(sketch, state)

        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        if cond is not None:
            x = cond.bottleneck(x, state)
        for i in range(self.levels - 1, -1, -1):
            x = self.up[i](x)
            if i > 0:
                if cond is not None:
                    x = cond.decoder(i, x, state)
                x = torch.cat([skips.pop(), x], dim=1)
        if self.lines == "multiply" and compose:
            over = sketch[:, :3] if lines is None else lines.to(x.dtype)
            assert over.shape == x.shape, f"lines {tuple(over.shape)} must be [B, 3, H, W] like the output {tuple(x.shape)}"
            x = (x + 1) * (over + 1) / 2 - 1  # in [0, 1]: fills * lines
        return x
