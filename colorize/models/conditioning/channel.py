"""``channel``: the seed design (256x256x4).

A learned linear map lays the pooled tag embedding out on a coarse ``grid`` x ``grid``
plane, which is upsampled to the sketch's size and stacked on it as a fourth channel.
The encoder must carry the tags from there on, which is why the seed post feared the CNN
would crush them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorize.models.conditioning.base import Conditioning, Spec
from colorize.models.layers import masked_mean

__all__ = ["ChannelConditioning"]


class ChannelConditioning(Conditioning):
    extra_channels = 1

    def __init__(self, spec: Spec):
        super().__init__()
        self.grid = spec.grid
        self.tag_plane = nn.Linear(spec.tag_dim, spec.grid * spec.grid)

    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(tokens, mask)

    def input(self, sketch: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        b, _, h, w = sketch.shape
        plane = self.tag_plane(pooled.to(sketch.dtype)).view(b, 1, self.grid, self.grid)
        return torch.cat([sketch, F.interpolate(plane, size=(h, w), mode="bilinear", align_corners=False)], dim=1)
