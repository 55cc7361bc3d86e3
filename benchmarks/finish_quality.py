"""Benchmark: flat against soft finishing, on the val split, and the region step's speed.

1. Quality. The shipped model (or --model) colours every val sketch of the dataset at its
   stored size (256 px for OpenMoji) with each finish, lines laid over, as ``colorize run``
   writes them. Against the colour images: mean CIEDE2000 and variant accuracy (as
   ``colorize evaluate`` scores them, here at full size), and **bleed**: the share of paper
   pixels whose colour is closer (CIE76) to the true colour of another region within 3
   px than to the true colour of their own region, counting only neighbours whose true
   colours differ by more than 10. Regions come from the sketch (find_regions); a
   region's true colour is the median of the colour image over its paper pixels. The same
   on val sketches redrawn by ``data import``'s extractors (--redraw).
2. Speed. The region step (ink mask, regions, flat colours) on one core (OpenCV's
   threads set to 1) for an OpenMoji sketch scaled to 512, 1024 and 4096 px: median of
   --repeat runs. The target is 100 ms or less at 1024 px.

    python benchmarks/finish_quality.py [--model DIR] [--data data/openmoji] [--redraw xdog dilate adaptive]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from colorize.eval.evaluate import load_split, redraw_sketches, score
from colorize.finish.flats import flat_colours, region_medians
from colorize.finish.regions import find_regions, line_mask
from colorize.infer.colorizer import Colorizer

OFFSETS = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if 0 < dy * dy + dx * dx <= 9]


def bleed(output: np.ndarray, sketch: np.ndarray, colour: np.ndarray) -> tuple[int, int]:
    """(bleeding paper pixels, paper pixels) of one picture; see the module docstring."""
    ink = line_mask(sketch)
    labels = find_regions(sketch, ink=ink)
    truth = region_medians(labels, cv2.cvtColor(colour, cv2.COLOR_RGB2LAB), use=~ink)
    lab_truth = cv2.cvtColor(truth[None], cv2.COLOR_LAB2RGB)[0]
    true_lab = _lab(lab_truth[None])[0][labels]  # [H, W, 3], each pixel its region's true colour
    out_lab = _lab(output)
    own = np.linalg.norm(out_lab - true_lab, axis=-1)
    h, w = labels.shape
    pad = 3
    padded_labels = np.pad(labels, pad, constant_values=0)
    padded_ink = np.pad(ink, pad, constant_values=True)
    padded_true = np.pad(true_lab, ((pad, pad), (pad, pad), (0, 0)))
    bleeding = np.zeros((h, w), bool)
    for dy, dx in OFFSETS:
        other = padded_labels[pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        other_true = padded_true[pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        usable = (other != labels) & (other > 0) & ~padded_ink[pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        distinct = np.linalg.norm(other_true - true_lab, axis=-1) > 10
        closer = np.linalg.norm(out_lab - other_true, axis=-1) < own
        bleeding |= usable & distinct & closer
    paper = ~ink
    return int((bleeding & paper).sum()), int(paper.sum())


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def quality(colorizer: Colorizer, data: str, redraw: list[str], limit: int | None) -> None:
    probe = load_split(data, "val", 256, limit)
    rows, sketches, colours = probe
    size = next(iter(colours.values())).shape[0]
    conditions = {"own lines": sketches}
    for extractor in redraw:
        conditions[f"{extractor} lines"] = redraw_sketches(data, rows, size, extractor)
    tag_sets = [r["tags"] for r in rows]
    print(f"model {colorizer.source} (step {colorizer.step}), {len(rows)} val samples at {size} px")
    print(f"{'lines':16s} {'finish':6s} {'ΔE2000':>7s} {'var.acc':>7s} {'bleed':>7s}")
    for name, lines in conditions.items():
        for how in ("soft", "flat"):
            outputs = {}
            for start in range(0, len(rows), 16):
                chunk = rows[start:start + 16]
                done = colorizer.colorize_batch([lines[r["id"]] for r in chunk], tag_sets[start:start + 16], finish=how)
                outputs.update(zip((r["id"] for r in chunk), done, strict=True))
            result = score(rows, outputs, colours)
            bled = [bleed(outputs[r["id"]], lines[r["id"]], colours[r["id"]]) for r in rows]
            share = sum(b for b, _ in bled) / max(1, sum(n for _, n in bled))
            print(f"{name:16s} {how:6s} {result['delta_e']:7.2f} {result['variant']['accuracy']:7.3f} {share:7.2%}")


def speed(data: str, repeat: int) -> None:
    cv2.setNumThreads(1)
    rows, sketches, _ = load_split(data, "val", None, 40)
    sketch = max(sketches.values(), key=lambda s: (s < 128).sum())  # a busy drawing
    for side in (512, 1024, 4096):
        big = cv2.resize(sketch, (side, side), interpolation=cv2.INTER_LINEAR)
        soft = cv2.resize(np.full((64, 64, 3), (200, 120, 80), np.uint8), (side, side))
        times = []
        for _ in range(repeat if side < 4096 else max(1, repeat // 2)):
            start = time.perf_counter()
            ink = line_mask(big)
            labels = find_regions(big, ink=ink)
            flat_colours(labels, soft, ink)
            times.append(time.perf_counter() - start)
        print(f"region step at {side}x{side}, one core: {statistics.median(times) * 1000:7.1f} ms "
              f"({labels.max()} regions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default="data/openmoji")
    parser.add_argument("--redraw", nargs="*", default=["xdog", "dilate", "adaptive"])
    parser.add_argument("--limit", type=int, default=None, help="first N val samples only")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args()
    if not args.speed_only:
        quality(Colorizer.from_pretrained(args.model, device="cpu"), args.data, args.redraw, args.limit)
    speed(args.data, args.repeat)


if __name__ == "__main__":
    main()
