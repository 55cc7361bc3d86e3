"""The interface every conditioning mode implements, and the U-Net facts it is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["Conditioning", "Spec"]


@dataclass(frozen=True)
class Spec:
    """What a mode needs to know about the U-Net it conditions.

    ``widths[i]`` is the channel count of encoder level ``i``; decoder block ``i`` (for
    ``i >= 1``) outputs ``widths[i - 1]`` channels on a map of side ``2 ** (levels - i)``
    for a ``2 ** levels`` input.
    """

    widths: tuple[int, ...]
    levels: int
    tag_dim: int = 384
    cond_dim: int = 256   # FiLM MLP width; the token width in tokens mode
    grid: int = 16        # channel mode: side of the coarse tag plane
    attn_size: int = 16   # tokens mode: cross-attention in decoder blocks of this side or less


class Conditioning(nn.Module):
    """A conditioning mode. The generator calls, for every forward pass:

    1. ``state = prepare(tokens, mask)``: tags ``[B, T, tag_dim]`` and mask ``[B, T]`` to
       whatever the other hooks need;
    2. ``input(sketch, state)``: the tensor the encoder reads (``extra_channels`` more
       channels than the sketch);
    3. ``bottleneck(x, state)``: the innermost features;
    4. ``decoder(i, x, state)``: the output of decoder block ``i``, for ``i = levels - 1 .. 1``.

    Every hook but ``prepare`` defaults to the identity.
    """

    extra_channels: int = 0

    def prepare(self, tokens: torch.Tensor, mask: torch.Tensor) -> Any:
        raise NotImplementedError

    def input(self, sketch: torch.Tensor, state: Any) -> torch.Tensor:
        return sketch

    def bottleneck(self, x: torch.Tensor, state: Any) -> torch.Tensor:
        return x

    def decoder(self, i: int, x: torch.Tensor, state: Any) -> torch.Tensor:
        return x
