"""Building blocks shared by the generator, the conditioning modes and the discriminator.

Tags come as tokens ``[B, T, tag_dim]`` with a mask ``[B, T]`` (True = a real tag), as
:meth:`colorize.text.encoder.TagTable.tokens` makes them, or already pooled as
``[B, tag_dim]``; :func:`as_tokens` accepts both.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NORMS", "CrossAttention", "FiLM", "TagProjector", "as_tokens", "masked_mean", "norm_layer",
           "position_features"]


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


# The normalisation layers a network may use, by name: channels -> layer.
NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,  # pix2pix's default
    "instance": lambda channels: nn.InstanceNorm2d(channels, affine=True),
}


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The :data:`NORMS` layer ``kind`` for ``channels``; ``ValueError`` naming the choices otherwise."""
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; choose from {', '.join(NORMS)}")
    return NORMS[kind](channels)


class TagProjector(nn.Module):
    """A trainable map applied to every tag token on its own: frozen vector -> ``dim``."""

    def __init__(self, tag_dim: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(tag_dim, dim), nn.SiLU(), nn.Linear(dim, dim), nn.LayerNorm(dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens.float())


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
