"""Watch a generator while it trains: variant accuracy and ΔE2000 on a fixed set of val samples.

:class:`VariantProbe` loads, once, every row of the split that belongs to a variant group
(one drawing, several colourings), at the model's size. Each call colours them all with
their own tags and scores them exactly as ``colorize evaluate`` does
(:func:`colorize.eval.evaluate.score`): variant accuracy over the groups, and mean
CIEDE2000 and L1 over the same rows. At 64 px this takes a few seconds on two cores.

A split with no variant groups (every drawing coloured once, as in an Openclipart import)
has no variant accuracy to give; the probe then scores a fixed, evenly spread subset of
``sample`` of its rows for ΔE2000 and L1 alone, which costs next to nothing.

With ``redraw`` the same rows are scored a second time on line art made by one of the
import extractors (``xdog``, ``dilate``, ``adaptive``) from the colour image: lines the
model never trained on (``xdog_variant_accuracy``, or ``xdog_delta_e`` without groups).

    probe = VariantProbe("data/openmoji", split="val", size=64)
    figures = probe(G, table)   # {"variant_accuracy": 0.91, "delta_e": 4.2, "l1": 0.03}
"""

from __future__ import annotations

import os
from collections import Counter

import torch

from colorize.data.dataset import to_image, to_tensor
from colorize.data.manifest import Manifest
from colorize.eval.evaluate import load_split, redraw_sketches, score
from colorize.eval.metrics import variant_groups

__all__ = ["VariantProbe"]


class VariantProbe:
    """Variant accuracy, ΔE2000 and L1 of a generator on a split's variant groups (flags excluded),
    or ΔE2000 and L1 on ``sample`` of its rows when it has no variant groups."""

    def __init__(self, data: str | os.PathLike, split: str = "val", size: int = 256, redraw: str | None = None,
                 batch_size: int = 32, sample: int = 64):
        rows = [r for r in Manifest(data, split=split) if not r.get("is_flag")]
        count = Counter(r.get("drawing") or r["id"] for r in rows)
        # only rows whose drawing comes more than once can be in a group: the others are not decoded
        shared = {r["id"] for r in rows if count[r.get("drawing") or r["id"]] > 1}
        self.rows, sketches, colours = [], {}, {}
        if shared:
            loaded, sketches, colours = load_split(data, split, size, ids=shared)
            members = {i for group in variant_groups(loaded, colours) for i in group}
            self.rows = [r for r in loaded if r["id"] in members]
        self.groups = bool(self.rows)
        if not self.groups and rows and sample > 0:  # an evenly spread, fixed subset: ΔE2000 and L1 only
            n = min(sample, len(rows))
            self.rows, sketches, colours = load_split(data, split, size, ids={rows[i * len(rows) // n]["id"]
                                                                               for i in range(n)})
        self.colours = {r["id"]: colours[r["id"]] for r in self.rows}
        self.sketches = {"": {r["id"]: sketches[r["id"]] for r in self.rows}}
        if redraw and self.rows:
            self.sketches[redraw] = redraw_sketches(data, self.rows, size, redraw)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.rows)

    @torch.no_grad()
    def __call__(self, G: torch.nn.Module, table, device: torch.device | str = "cpu") -> dict[str, float]:
        """``G`` in eval mode over the probe rows; figures keyed ``variant_accuracy`` (with groups),
        ``delta_e``, ``l1`` and, with a redraw, ``EXTRACTOR_variant_accuracy`` (``EXTRACTOR_delta_e``
        without groups). Empty when the split has no rows to score."""
        if not self.rows:
            return {}
        was_training = G.training
        G.eval()
        figures: dict[str, float] = {}
        try:
            for name, sketches in self.sketches.items():
                outputs = {}
                for start in range(0, len(self.rows), self.batch_size):
                    chunk = self.rows[start:start + self.batch_size]
                    batch = torch.stack([to_tensor(sketches[r["id"]]) for r in chunk]).to(device)
                    tokens, mask = table.tokens([r["tags"] for r in chunk])
                    out = G(batch, tokens.to(device), mask.to(device))
                    outputs.update({r["id"]: to_image(o) for r, o in zip(chunk, out, strict=True)})
                result = score(self.rows, outputs, self.colours)
                prefix = f"{name}_" if name else ""
                if self.groups and result["variant"]["accuracy"] is not None:
                    figures[f"{prefix}variant_accuracy"] = result["variant"]["accuracy"]
                if not name:
                    figures["delta_e"], figures["l1"] = result["delta_e"], result["l1"]
                elif not self.groups:
                    figures[f"{prefix}delta_e"] = result["delta_e"]
        finally:
            G.train(was_training)
        return figures
