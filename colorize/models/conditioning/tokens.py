"""``tokens``: every tag stays a token of its own.

A trainable per-tag MLP maps each frozen sentence vector to a token, so near-identical
vectors ("light skin tone" and "dark skin tone", cosine 0.88) can be pulled apart. The
decoder blocks at the coarse levels (``attn_size`` px and below) read the tokens by
cross-attention, so each region can attend to the tag that concerns it; the queries know
their position, so a tag that names a side ("dark skin tone on the left") can act on that
side. FiLM on every decoder block takes the mean of the projected tokens. A learned null
token is always there to attend to, so an empty tag set is well defined. Tags have no
positions: their order never changes the result (which person has which tone is said in
the tag text itself, see :func:`colorize.data.tags.place_tones`).
"""

from __future__ import annotations

import torch
from torch import nn

from colorize.models.conditioning.base import Conditioning, Spec
from colorize.models.conditioning.film import film_heads
from colorize.models.layers import CrossAttention, TagProjector, masked_mean

__all__ = ["TokensConditioning"]


class TokensConditioning(Conditioning):
    def __init__(self, spec: Spec):
        super().__init__()
        self.levels = spec.levels
        self.tag_proj = TagProjector(spec.tag_dim, spec.cond_dim)
        self.null_token = nn.Parameter(torch.zeros(1, 1, spec.cond_dim))
        self.cond_mlp = nn.Sequential(nn.Linear(spec.cond_dim, spec.cond_dim), nn.SiLU())
        # decoder block i (i >= 1) outputs a map of side 2 ** (levels - i)
        self.attn_levels = [i for i in range(spec.levels - 1, 0, -1) if 2 ** (spec.levels - i) <= spec.attn_size]
        self.attn = nn.ModuleDict({str(i): CrossAttention(spec.widths[i - 1], spec.cond_dim) for i in self.attn_levels})
        self.film = film_heads(spec)

    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = tokens.shape[0]
        tokens = torch.cat([self.null_token.expand(b, -1, -1), self.tag_proj(tokens)], dim=1)
        mask = torch.cat([mask.new_ones(b, 1), mask], dim=1)
        return tokens, mask, self.cond_mlp(masked_mean(tokens, mask))

    def bottleneck(self, x: torch.Tensor, state: tuple) -> torch.Tensor:
        return self.film[0](x, state[2])

    def decoder(self, i: int, x: torch.Tensor, state: tuple) -> torch.Tensor:
        tokens, mask, cond = state
        x = self.film[self.levels - i](x, cond)
        if str(i) in self.attn:
            x = self.attn[str(i)](x, tokens, mask)
        return x
