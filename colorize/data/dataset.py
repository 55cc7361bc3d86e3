"""A streaming PyTorch ``Dataset`` of sketch / colour / tags samples, read from a manifest.

Nothing is loaded up front beyond the manifest's row offsets: each ``__getitem__`` reads
one row and decodes its two PNGs, so memory does not grow with the size of the dataset.
The manifest is checked when it is loaded (:mod:`colorize.data.manifest`): a malformed
row fails then, with its line, and rows whose image files are missing are left out with
one warning. An image that is there but does not decode raises ``OSError`` naming it.
Rows imported with ``--extract-at train`` have no stored sketch: their line art is
extracted from the colour image on every load, so each epoch sees fresh line styles.

A sample is a dict:
    ``sketch``  float32 [3, H, W] in [-1, 1], dark lines on white
    ``target``  float32 [3, H, W] in [-1, 1], the colour image
    ``tags``    list[str], canonical tags (possibly empty)
    ``id``      str
    ``differ``  float32 [1, H, W], only with ``differ`` masks: 1 where this drawing's
                colourings differ from each other, the pixels only the tags can decide

    ds = PairDataset("data/openmoji", split="train", augment=True)
    loader = DataLoader(ds, batch_size=8, collate_fn=collate_pairs)

Training on several datasets stacks one ``PairDataset`` per folder (each with its own
splits and its own ``differ`` masks, so drawing ids never meet across datasets);
:func:`dataset_names` names them in logs and reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from colorize.data.augment import geometric
from colorize.data.extract import get_extractor
from colorize.data.linestyles import LineStyler
from colorize.data.manifest import Manifest, has_artist_lines, reference_rows

__all__ = ["PairDataset", "collate_pairs", "dataset_names", "to_tensor", "to_image", "variant_masks"]


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
        augment: move sketch and target together (:mod:`colorize.data.augment`) and draw the
            sketch in a line style (:mod:`colorize.data.linestyles`).
        extractor: line extractor for rows without a stored sketch; None uses the one each
            row names (``mixed`` if it names none).
        cache: keep decoded, resized images in memory after their first load (for
            ``workers = 0``: 4,000 pairs take about 100 MB at 64 px, 1.5 GB at 256 px).
        cache_mb: the cache's limit; once it is full, further images are read from disk
            every time, so memory stays flat however long the manifest.
        differ: masks from :func:`variant_masks`, keyed by drawing; each sample then has
            a ``differ`` map, moved with the images by the geometric augmentation.
        augment_size: with ``augment``, read the images at this side, move them there and
            only then shrink them to ``size`` (area filter). A turn or zoom resampled at the
            training size blurs the target's edges, and the model learns to paint that blur
            (measured: mean ΔE2000 near the lines). None: augment at ``size``.
        line_styles: with ``augment``, how each sample's lines are drawn and how they look;
            default: the stored sketch, with the classic looks (thicker, thinner, blur, noise, JPEG).
            Lines are drawn at the augmentation size, looks at ``size``.
        seed: seeds the line styles' random draws (each DataLoader worker adds its id).
    """

    def __init__(self, manifest: str | os.PathLike, split: str | tuple[str, ...] | None = "train",
                 size: int | None = None, augment: bool = False, extractor: str | None = None,
                 cache: bool = False, differ: dict[str, np.ndarray] | None = None,
                 augment_size: int | None = None, cache_mb: float = 2048, line_styles: LineStyler | None = None,
                 seed: int = 0):
        self.rows = Manifest(manifest, split=split)
        self.out_size = size
        # the side images are read (and cached) at: larger than the output when augmenting there
        self.size = augment_size if augment and augment_size and size and augment_size > size else size
        self.augment = augment
        self.cache: dict[tuple[int, str], np.ndarray] | None = {} if cache else None
        self.cache_bytes, self.cache_limit = 0, int(cache_mb * 2 ** 20)
        self.differ = differ
        self.extractor = None if extractor is None else get_extractor(extractor)
        self._geometric = geometric() if augment else None
        self.styler = (line_styles or LineStyler()) if augment else None
        self.seed = seed
        self._rng: tuple[int, np.random.Generator] | None = None
        # each row's drawing's reference (toneless) member, by position, for styles drawn from it
        self.reference: list[int] | None = None
        if self.styler is not None and self.styler.needs_reference:
            rows = [self.rows[i] for i in range(len(self.rows))]
            position = {row["id"]: i for i, row in enumerate(rows)}
            of = reference_rows(rows)
            self.reference = [position[of[row["id"]]] for row in rows]

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

    def _cached(self, index: int, row: dict, key: str) -> np.ndarray:
        if self.cache is None:
            return self._read(row, key)
        image = self.cache.get((index, key))
        if image is None:
            image = self._read(row, key)
            if self.cache_bytes + image.nbytes <= self.cache_limit:
                self.cache[index, key] = image
                self.cache_bytes += image.nbytes
        return image

    @property
    def rng(self) -> np.random.Generator:
        """The line styles' generator, one per process: a forked DataLoader worker gets its own."""
        from torch.utils.data import get_worker_info

        worker = get_worker_info()
        key = os.getpid()
        if self._rng is None or self._rng[0] != key:
            self._rng = (key, np.random.default_rng([self.seed, worker.id + 1 if worker else 0]))
        return self._rng[1]

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        target = self._cached(index, row, "color")
        if row["sketch"] is None:
            extract = self.extractor or get_extractor(row.get("extractor") or "mixed")
            sketch = extract(target)
        else:
            sketch = self._cached(index, row, "sketch")
        if sketch.shape != target.shape:
            raise ValueError(f"row {row['id']!r}: sketch is {sketch.shape[:2]} but colour image is "
                             f"{target.shape[:2]}. Rebuild the dataset.")
        differ = None
        if self.differ is not None:
            differ = self.differ.get(row.get("drawing") or row["id"])
            if differ is None:
                differ = np.zeros(target.shape[:2], np.uint8)
        if self.augment:
            reference = None
            if self.reference is not None:
                ref = self.reference[index]
                reference = target if ref == index else self._cached(ref, self.rows[ref], "color")
            sketch = self.styler.lines(sketch, reference, has_artist_lines(row), self.rng)
            extra = {} if differ is None else {"mask": differ}
            moved = self._geometric(image=sketch, target=target, **extra)
            sketch = moved["image"]
            target = moved["target"]
            differ = moved.get("mask", differ)
            if self.out_size is not None and target.shape[0] != self.out_size:
                side = (self.out_size, self.out_size)
                sketch = cv2.resize(sketch, side, interpolation=cv2.INTER_AREA)
                target = cv2.resize(target, side, interpolation=cv2.INTER_AREA)
                if differ is not None:  # a pixel that mixes changing colours changes too
                    differ = (cv2.resize(differ.astype(np.float32), side, interpolation=cv2.INTER_AREA) > 0)
                    differ = differ.astype(np.uint8)
            lines, sketch = sketch, self.styler.look(sketch, self.rng)
        sample = {"sketch": to_tensor(sketch), "target": to_tensor(target), "tags": list(row["tags"]), "id": row["id"]}
        if self.augment:  # the lines the target was drawn with, for a generator that lays them over
            sample["lines"] = to_tensor(lines)
        if differ is not None:
            sample["differ"] = torch.from_numpy(np.ascontiguousarray(differ)).float()[None]
        return sample


def variant_masks(dataset: PairDataset) -> dict[str, np.ndarray]:
    """For each drawing with several colour images in ``dataset``: where they differ (uint8 0/1).

    Computed once from the stored colour images at the dataset's size, with the same
    tolerance that variant accuracy uses (:func:`colorize.eval.metrics.differ_mask`).
    """
    from collections import defaultdict

    from colorize.eval.metrics import differ_mask

    by_drawing: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(dataset.rows):
        by_drawing[row.get("drawing") or row["id"]].append(i)
    masks = {}
    for drawing, indices in by_drawing.items():
        if len(indices) < 2:
            continue
        colours = [dataset._cached(i, dataset.rows[i], "color") for i in indices]
        mask = differ_mask(colours)
        if mask.any():
            masks[drawing] = mask.astype(np.uint8)
    return masks


def dataset_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """A short name for each dataset, for logs and reports: its folder's name (``openmoji``).

    Names that would repeat (``a/data``, ``b/data``) get their position instead: ``data-1``, ``data-2``.
    """
    names = []
    for path in paths:
        path = Path(path).resolve()
        names.append((path.parent if path.is_file() else path).name or str(path))
    return [f"{name}-{i + 1}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def collate_pairs(samples: list[dict]) -> dict:
    """Stack images into [B, 3, H, W]; keep ``tags`` as a list of lists and ``id`` as a list."""
    return {
        "sketch": torch.stack([s["sketch"] for s in samples]),
        "target": torch.stack([s["target"] for s in samples]),
        "tags": [s["tags"] for s in samples],
        "id": [s["id"] for s in samples],
        **({"differ": torch.stack([s["differ"] for s in samples])} if "differ" in samples[0] else {}),
        **({"lines": torch.stack([s["lines"] for s in samples])} if "lines" in samples[0] else {}),
    }
