"""A streaming PyTorch ``Dataset`` of sketch / colour / tags samples, read from a manifest.

Nothing is loaded up front beyond the manifest's row offsets: each ``__getitem__`` reads
one row and decodes its two PNGs, so memory does not grow with the size of the dataset.
Rows imported with ``--extract-at train`` have no stored sketch: their line art is
extracted from the colour image on every load, so each epoch sees fresh line styles.

A sample is a dict:
    ``sketch``  float32 [3, H, W] in [-1, 1], dark lines on white
    ``target``  float32 [3, H, W] in [-1, 1], the colour image
    ``tags``    list[str], canonical tags (possibly empty)
    ``id``      str

    ds = PairDataset("data/openmoji", split="train", augment=True)
    loader = DataLoader(ds, batch_size=8, collate_fn=collate_pairs)
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from colorize.data.augment import geometric, line_style
from colorize.data.extract import get_extractor
from colorize.data.manifest import Manifest

__all__ = ["PairDataset", "collate_pairs", "to_tensor", "to_image"]


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """float [3, H, W] in [-1, 1] -> uint8 [H, W, 3]; the inverse of :func:`to_tensor`."""
    assert tensor.ndim == 3 and tensor.shape[0] == 3, f"expected [3, H, W], got {tuple(tensor.shape)}"
    array = tensor.detach().float().cpu().add(1.0).mul(127.5).round().clamp(0, 255).byte()
    return array.permute(1, 2, 0).numpy()


class PairDataset(Dataset):
    """Samples of one or more splits of a dataset folder.

    Args:
        manifest: dataset folder or its ``manifest.jsonl``.
        split: ``'train'``, ``'val'``, ``'excluded'``, a tuple of them, or None for all rows.
        size: side to resize to; None keeps the stored size.
        augment: apply :mod:`colorize.data.augment` (geometry to both, line style to the sketch).
        extractor: line extractor for rows without a stored sketch; None uses the one each
            row names (``mixed`` if it names none).
    """

    def __init__(self, manifest: str | os.PathLike, split: str | tuple[str, ...] | None = "train",
                 size: int | None = None, augment: bool = False, extractor: str | None = None):
        self.rows = Manifest(manifest, split=split)
        self.size = size
        self.augment = augment
        self.extractor = None if extractor is None else get_extractor(extractor)
        self._geometric = geometric() if augment else None
        self._line_style = line_style() if augment else None

    def __len__(self) -> int:
        return len(self.rows)

    def _read(self, row: dict, key: str) -> np.ndarray:
        path = self.rows.image_path(row, key)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"{path}: missing or unreadable {key} image of row {row['id']!r}. "
                          f"Rebuild the dataset (re-running the build command repairs it).")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if self.size is not None and rgb.shape[:2] != (self.size, self.size):
            rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return rgb

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        target = self._read(row, "color")
        if row["sketch"] is None:
            extract = self.extractor or get_extractor(row.get("extractor") or "mixed")
            sketch = extract(target)
        else:
            sketch = self._read(row, "sketch")
        if sketch.shape != target.shape:
            raise ValueError(f"row {row['id']!r}: sketch is {sketch.shape[:2]} but colour image is "
                             f"{target.shape[:2]}. Rebuild the dataset.")
        if self.augment:
            moved = self._geometric(image=sketch, target=target)
            sketch = self._line_style(image=moved["image"])["image"]
            target = moved["target"]
        return {"sketch": to_tensor(sketch), "target": to_tensor(target), "tags": list(row["tags"]), "id": row["id"]}


def collate_pairs(samples: list[dict]) -> dict:
    """Stack images into [B, 3, H, W]; keep ``tags`` as a list of lists and ``id`` as a list."""
    return {
        "sketch": torch.stack([s["sketch"] for s in samples]),
        "target": torch.stack([s["target"] for s in samples]),
        "tags": [s["tags"] for s in samples],
        "id": [s["id"] for s in samples],
    }
