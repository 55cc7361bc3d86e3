"""Many GPUs or machines through ``torchrun``: process-group set-up and rank helpers.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them everything here
is a no-op and training runs in one process.

    $ torchrun --nproc_per_node 4 -m colorize train --data data/openmoji
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Dist", "init_distributed"]


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank, the world size, and its local rank on the machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Only the main process logs, writes images and saves checkpoints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all processes (for logging)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.world


def init_distributed(device_type: str) -> Dist:
    """Join the process group if started by ``torchrun`` (NCCL on CUDA, gloo elsewhere)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))
