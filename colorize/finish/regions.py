"""Regions of a sketch: the areas its lines enclose, at the sketch's own resolution.

Flat colouring (``colorize run --finish flat``) paints each region one colour, so the
regions must not leak into each other through the small gaps that real strokes leave.
The gap-closing step is a trapped ball, as in LineFiller and Krita's colorize mask
tradition: a disc of radius ``gap`` is rolled through the paper; where it cannot pass,
a gap of width ``2 * gap`` or less separates two regions.

1. :func:`line_mask`: which pixels are ink. The paper's own brightness is estimated first
   (a wide median of the picture), so a grey scan with JPEG noise is read against its own
   paper, not against pure white.
2. Seeds (:func:`find_seeds`): the paper eroded by the ball; each piece that is left is
   one region's seed. Then balls of half the radius, down to 1 px, seed the paper the
   larger balls could not reach (narrow regions), and what paper is still left gets
   seeds of its own. So wide gaps are closed where regions are wide, and narrow regions
   are not lost.
3. :func:`flood`: every pixel, ink included, is then assigned to a seed by a watershed over the depth
   of the ink (its distance from paper), so lines are the last pixels to be claimed and
   each line pixel joins the region on its nearer side: flats have no white seams under
   the lines.
4. Regions smaller than ``min_area`` get no seed and so are absorbed by a neighbour.

    labels = find_regions(rgb, gap=2)   # int32 [H, W], 1..N; every pixel labelled

Between steps 2 and 3, :func:`colorize.finish.flats.split_by_colour` may cut seeds in two
where the model painted one region in two clearly different colours (a figure whose
outline runs off the picture is one region with the paper around it).

All of it is OpenCV and NumPy (erosion, connected components, watershed), linear in the
number of pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["DEFAULT_GAP", "as_grey", "ball_radii", "default_gap", "default_min_area", "find_regions", "find_seeds",
           "flood", "ink_relief", "line_mask", "lookup"]

DEFAULT_GAP = 2           # ball radius in pixels at 512 px; scaled with the picture (see find_regions)
INK_CONTRAST = 0.72       # a pixel is ink when darker than this share of the paper's brightness


def lookup(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``table[ids]``: a value per region id (1-D ``table``) for a picture of ids (int [H, W]).

    With at most 256 entries of one or four bytes (every drawing with up to 255 regions),
    by OpenCV's ``LUT`` on the ids as bytes: 0.5 ms at 1024 px against NumPy's 1.5, and a
    flat finish makes several such look-ups. Otherwise ``np.take``. The same values either way
    for ids from 0 to ``len(table) - 1`` (a region id's range); outside it, the result is
    undefined (``np.take`` would wrap or raise).
    """
    table = np.asarray(table)
    if ids.ndim != 2 or len(table) > 256 or table.dtype.itemsize not in (1, 4) or table.dtype.kind not in "biuf":
        return np.take(table, ids)
    as_int = np.int32 if table.dtype.itemsize == 4 else np.uint8
    full = np.zeros(256, as_int)
    full[:len(table)] = table.view(as_int)
    return cv2.LUT(ids.astype(np.uint8), full).view(table.dtype)


def line_mask(rgb: np.ndarray, contrast: float = INK_CONTRAST) -> np.ndarray:
    """Ink pixels (bool [H, W]) of an RGB or grey sketch, against its own paper."""
    grey = as_grey(rgb)
    h, w = grey.shape
    # the paper: a median wide enough to step over strokes, on a copy shrunk to about
    # 128 px (so it costs the same at 4096 px), then the brightest nearby: paper, not ink
    scale = max(1, max(h, w) // 128)
    small = cv2.resize(grey, (max(1, w // scale), max(1, h // scale)), interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(small, 7 if min(small.shape) >= 7 else 3)
    paper = cv2.dilate(paper, np.ones((3, 3), np.uint8))
    # a page that is dark everywhere has no paper to speak of: judge against white
    threshold = np.round(contrast * np.maximum(paper, 96)).astype(np.uint8)
    return grey < cv2.resize(threshold, (w, h), interpolation=cv2.INTER_LINEAR)


def as_grey(rgb: np.ndarray) -> np.ndarray:
    """A sketch as one grey channel (uint8 [H, W])."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def default_gap(shape: tuple[int, ...]) -> int:
    """The gap radius for a picture of this size: DEFAULT_GAP px per 512 px of its longer side,
    but at most a 16th of its shorter side (a strip 1,000,000 x 8 px would get a 4,000-px ball)."""
    longer, shorter = max(shape[:2]), min(shape[:2])
    return max(1, min(round(DEFAULT_GAP * longer / 512), shorter // 16))


def default_min_area(gap: int) -> int:
    """Regions with fewer pixels join a neighbour: a disc as wide as the ball, at least 4 px."""
    return max(4, int(np.pi * (2 * gap) ** 2 / 4))


def ball_radii(gap: int) -> list[int]:
    """The balls rolled for a gap radius: ``gap``, then halving down to 1 (none for 0)."""
    radii = []
    while gap >= 1:
        radii.append(gap)
        gap //= 2
    return radii


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def find_regions(rgb: np.ndarray, gap: int | None = None, min_area: int | None = None,
                 ink: np.ndarray | None = None) -> np.ndarray:
    """Label every pixel of a sketch with its region (int32, 1..N): :func:`find_seeds`,
    then :func:`flood`. Args as for :func:`find_seeds`."""
    ink = line_mask(rgb) if ink is None else ink
    return flood(find_seeds(rgb, gap, min_area, ink), ink)


def find_seeds(rgb: np.ndarray, gap: int | None = None, min_area: int | None = None,
               ink: np.ndarray | None = None) -> np.ndarray:
    """One seed per region (int32, 1..N; 0 where no seed is): steps 1, 2 and 4 above.

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
    gap = default_gap((h, w)) if gap is None else gap
    min_area = default_min_area(gap) if min_area is None else min_area
    ink = line_mask(rgb) if ink is None else ink
    markers = np.zeros((h, w), np.int32)
    count = 0

    def add_seeds(mask: np.ndarray) -> np.ndarray:
        """Each 4-connected piece of ``mask`` (uint8, 0 or 1) becomes a seed, numbered on from
        the last, written where the mask is by OpenCV's masked add (NumPy's ``where=`` and
        ``+=`` cost three times as much at 1024 px). Returns the mask."""
        nonlocal count
        n, pieces = cv2.connectedComponents(mask, connectivity=4, ltype=cv2.CV_32S)
        cv2.add(pieces, count, dst=markers, mask=mask)
        count += n - 1
        return mask

    # 2. trapped balls, largest first: each radius seeds the paper its larger balls left
    #    unclaimed, so wide gaps are closed where regions are big and narrow regions still
    #    get seeds of their own; then whatever paper is left, if it is big enough
    free = np.logical_not(ink).view(np.uint8)
    for radius in ball_radii(gap):
        seeds = add_seeds(cv2.erode(free, _disc(radius)))
        free = cv2.subtract(free, cv2.dilate(seeds, _disc(radius + 1)))
    if cv2.countNonZero(free) >= min_area:
        # the paper no ball reached: slivers along the lines, a few hundred pixels at 1024 px,
        # so its pieces are measured and numbered at their own pixels (a bincount and a
        # look-up over the whole picture cost 4 ms there); pieces under min_area get no seed
        n, pieces = cv2.connectedComponents(free, connectivity=4, ltype=cv2.CV_32S)
        at = np.flatnonzero(free.view(bool))  # as bool: 14 times faster than on uint8
        ids = pieces.ravel()[at]
        kept = np.bincount(ids, minlength=n) >= min_area
        kept[0] = False
        numbers = np.zeros(n, np.int32)
        numbers[kept] = np.arange(count + 1, count + 1 + int(kept.sum()), dtype=np.int32)
        markers.ravel()[at] = numbers[ids]  # no seed was there yet
        count += int(kept.sum())
    if count == 0:  # no paper at all (all ink, or a blank page read as ink): one region
        markers[0, 0] = 1
    return markers


def ink_relief(ink: np.ndarray) -> np.ndarray:
    """The landscape :func:`flood` floods: 0 on paper, rising with the depth into the ink."""
    mask = ink.view(np.uint8)
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    relief = cv2.convertScaleAbs(depth, alpha=4, beta=1) * mask  # 1 + 4 * depth (to 255) on ink, 0 on paper
    return cv2.cvtColor(relief, cv2.COLOR_GRAY2BGR)


def flood(markers: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Grow seeds (int32 [H, W], 0 = unclaimed; changed in place) until every pixel has one.

    A watershed over the depth of the ink (its distance from paper): paper is claimed
    first, lines last, and each line pixel joins the region on its nearer side (noise in a
    scan's ink makes no ridge), so flats have no white seams under the lines.
    """
    cv2.watershed(ink_relief(ink), markers)
    # watershed marks the pixels between basins -1 (and the 1-px frame): each takes a
    # neighbour's label, all at once, again for those that had none; found once, then
    # followed as a list (rescanning the picture cost more than the watershed), in place
    # (a padded copy of the picture cost 1 ms at 1024 px)
    flat = markers.reshape(-1)  # a view of a contiguous picture (watershed works in place)
    left = np.flatnonzero(flat <= 0)  # 5x faster than np.nonzero's rows and columns
    h, w = markers.shape
    while left.size:
        x = left % w
        near = np.zeros(left.size, np.int32)  # off the picture counts as no region
        for step, inside in ((1, x < w - 1), (-1, x > 0), (w, left < flat.size - w), (-w, left >= w)):
            np.maximum(near, flat[np.where(inside, left + step, left)] * inside, out=near)
        if not (near > 0).any():  # no region reaches them (a dense grid can leave no seed at all): one more region
            flat[left] = max(0, int(flat.max())) + 1
            break
        flat[left] = near
        left = left[near <= 0]
    if not np.shares_memory(flat, markers):  # a slice of a larger picture: reshape copied it
        markers[...] = flat.reshape(h, w)
    return markers
