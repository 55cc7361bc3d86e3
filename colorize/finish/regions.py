"""Regions of a sketch: the areas its lines enclose, at the sketch's own resolution.

Flat colouring (``colorize run --finish flat``) paints each region one colour, so the
regions must not leak into each other through the small gaps that real strokes leave.
The gap-closing step is a trapped ball, as in LineFiller and Krita's colorize mask
tradition: a disc of radius ``gap`` is rolled through the paper; where it cannot pass,
a gap of width ``2 * gap`` or less separates two regions.

1. :func:`line_mask`: which pixels are ink. The paper's own brightness is estimated first
   (a wide median of the picture), so a grey scan with JPEG noise is read against its own
   paper, not against pure white.
2. Seeds: the paper eroded by the ball; each piece that is left is one region's seed.
   Paper the ball could not reach (narrow regions) gets seeds of its own, as does any
   part still unlabelled after the seeds grew back to their walls.
3. Every pixel, ink included, is then assigned to a seed by a watershed over the
   darkness of the sketch, so lines are the last pixels to be claimed and each line pixel
   joins a region it borders: flats have no white seams under the lines.
4. Regions smaller than ``min_area`` get no seed and so are absorbed by a neighbour.

    labels = find_regions(rgb, gap=2)   # int32 [H, W], 1..N; every pixel labelled

All of it is OpenCV and NumPy (erosion, connected components, watershed), linear in the
number of pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["DEFAULT_GAP", "find_regions", "line_mask"]

DEFAULT_GAP = 2           # ball radius in pixels at 512 px; scaled with the picture (see find_regions)
INK_CONTRAST = 0.72       # a pixel is ink when darker than this share of the paper's brightness


def line_mask(rgb: np.ndarray, contrast: float = INK_CONTRAST) -> np.ndarray:
    """Ink pixels (bool [H, W]) of an RGB or grey sketch, against its own paper."""
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    # the paper: a median wide enough to step over strokes, on a shrunken copy (fast at 4096 px)
    scale = max(1, max(h, w) // 256)
    small = cv2.resize(grey, (max(1, w // scale), max(1, h // scale)), interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(small, 15 if min(small.shape) >= 15 else 3)
    paper = cv2.dilate(paper, np.ones((5, 5), np.uint8))  # the brightest nearby: paper, not ink
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    # a page that is dark everywhere has no paper to speak of: judge against white
    paper = np.maximum(paper, 96.0)
    return grey.astype(np.float32) < contrast * paper


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def find_regions(rgb: np.ndarray, gap: int | None = None, min_area: int | None = None,
                 ink: np.ndarray | None = None) -> np.ndarray:
    """Label every pixel of a sketch with its region (int32, 1..N).

    Args:
        rgb: the sketch, uint8 RGB [H, W, 3] or grey [H, W], dark lines on light paper.
        gap: stroke gaps up to ``2 * gap`` pixels wide are closed. None: 2 px per 512 px
            of the longer side (at least 1), so the same drawing closes the same gaps at
            any scan resolution.
        min_area: regions with fewer pixels merge into a neighbour. None: the area of a
            disc twice the ball's radius, at least 4.
        ink: a precomputed :func:`line_mask`.
    """
    h, w = rgb.shape[:2]
    if gap is None:
        gap = max(1, round(DEFAULT_GAP * max(h, w) / 512))
    if min_area is None:
        min_area = max(4, int(np.pi * (2 * gap) ** 2 / 4))
    ink = line_mask(rgb) if ink is None else ink
    paper = (~ink).astype(np.uint8)
    markers = np.zeros((h, w), np.int32)
    count = 0

    def add_seeds(mask: np.ndarray, smallest: int) -> None:
        nonlocal count
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
        keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= smallest) + 1
        if keep.size == 0:
            return
        lookup = np.zeros(n, np.int32)
        lookup[keep] = np.arange(count + 1, count + 1 + keep.size, dtype=np.int32)
        new = lookup[labels]
        markers[new > 0] = new[new > 0]
        count += keep.size

    # 2. the ball's seeds, then the paper they cannot reach once grown back by the ball
    if gap > 0:
        add_seeds(cv2.erode(paper, _disc(gap)), 1)
        reach = cv2.dilate((markers > 0).astype(np.uint8), _disc(gap + 1))
        add_seeds(paper.astype(bool) & ~reach.astype(bool), min_area)
    else:
        add_seeds(paper, min_area)
    if count == 0:  # no paper at all (all ink, or a blank page read as ink): one region
        return np.ones((h, w), np.int32)

    # 3. everything else joins a seed, lines last: flood over the sketch's darkness
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    relief = np.where(ink, 255 - grey // 2, 0).astype(np.uint8)  # ink high, paper flat
    cv2.watershed(cv2.merge([relief, relief, relief]), markers)
    # watershed marks the pixels between basins -1 (and the 1-px frame): take a neighbour's label
    unlabelled = markers <= 0
    while unlabelled.any():
        grown = cv2.dilate(np.where(unlabelled, 0, markers).astype(np.float32), np.ones((3, 3), np.uint8))
        markers[unlabelled] = grown[unlabelled].astype(np.int32)
        unlabelled = markers <= 0
    return markers

