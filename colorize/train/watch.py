"""Watch tag fidelity while training: variant accuracy and ΔE2000 on a fixed set of val drawings.

:class:`VariantProbe` loads, once, every row of the split that belongs to a variant group
(one drawing, several colourings), at the model's size. Each call colours them all with
their own tags and scores them exactly as ``colorize evaluate`` does
(:func:`colorize.eval.evaluate.score`): variant accuracy over the groups, and mean
CIEDE2000 over the same rows. At 64 px this takes a few seconds on two cores.

With ``redraw`` the same rows are scored a second time on line art made by one of the
import extractors (``xdog``, ``dilate``, ``adaptive``) from the colour image: lines the
model never trained on.

    probe = VariantProbe("data/openmoji", split="val", size=64)
    figures = probe(G, table)   # {"variant_accuracy": 0.91, "delta_e": 4.2, ...}
"""

from __future__ import annotations

import os

import torch

from colorize.data.dataset import to_image, to_tensor
from colorize.eval.evaluate import load_split, redraw_sketches, score
from colorize.eval.metrics import variant_groups

__all__ = ["VariantProbe"]


class VariantProbe:
    """Variant accuracy and ΔE2000 of a generator on a split's variant groups (flags excluded)."""

    def __init__(self, data: str | os.PathLike, split: str = "val", size: int = 256, redraw: str | None = None,
                 batch_size: int = 32):
        rows, sketches, colours = load_split(data, split, size)
        rows = [r for r in rows if not r.get("is_flag")]
        members = {i for group in variant_groups(rows, colours) for i in group}
        self.rows = [r for r in rows if r["id"] in members]
        self.colours = {r["id"]: colours[r["id"]] for r in self.rows}
        self.sketches = {"": {r["id"]: sketches[r["id"]] for r in self.rows}}
        if redraw:
            self.sketches[redraw] = redraw_sketches(data, self.rows, size, redraw)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.rows)

    @torch.no_grad()
    def __call__(self, G: torch.nn.Module, table, device: torch.device | str = "cpu") -> dict[str, float]:
        """``G`` in eval mode over the probe rows; figures keyed ``variant_accuracy``, ``delta_e``
        and, with a redraw, ``EXTRACTOR_variant_accuracy``."""
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
                figures[f"{prefix}variant_accuracy"] = result["variant"]["accuracy"]
                if not name:
                    figures["delta_e"] = result["delta_e"]
        finally:
            G.train(was_training)
        return figures
