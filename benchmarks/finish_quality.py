"""Benchmark: flat against soft finishing, on the val split, and the region step's speed.

1. Quality. The shipped model (or --model) colours every val sketch of the dataset at its
   stored size (256 px for OpenMoji) with each finish, lines laid over, as ``colorize run``
   writes them. Against the colour images: mean CIEDE2000 and variant accuracy (as
   ``colorize evaluate`` scores them, here at full size), and **bleed**: the share of paper
   pixels whose colour comes from across a line. The true regions are the sketch's
   (find_regions), cut where the colour image changes colour inside one; a pixel bleeds
   when its colour is nearer (CIE76) to the colour the output gave a region across a line
   than to the colour it gave the pixel's own region (see :func:`bleed`). The same on val
   sketches redrawn by ``data import``'s extractors (--redraw; ``traced`` is another hand's
   double lines). **Colours per closed region**: the distinct output colours on the paper of
   each region the sketch's lines close (not touching the picture's edge, at least 2 px from
   its lines, 50 pixels or more), averaged over regions: 1.00 is flat.
2. Speed. Finishing on one core (OpenCV's threads set to 1), the val drawing with the
   most regions scaled to 512, 1024 and 4096 px, coloured by the model: median of
   --repeat runs of soft and of flat. The region step is their difference (ink mask,
   regions, colour split, flat colours); the target is 100 ms or less at 1024 px.

    python benchmarks/finish_quality.py [--model DIR] [--data data/openmoji] [--redraw xdog dilate adaptive]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from colorize.data.images import fit_square
from colorize.eval.evaluate import load_split, redraw_sketches, score
from colorize.finish import finish_layers
from colorize.finish.flats import region_medians, split_by_colour
from colorize.finish.regions import default_gap, default_min_area, find_regions, find_seeds, flood, line_mask
from colorize.infer.colorizer import Colorizer

def true_regions(sketch: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, ink, true Lab colour per label) of a sketch against its colour image.

    Regions are the sketch's (find_regions), cut where the colour image itself changes
    colour inside one (split_by_colour on the colour image): a figure open at the edge of
    the picture is two regions, as its colourist would fill it.
    """
    ink = line_mask(sketch)
    gap = default_gap(sketch.shape)
    lab8 = cv2.cvtColor(colour, cv2.COLOR_RGB2LAB)
    labels = flood(split_by_colour(find_seeds(sketch, gap=gap, ink=ink), colour, ink, default_min_area(gap)), ink)
    truth = region_medians(labels, lab8, use=~ink)
    return labels, ink, _lab(cv2.cvtColor(truth[None], cv2.COLOR_LAB2RGB))[0]


def bleed(output: np.ndarray, sketch: np.ndarray, colour: np.ndarray) -> tuple[int, int]:
    """(bleeding paper pixels, paper pixels of regions that have a differently painted neighbour).

    Each true region's own colour in ``output`` is the median of the output over its paper
    at least 4 px from the lines. A paper pixel bleeds when its output colour is nearer
    (CIE76) to the own colour of a region across a line (one its region touches) than to
    its own region's. Only neighbours whose own colours differ by more than 10 count. So
    this scores colour carried over a line, not a wrong colour: that is what ΔE measures.
    """
    labels, ink, _ = true_regions(sketch, colour)
    out = _lab(output)
    paper = ~ink
    inside = cv2.erode(paper.view(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    n = int(labels.max()) + 1
    has = np.bincount(labels[inside], minlength=n) > 0
    use = inside | (paper & ~np.take(has, labels))  # a thin region: all its paper
    own_colour = _lab(cv2.cvtColor(region_medians(labels, cv2.cvtColor(output, cv2.COLOR_RGB2LAB), use=use)[None],
                                   cv2.COLOR_LAB2RGB))[0]
    # which regions touch: label pairs side by side (lines belong to the regions they border)
    pairs = np.concatenate([np.stack([labels[:, 1:].ravel(), labels[:, :-1].ravel()], 1),
                            np.stack([labels[1:].ravel(), labels[:-1].ravel()], 1)])
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    pairs = pairs[np.linalg.norm(own_colour[pairs[:, 0]] - own_colour[pairs[:, 1]], axis=1) > 10]
    own = np.linalg.norm(out - own_colour[labels], axis=-1).ravel()
    flat_out, flat_labels = out.reshape(-1, 3), labels.ravel()
    paper_pixels = np.flatnonzero(paper.ravel())
    by_region = paper_pixels[np.argsort(flat_labels[paper_pixels], kind="stable")]
    starts = np.searchsorted(flat_labels[by_region], np.arange(n + 1))
    bleeding = np.zeros(labels.size, bool)
    for a, b in np.unique(pairs, axis=0):
        mine = by_region[starts[a]:starts[a + 1]]
        bleeding[mine] |= np.linalg.norm(flat_out[mine] - own_colour[b], axis=-1) < own[mine]
    bleeding = bleeding.reshape(labels.shape)
    counted = np.isin(labels, pairs[:, 0]) & paper
    return int((bleeding & counted).sum()), int(counted.sum())


def colours_per_closed_region(output: np.ndarray, sketch: np.ndarray) -> list[int]:
    """Distinct colours of ``output`` in each region the lines of ``sketch`` close, on its
    paper at least 2 px from the lines (the lines' anti-aliasing is not a colour); regions
    under 50 such pixels, and those touching the picture's edge, are left out."""
    labels, ink = find_regions(sketch), line_mask(sketch)
    paper = cv2.erode((~ink).view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = paper & ~np.isin(labels, edge)
    ids = labels[keep].astype(np.int64)
    packed = output[keep].astype(np.int64) @ np.array([65536, 256, 1])
    pairs = np.unique(ids * (1 << 24) + packed)
    per_region = np.bincount(pairs >> 24)
    sizes = np.bincount(ids, minlength=per_region.size)
    return [int(c) for c, n in zip(per_region, sizes) if n >= 50]


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
    print(f"{'lines':16s} {'finish':6s} {'ΔE2000':>7s} {'var.acc':>7s} {'bleed':>7s} {'colours/closed region':>22s}")
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
            accuracy = result["variant"]["accuracy"]
            accuracy = "   n/a" if accuracy is None else f"{accuracy:7.3f}"
            counts = [c for r in rows for c in colours_per_closed_region(outputs[r["id"]], lines[r["id"]])]
            spread = f"{np.mean(counts):6.2f} (max {max(counts)})" if counts else "n/a"
            print(f"{name:16s} {how:6s} {result['delta_e']:7.2f} {accuracy} {share:7.2%} {spread:>22s}", flush=True)


def speed(colorizer: Colorizer, data: str, repeat: int) -> None:
    cv2.setNumThreads(1)
    rows, sketches, _ = load_split(data, "val", None, 60)
    # the busiest drawing: the most regions; coloured by the model at its own size
    busiest = max(sketches, key=lambda i: int(find_regions(sketches[i]).max()))
    row = next(r for r in rows if r["id"] == busiest)
    square, box = fit_square(sketches[busiest], colorizer.size)
    square = colorizer.colour_squares([square], [row["tags"]], compose=False)[0]
    for side in (512, 1024, 4096):
        big = cv2.resize(sketches[busiest], (side, side), interpolation=cv2.INTER_LINEAR)
        times = {}
        for how in ("soft", "flat"):
            runs = []
            for _ in range(repeat if side < 4096 else max(1, repeat // 2)):
                start = time.perf_counter()
                done = finish_layers(square, big, box, how=how)
                runs.append(time.perf_counter() - start)
            times[how] = statistics.median(runs) * 1000
        print(f"finish at {side}x{side}, one core: soft {times['soft']:7.1f} ms, flat {times['flat']:7.1f} ms; "
              f"region step (flat - soft) {times['flat'] - times['soft']:7.1f} ms ({done.labels.max()} regions, {busiest})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default="data/openmoji")
    parser.add_argument("--redraw", nargs="*", default=["xdog", "dilate", "adaptive"])
    parser.add_argument("--limit", type=int, default=None, help="first N val samples only")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--no-speed", action="store_true", help="quality only")
    args = parser.parse_args()
    colorizer = Colorizer.from_pretrained(args.model, device="cpu")
    if not args.speed_only:
        quality(colorizer, args.data, args.redraw, args.limit)
    if not args.no_speed:
        speed(colorizer, args.data, args.repeat)


if __name__ == "__main__":
    main()
