"""``film``: the pooled tags modulate the decoder directly.

The masked mean of the tag vectors goes through a small MLP to a scale and shift for
every channel of the bottleneck and of every decoder block (FiLM, in the spirit of
Tag2Pix's SECat), so tag information reaches the decoder instead of having to survive
the encoder. The heads start at zero: training begins from plain pix2pix.
"""

from __future__ import annotations

import torch
from torch import nn

from colorize.models.conditioning.base import Conditioning, Spec
from colorize.models.layers import FiLM, masked_mean

__all__ = ["FilmConditioning", "film_heads"]


def film_heads(spec: Spec) -> nn.ModuleList:
    """One FiLM head for the bottleneck, then one for each decoder block ``levels - 1 .. 1``."""
    widths, levels = spec.widths, spec.levels
    return nn.ModuleList([FiLM(spec.cond_dim, widths[-1])] +
                         [FiLM(spec.cond_dim, widths[i - 1]) for i in range(levels - 1, 0, -1)])


class FilmConditioning(Conditioning):
    def __init__(self, spec: Spec):
        super().__init__()
        self.levels = spec.levels
        self.cond_mlp = nn.Sequential(nn.Linear(spec.tag_dim, spec.cond_dim), nn.SiLU(),
                                      nn.Linear(spec.cond_dim, spec.cond_dim), nn.SiLU())
        self.film = film_heads(spec)

    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.cond_mlp(masked_mean(tokens, mask))

    def bottleneck(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.film[0](x, cond)

    def decoder(self, i: int, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.film[self.levels - i](x, cond)
