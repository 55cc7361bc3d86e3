"""The order of training batches, as a pure function of (seed, batch number).

:class:`BatchPlan` lays out epoch after epoch of batches: each epoch is a fresh shuffle
seeded by ``(seed, epoch)``. Batch ``n`` is therefore the same batch whenever it is asked
for, so a resumed run starts at the batch after its last step instead of reshuffling
(:meth:`BatchPlan.batches` with ``start``). Under DDP each rank takes its own share of
every global batch.

With ``group > 1`` the shuffle moves whole drawings: up to ``group`` colourings of one
line drawing sit in the same batch, so each step sees the same lines under different tags.

    plan = BatchPlan(drawings, batch_size=16, seed=0, group=4)
    loader = DataLoader(dataset, batch_sampler=plan.batches(start=step), ...)
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence

__all__ = ["BatchPlan"]


class BatchPlan:
    """Endless, reproducible batches of dataset indices.

    Args:
        drawings: each index's drawing id (indices with the same id share line art).
        batch_size: indices per batch, over all ranks.
        seed: the shuffle's seed.
        group: how many colourings of one drawing to keep together (1: plain shuffle).
        rank, world: this process's share under DDP.
    """

    def __init__(self, drawings: Sequence[str], batch_size: int, seed: int = 0, group: int = 1,
                 rank: int = 0, world: int = 1):
        if batch_size < 1 or group < 1:
            raise ValueError(f"batch_size and group must be at least 1, got {batch_size} and {group}")
        self.size, self.batch_size, self.seed, self.group = len(drawings), batch_size, seed, group
        self.rank, self.world = rank, world
        by_drawing: dict[str, list[int]] = defaultdict(list)
        for i, drawing in enumerate(drawings):
            by_drawing[drawing].append(i)
        self._drawings = list(by_drawing.values())

    def epoch(self, epoch: int) -> list[int]:
        """Every index once, in the order of ``epoch``."""
        rng = random.Random(self.seed * 1_000_003 + epoch)
        if self.group == 1:
            order = list(range(self.size))
            rng.shuffle(order)
            return order
        chunks = []
        for members in self._drawings:
            members = members[:]
            rng.shuffle(members)
            chunks += [members[i:i + self.group] for i in range(0, len(members), self.group)]
        rng.shuffle(chunks)
        return [i for chunk in chunks for i in chunk]

    def batches_per_epoch(self) -> int:
        return max(1, self.size // self.batch_size)

    def batches(self, start: int = 0) -> Iterator[list[int]]:
        """This rank's part of batches ``start``, ``start + 1``, ... without end.

        A batch never spans two epochs; an epoch's last incomplete batch is dropped,
        unless the whole dataset is smaller than a batch.
        """
        per_epoch = self.batches_per_epoch()
        epoch, within = divmod(start, per_epoch)
        while True:
            order = self.epoch(epoch)
            for b in range(within, per_epoch):
                batch = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield batch[self.rank::self.world]
            epoch, within = epoch + 1, 0
