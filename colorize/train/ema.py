"""An exponential moving average of the generator's weights.

The average is often a better generator than the last step's weights, and a steadier one
to pick the best checkpoint from. Buffers (BatchNorm's running statistics) are copied,
not averaged. The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n``
updates, so the average follows the fast early changes instead of clinging to the
random initial weights for thousands of steps.

    ema = EMA(G, decay=0.999); ...; ema.update(G); ema.model(sketch, tokens, mask)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for average, current in zip(self.model.parameters(), model.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - decay)
        for average, current in zip(self.model.buffers(), model.buffers(), strict=True):
            average.copy_(current)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int = 0) -> None:
        self.model.load_state_dict(state)
        self.updates = updates
