"""The order of training batches, as a pure function of (seed, batch number).

:class:`BatchPlan` lays out epoch after epoch of batches: each epoch is a fresh shuffle
seeded by ``(seed, epoch)``. Batch ``n`` is therefore the same batch whenever it is asked
for, so a resumed run starts at the batch after its last step instead of reshuffling
(:meth:`BatchPlan.batches` with ``start``). Under DDP each rank takes its own share of
every global batch.

With ``group > 1`` the shuffle moves whole drawings: up to ``group`` colourings of one
line drawing sit in the same batch, so each step sees the same lines under different tags.

:class:`MixedBatchPlan` does the same over several datasets laid end to end (as in a
``ConcatDataset``): each sample of a batch comes from dataset ``i`` with probability
``weight_i / sum(weights)``, whatever the datasets' sizes, and each dataset is read in the
order of its own :class:`BatchPlan` epochs. It too is a pure function of (seed, batch number).

    plan = BatchPlan(drawings, batch_size=16, seed=0, group=4)
    loader = DataLoader(dataset, batch_sampler=plan.batches(start=step), ...)
    plan = MixedBatchPlan([openmoji_drawings, openclipart_drawings], weights=[1, 0.3], batch_size=16)
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence

__all__ = ["BatchPlan", "MixedBatchPlan"]


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


class MixedBatchPlan:
    """Endless, reproducible batches of indices into several datasets laid end to end.

    A batch is cut into units of ``group`` slots (the last one shorter when ``group`` does
    not divide the batch); each unit draws its dataset with probability proportional to its
    weight and takes the next ``group`` indices of that dataset's own order: its
    :class:`BatchPlan` epochs, every index once an epoch, one drawing's colourings side by
    side. How far each dataset has been read before batch ``n`` follows from the draws of
    the batches before it, so batch ``n`` is the same batch whenever it is asked for, and
    a resumed run continues both the mixture and every dataset's order. Drawing ids are
    only ever compared within one dataset, so two datasets may reuse them.

    With one dataset the batches are exactly :class:`BatchPlan`'s.

    Args:
        parts: for each dataset, each of its indices' drawing id.
        weights: each dataset's relative share of the samples (positive).
        batch_size, seed, group, rank, world: as for :class:`BatchPlan`.
    """

    BLOCK = 1024  # batches whose draws are made, and counted, together (so a resume replays n / 1024 seeds)

    def __init__(self, parts: Sequence[Sequence[str]], weights: Sequence[float], batch_size: int, seed: int = 0,
                 group: int = 1, rank: int = 0, world: int = 1):
        if len(parts) != len(weights) or not parts:
            raise ValueError(f"need one weight per dataset, got {len(parts)} dataset(s) and {len(weights)} weight(s)")
        if any(not (math.isfinite(w) and w > 0) for w in weights):
            raise ValueError(f"weights must be positive numbers, got {list(weights)}")
        # Shares of the largest weight: their sum stays at most the number of datasets, where
        # the raw sum of two weights of 1e308 would overflow to inf and send every draw to the last.
        top = max(weights)
        shares = [w / top for w in weights]
        if not all(share > 0 for share in shares):
            raise ValueError(f"weights {list(weights)} differ too much for the smallest to ever be drawn")
        if any(len(p) == 0 for p in parts):
            raise ValueError(f"every dataset needs at least one index; sizes {[len(p) for p in parts]}")
        self.batch_size, self.seed, self.group, self.rank, self.world = batch_size, seed, group, rank, world
        self.weights = [float(w) for w in shares]
        self.offsets = [0, *itertools.accumulate(len(p) for p in parts)][:-1]
        # distinct shuffles per dataset (for up to 1,000 of them); one dataset keeps BatchPlan's own
        self.plans = [BatchPlan(p, batch_size, seed=seed if len(parts) == 1 else seed * 1000 + i, group=group,
                                rank=rank, world=world) for i, p in enumerate(parts)]
        self.units = [min(group, batch_size - start) for start in range(0, batch_size, group)]
        self._cumulative = list(itertools.accumulate(self.weights))
        self._blocks: dict[int, tuple[list[list[int]], list[int]]] = {}

    def _block(self, block: int) -> tuple[list[list[int]], list[int]]:
        """The datasets of every unit of batches ``block * BLOCK ...``, and how many indices each dataset gives."""
        if block not in self._blocks:
            rng = random.Random(f"mix/{self.seed}/{block}")  # a str seed: the same on every platform and version
            total = self._cumulative[-1]
            last = len(self.weights) - 1
            draws = [[min(last, bisect.bisect_right(self._cumulative, rng.random() * total)) for _ in self.units]
                     for _ in range(self.BLOCK)]
            taken = [0] * len(self.weights)
            for units in draws:
                for dataset, size in zip(units, self.units, strict=True):
                    taken[dataset] += size
            if len(self._blocks) > 2:  # the loader only ever moves forward
                self._blocks.pop(min(self._blocks))
            self._blocks[block] = (draws, taken)
        return self._blocks[block]

    def shares(self, start: int, count: int) -> list[int]:
        """How many indices each dataset gives to batches ``start ... start + count - 1``, all ranks together."""
        taken = [0] * len(self.weights)
        for n in range(start, start + count):
            for dataset, size in zip(self._block(n // self.BLOCK)[0][n % self.BLOCK], self.units, strict=True):
                taken[dataset] += size
        return taken

    def _read_before(self, start: int) -> list[int]:
        """How many indices each dataset has given to the batches before ``start``."""
        block, within = divmod(start, self.BLOCK)
        read = [0] * len(self.weights)
        for b in range(block):
            read = [r + t for r, t in zip(read, self._block(b)[1], strict=True)]
        return [r + t for r, t in zip(read, self.shares(block * self.BLOCK, within), strict=True)]

    def batches(self, start: int = 0) -> Iterator[list[int]]:
        """This rank's part of batches ``start``, ``start + 1``, ... without end (indices into the datasets
        laid end to end). A dataset's epoch may end inside a batch; its next one then begins there."""
        if len(self.plans) == 1:
            yield from self.plans[0].batches(start)
            return
        read = self._read_before(start)
        orders: dict[tuple[int, int], list[int]] = {}  # (dataset, epoch) -> that epoch's order
        for n in itertools.count(start):
            batch = []
            for dataset, size in zip(self._block(n // self.BLOCK)[0][n % self.BLOCK], self.units, strict=True):
                plan, offset = self.plans[dataset], self.offsets[dataset]
                for position in range(read[dataset], read[dataset] + size):
                    epoch, at = divmod(position, plan.size)
                    if (dataset, epoch) not in orders:
                        orders = {k: v for k, v in orders.items() if k[0] != dataset or k[1] >= epoch - 1}
                        orders[dataset, epoch] = plan.epoch(epoch)
                    batch.append(offset + orders[dataset, epoch][at])
                read[dataset] += size
            yield batch[self.rank::self.world]
