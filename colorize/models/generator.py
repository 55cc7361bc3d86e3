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
* ``tokens``: every tag stays a token of its own. A trainable per-tag MLP maps each
  frozen sentence vector to a token, so near-identical vectors ("light skin tone" and
  "dark skin tone", cosine 0.88) can be pulled apart. The decoder blocks at the coarse
  levels (``attn_size`` px and below) read the tokens by cross-attention, so each region
  can attend to the tag that concerns it (the queries know their position, so a tag that
  names a side, "dark skin tone on the left", can act on that side), and FiLM on every
  decoder block takes the mean of the projected tokens. A learned null token is always
  there to attend to, so an empty tag set is well defined. Tags have no positions: the
  order of tags never changes the result (which person has which tone is said in the tag text itself, see
  :func:`colorize.data.tags.place_tones`).
* ``none``: plain pix2pix; tags are ignored.

Tags come as tokens ``[B, T, tag_dim]`` with a mask ``[B, T]`` (True = a real tag), as
:meth:`colorize.text.encoder.TagTable.tokens` makes them, or already pooled as
``[B, tag_dim]``. ``channel`` and ``film`` read the masked mean of the tokens, which is
the same vector as the pooled set.

    G = UnetGenerator(ngf=64, levels=8, conditioning="tokens", tag_dim=384)
    fake = G(sketch, tokens, mask)   # [B, 3, 256, 256], [B, T, 384], [B, T] -> [B, 3, 256, 256]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CONDITIONING", "CrossAttention", "TagProjector", "UnetGenerator", "as_tokens", "masked_mean", "norm_layer",
           "position_features"]

CONDITIONING = ("channel", "film", "tokens", "none")


def as_tokens(tags: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, D]`` pooled tags or ``[B, T, D]`` tokens -> (tokens ``[B, T, D]``, bool mask ``[B, T]``)."""
    if tags.ndim == 2:
        tags = tags[:, None]
    assert tags.ndim == 3, f"tags must be [B, D] or [B, T, D], got {tuple(tags.shape)}"
    if mask is None:
        mask = torch.ones(tags.shape[:2], dtype=torch.bool, device=tags.device)
    assert mask.shape == tags.shape[:2], f"mask {tuple(mask.shape)} does not match tags {tuple(tags.shape)}"
    return tags, mask.bool()


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid tokens of each row ``[B, T, D] -> [B, D]``; zeros for a row with none."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class TagProjector(nn.Module):
    """A trainable map applied to every tag token on its own: frozen vector -> ``dim``."""

    def __init__(self, tag_dim: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(tag_dim, dim), nn.SiLU(), nn.Linear(dim, dim), nn.LayerNorm(dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens.float())


def position_features(h: int, w: int, device: torch.device, dtype: torch.dtype, frequencies: int = 2) -> torch.Tensor:
    """Where each position is: x, y in [-1, 1] and their sines and cosines, ``[1, 2 + 4 * frequencies, h, w]``."""
    ys = torch.linspace(-1, 1, h, device=device, dtype=dtype)[:, None].expand(h, w)
    xs = torch.linspace(-1, 1, w, device=device, dtype=dtype)[None, :].expand(h, w)
    features = [xs, ys]
    for k in range(frequencies):
        for grid in (xs, ys):
            features += [torch.sin(math.pi * 2 ** k * grid), torch.cos(math.pi * 2 ** k * grid)]
    return torch.stack(features)[None]


class CrossAttention(nn.Module):
    """Each position of a feature map attends to the tag tokens; the result is added back.

    The queries also know where they are (:func:`position_features`), so a tag that names
    a place ("dark skin tone on the left") can act on that side of the picture only. The
    output projection starts at zero, so the block starts as the identity.
    """

    POSITION_FREQUENCIES = 2

    def __init__(self, channels: int, token_dim: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        inner = max(heads, (channels // heads) * heads)
        self.norm = nn.GroupNorm(min(8, channels), channels)
        self.q = nn.Conv2d(channels, inner, 1, bias=False)
        self.q_position = nn.Conv2d(2 + 4 * self.POSITION_FREQUENCIES, inner, 1, bias=False)
        self.kv = nn.Linear(token_dim, 2 * inner, bias=False)
        self.out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        where = position_features(h, w, x.device, x.dtype, self.POSITION_FREQUENCIES)
        q = (self.q(self.norm(x)) + self.q_position(where)).flatten(2).transpose(1, 2)  # [B, HW, inner]
        k, v = self.kv(tokens.to(x.dtype)).chunk(2, dim=-1)                               # [B, T, inner]
        split = lambda t: t.unflatten(-1, (self.heads, -1)).transpose(1, 2)               # noqa: E731  [B, heads, N, d]
        attended = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask[:, None, None, :])
        attended = attended.transpose(1, 2).flatten(2).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.out(attended)


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
        conditioning: ``channel``, ``film``, ``tokens`` or ``none`` (see module docstring).
        tag_dim: size of the tag embedding (384 for all-MiniLM-L6-v2).
        cond_dim: hidden size of the FiLM MLP, and the token width in ``tokens`` mode.
        grid: side of the coarse tag plane in ``channel`` mode.
        attn_size: in ``tokens`` mode, decoder blocks whose output is this many pixels a
            side or fewer read the tokens by cross-attention.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, levels: int = 8,
                 norm: str = "batch", dropout: bool = True, conditioning: str = "channel",
                 tag_dim: int = 384, cond_dim: int = 256, grid: int = 16, attn_size: int = 16):
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
        if conditioning == "tokens":
            self.tag_proj = TagProjector(tag_dim, cond_dim)
            self.null_token = nn.Parameter(torch.zeros(1, 1, cond_dim))
            self.cond_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU())
            # decoder block i (i >= 1) outputs a map of side 2 ** (levels - i) for a 2 ** levels input
            self.attn_levels = [i for i in range(levels - 1, 0, -1) if 2 ** (levels - i) <= attn_size]
            self.attn = nn.ModuleDict({str(i): CrossAttention(widths[i - 1], cond_dim) for i in self.attn_levels})
        if conditioning in ("film", "tokens"):
            # the bottleneck, then the output of every decoder block but the last
            self.film = nn.ModuleList([FiLM(cond_dim, widths[-1])] + [FiLM(cond_dim, widths[i - 1]) for i in range(levels - 1, 0, -1)])

    def forward(self, sketch: torch.Tensor, tags: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """``sketch`` [B, C, H, W] in [-1, 1], tags [B, T, tag_dim] (or [B, tag_dim]) and their
        mask [B, T] -> colours [B, 3, H, W] in [-1, 1]."""
        b, _, h, w = sketch.shape
        assert h % (2 ** self.levels) == 0 and w % (2 ** self.levels) == 0, \
            f"sketch {h}x{w} must be divisible by 2**levels = {2 ** self.levels}"
        cond, tokens = None, None
        if self.conditioning != "none":
            assert tags is not None and tags.shape[0] == b and tags.shape[-1] == self.tag_dim, \
                f"tags must be [B={b}, T, {self.tag_dim}], got {None if tags is None else tuple(tags.shape)}"
            tags, mask = as_tokens(tags.float(), mask)
            if self.conditioning == "tokens":
                tokens = torch.cat([self.null_token.expand(b, -1, -1), self.tag_proj(tags)], dim=1)
                mask = torch.cat([mask.new_ones(b, 1), mask], dim=1)
                cond = self.cond_mlp(masked_mean(tokens, mask))
            elif self.conditioning == "film":
                cond = self.cond_mlp(masked_mean(tags, mask))
        x = sketch
        if self.conditioning == "channel":
            pooled = masked_mean(tags, mask)
            plane = self.tag_plane(pooled.to(sketch.dtype)).view(b, 1, self.grid, self.grid)
            x = torch.cat([x, F.interpolate(plane, size=(h, w), mode="bilinear", align_corners=False)], dim=1)

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
                if tokens is not None and str(i) in self.attn:
                    x = self.attn[str(i)](x, tokens, mask)
                x = torch.cat([skips.pop(), x], dim=1)
        return x
