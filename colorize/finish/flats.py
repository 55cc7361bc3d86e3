"""Flat colours: one colour per region of the sketch, taken from the model's soft colouring.

First :func:`split_by_colour` cuts the seeds of regions the model painted in clearly
different colours (what the lines alone could not separate). Then each region (:func:`colorize.finish.regions.find_regions`) takes the median, in Lab, of the
model's colour over its paper pixels (over all its pixels if it is all ink). Regions that
touch the picture's border are the background: they stay white unless the model clearly
painted them (the median is more than ``background_delta`` CIE76 units from white).

    seeds = split_by_colour(find_seeds(grey, ink=ink), soft, ink, min_area, margin)
    flats = flat_colours(flood(seeds, ink), soft, ink)          # RGB uint8 [H, W, 3]

Statistics of the model's colour are taken on a sparse grid (about 16,000 points): the
colour is the network's few pixels scaled up and has no finer detail, and it keeps the
step fast at 4096 px.
"""

from __future__ import annotations

import cv2
import numpy as np

from colorize.colour import lab8, lab8_units
from colorize.finish.regions import lookup

__all__ = ["BACKGROUND_DELTA", "OPEN_SPLIT_DELTA", "SPLIT_DELTA", "flat_colours", "is_paper", "paint", "region_colours",
           "region_medians", "split_by_colour"]

BACKGROUND_DELTA = 12.0   # CIE76 from white above which a border region counts as painted
SPLIT_DELTA = 8.0         # CIE76 between a region's two colours above which it is split (at 20, light
                          # skin stayed joined to the white paper around it: OpenMoji val, 8 > 12 > 20)
OPEN_SPLIT_DELTA = 15.0   # ... and for a region open to the paper, cut into painted areas once already
                          # (Noto val's variant accuracy with flats: 0 gave 0.884, 15 0.896, 25 0.888)
WHITE_LAB = np.array([100.0, 0.0, 0.0])  # the paper, in CIELAB units


def is_paper(lab_values: np.ndarray, delta: float = BACKGROUND_DELTA) -> np.ndarray:
    """Which CIELAB colours [..., 3] are the paper's white: within ``delta`` CIE76 of white."""
    return np.linalg.norm(lab_values - WHITE_LAB, axis=-1) <= delta


SAMPLES = 1 << 14         # colour samples per picture for the split's statistics (the model: 4,096 px)


def region_medians(labels: np.ndarray, values: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Per-label median of uint8 ``values`` [H, W, C] -> [N + 1, C] uint8 (row 0 unused).

    ``use`` (bool [H, W]) restricts each region to those pixels where it has any.
    """
    n = int(labels.max()) + 1
    flat = labels.ravel()
    if use is None:
        chosen = np.arange(flat.size)
    else:
        # a region with no usable pixel falls back to all of its pixels
        has = np.bincount(flat[use.ravel()], minlength=n) > 0
        chosen = np.flatnonzero(use.ravel() | ~np.take(has, flat)) if not has[1:].all() else np.flatnonzero(use)
    return _medians(flat[chosen], values.reshape(-1, values.shape[-1])[chosen], n)


HISTOGRAM_CELLS = 1 << 22  # per-key histograms up to this many cells (32 MB); past it, medians by sorting


def _medians(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of uint8 ``values`` [M, C] per key in 0..n-1 -> [n, C] uint8 (0 where a key has none).

    Exact, from per-key histograms (one ``bincount`` per channel): linear time. With very
    many keys (a noise picture has hundreds of thousands of regions) the histograms would
    take gigabytes, so the values are sorted by key instead: the same medians.
    """
    out = np.zeros((n, values.shape[-1]), np.uint8)
    keys = keys.astype(np.int64) * 256
    if n * 256 > max(HISTOGRAM_CELLS, 4 * len(keys)):
        counts = np.bincount(keys >> 8, minlength=n)
        middle = np.concatenate(([0], np.cumsum(counts)[:-1])) + (counts - 1) // 2
        has = counts > 0
        for c in range(values.shape[-1]):
            ordered = np.sort(keys + values[:, c])  # by key, then by value
            out[has, c] = (ordered[middle[has]] & 255).astype(np.uint8)
        return out
    for c in range(values.shape[-1]):
        histogram = np.bincount(keys + values[:, c], minlength=n * 256).reshape(n, 256)
        cumulative = histogram.cumsum(axis=1)
        half = (cumulative[:, -1:] + 1) // 2
        out[:, c] = (cumulative >= np.maximum(half, 1)).argmax(axis=1)
    return out


def split_by_colour(seeds: np.ndarray, soft: np.ndarray, ink: np.ndarray, min_area: int, margin: int = 0,
                    delta: float | None = None, passes: int = 5) -> np.ndarray:
    """Split the seeds of regions the model painted in clearly different colours.

    ``seeds``: :func:`~colorize.finish.regions.find_seeds`; returns new seeds (1..N) for
    :func:`~colorize.finish.regions.flood` to grow into regions.

    A gap wider than the ball, or a figure cut off by the picture's edge, joins two areas
    the lines alone cannot tell apart (a shirt open at the bottom and the paper around
    it). The model's colour still can: each region whose colours fall into two groups
    (2-means in Lab) more than ``delta`` apart, the smaller at least ``4 * min_area``
    pixels, is cut in two along the model's own boundary between them; the pieces are
    looked at again, up to ``passes`` times (paper, skin and hair joined by gaps are three
    pieces; two people cropped by the picture's edge, with their hair and a heart, are
    more). Regions of one colour, however smeared, are left whole.

    A region the lines close is meant to be one colour: it is cut only once, where the
    model painted two large areas that reach the region's lines (:func:`_may_cut`), never
    along mottling at the model's pixel size, which on drawings in other hands cut faces and
    hair into camouflage patches. A region open to the paper around the drawing (one that
    touches the picture's edge) is first cut between paper and drawing (where 2-means does
    not part them, at the paper's own edge: :func:`_paper_cut`), and then gets one painted
    cut a pass, up to ``passes``, after the first only between colours more than
    :data:`OPEN_SPLIT_DELTA` apart (two people's skins, a heart beside a face; not a shirt's
    blue and its shadow). Only the pieces a pass cut are looked at again, so where one
    pass could cut two clusters of a region, the other is left whole. Where 2-means split
    such a region's cluster along a small group the cut may not take (light seams the model
    paints where the lines were), it is tried once more without that group, for colours more
    than :data:`OPEN_SPLIT_DELTA` apart (:func:`_without_stray`). Measured on Noto val
    with its extracted lines, variant accuracy of the flats went from 0.816 to 0.896 (the
    model's own colour: 0.944), at 0.3 more colours per picture; closed regions and
    OpenMoji val unchanged.

    ``soft`` is the model's colour at the sketch's size (RGB uint8). The groups are found
    from paper at least ``margin`` pixels from the lines, where the scaled-up colour is not
    blurred with the colour across the line (``margin``: about one of the model's pixels at
    the sketch's size). Each group's paper there becomes a seed of its own; a piece under
    about ``min_area / 4`` pixels is no seed, so it joins a neighbour when the seeds grow.
    """
    delta = SPLIT_DELTA if delta is None else delta
    labels = seeds
    h, w = labels.shape
    inside = np.logical_not(ink).view(np.uint8)
    if margin > 0:
        inside = cv2.erode(inside, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    inside = inside.view(bool)
    # decide on a sparse grid: the model's colour has no detail finer than its own pixels
    stride = _stride(labels.shape)
    small = labels[::stride, ::stride]
    samples = np.flatnonzero(inside[::stride, ::stride])
    n = int(labels.max()) + 1
    samples = samples[small.ravel()[samples] > 0]  # seeded paper only
    colours = lab8_units(cv2.cvtColor(np.ascontiguousarray(soft[::stride, ::stride]), cv2.COLOR_RGB2LAB))
    # mottling at the model's own pixel size is texture, not two colours: blur it away first
    pixel = 2 * margin / stride  # one of the model's pixels, in grid cells
    if pixel >= 1:
        colours = cv2.GaussianBlur(colours, (0, 0), pixel)
    colours = colours.reshape(-1, 3)[samples]
    cluster = small.ravel()[samples].astype(np.int64)  # every region starts as one cluster
    region_of = np.arange(n)
    look = np.ones(n, bool)
    min_samples = 4 * min_area / stride ** 2
    # the samples on the picture's edge: a cluster with one is open to the paper around the drawing
    rows, cols = np.divmod(samples, small.shape[1])
    on_edge = (rows == 0) | (rows == small.shape[0] - 1) | (cols == 0) | (cols == small.shape[1] - 1)
    rim = _on_rim(cluster, samples, small.shape)
    cut_painted = np.zeros(n, bool)  # regions already cut in two painted areas (not at the paper)
    painted = np.zeros(n, bool)      # ... and closed: never again
    open_region = np.bincount(cluster[on_edge], minlength=n) > 0
    paper_sample = is_paper(colours)
    for _ in range(passes):
        cut, second, means, sizes = _two_means_all(cluster, colours, look, delta, min_samples)
        if cut.any():
            open_ = np.bincount(cluster[on_edge], minlength=cut.size) > 0  # clusters open to the paper
            to_paper, compact = _may_cut(cut, second, cluster, samples, open_, rim, small.shape, pixel, means, sizes)
            # open to the paper, but 2-means put the paper with part of the drawing: cut at the paper instead
            at_paper = _paper_cut(cut & ~to_paper & open_, cluster, samples, paper_sample, small.shape, pixel,
                                  min_samples)
            if at_paper.any():
                moved = at_paper[cluster]
                second[moved] = ~paper_sample[moved]
                to_paper |= at_paper
                compact &= ~at_paper  # its cut is the paper's: a painted cut of the region may still come
            # in a region open to the paper, 2-means split off a small group the cut may not take
            # (light seams the model paints along lines): once more without that group
            _without_stray(cut & open_region[region_of] & ~to_paper & ~compact, cluster, colours, second, means, sizes,
                           to_paper, compact, delta, min_samples,
                           lambda c, s, cl, m, z: _may_cut(c, s, cl, samples, open_, rim, small.shape, pixel, m, z))
            # after its first, a region open to the paper is cut only between clearly different colours
            far = np.linalg.norm(means[:, 0] - means[:, 1], axis=-1) > OPEN_SPLIT_DELTA
            compact &= far | ~cut_painted[region_of]
            # one such cut per region, also when a paper cut left it two clusters: its first cluster's
            candidates = np.flatnonzero(compact & ~painted[region_of])
            compact[:] = False
            compact[candidates[np.unique(region_of[candidates], return_index=True)[1]]] = True
            cut_painted[region_of[cut & compact & ~to_paper]] = True
            painted = cut_painted & ~open_region  # the drawing in a region open to the paper may hold many
            cut &= to_paper | compact
        if not cut.any():
            break
        # each cut cluster's second colour becomes a cluster of its own
        new_ids = np.cumsum(cut) - 1 + region_of.size
        moved = second & cut[cluster]
        cluster[moved] = new_ids[cluster[moved]]
        region_of = np.concatenate([region_of, region_of[np.flatnonzero(cut)]])
        look = np.zeros(region_of.size, bool)
        look[np.flatnonzero(cut)] = True
        look[new_ids[cut]] = True
    if region_of.size == n:
        return seeds
    # seeds on the grid: a piece of a cluster with too few samples is noise, not a seed
    grid = np.zeros(small.size, np.int64)
    grid[samples] = cluster
    grid = grid.reshape(small.shape)
    from skimage.measure import label as pieces_of

    pieces = pieces_of(grid, background=0, connectivity=1)
    size = np.bincount(pieces.ravel())
    grid[np.take(size < max(1, min_samples / 4, (2 * pixel) ** 2), pieces)] = 0  # under 2x2 model pixels
    # ... then at full size: each seed pixel of a split region, away from the lines, takes
    # the cluster of its grid cell when that cell lies in the same region. Numbered 1..N:
    # regions left whole, and the clusters that kept a seed (each keeps the grid sample it
    # was found at)
    split = np.bincount(region_of, minlength=n) > 1
    present = np.zeros(region_of.size, bool)
    present[:n] = ~split
    present |= np.bincount(grid.ravel(), minlength=present.size) > 0
    present[0] = False
    number = np.cumsum(present).astype(np.int32)
    whole = np.where(split, 0, number[:n]).astype(np.int32)  # a region left whole keeps its seed; 0: split
    out = lookup(whole, labels)
    cells = [np.repeat(np.repeat(grid_values, stride, 0), stride, 1)[:h, :w]
             for grid_values in (number[grid], region_of[grid].astype(np.int32))]
    if cells[0].shape != (h, w):  # the grid's last cells cover the picture's edge
        cells = [np.pad(c, ((0, h - c.shape[0]), (0, w - c.shape[1])), mode="edge") for c in cells]
    cell, cell_region = cells
    seeded = (out == 0) & (labels > 0) & inside & (cell_region == labels) & (cell > 0)
    out[seeded] = cell[seeded]
    return out


CLOSED_SHARE = 0.2       # two painted areas in one region: the smaller covers at least this share of it
CLOSED_LARGE = 0.75      # ... with this share of its samples in pieces at least CLOSED_PIXELS model pixels square
CLOSED_PIXELS = 3


def _may_cut(cut: np.ndarray, second: np.ndarray, cluster: np.ndarray, samples: np.ndarray, open_: np.ndarray,
             rim: np.ndarray, shape: tuple[int, int], pixel: float, means: np.ndarray, sizes: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Of the clusters 2-means would cut, the two kinds it may cut (bool per cluster each).
    Per sample: ``rim``, whether it lies on its region's edge (:func:`_on_rim`). Per cluster:
    ``open_``, whether it has samples on the picture's edge, and the two colours' ``means``
    [m, 2, 3] and ``sizes`` [m, 2], from :func:`_two_means_all`.

    * ``to_paper``: a cluster open to the paper (with samples on the picture's edge) when one
      of its two colours is the paper's (white, as :func:`region_colours` judges a border
      region) and the other is not: the drawing and the paper around it, which a gap or the
      edge joined;
    * ``compact``: a cluster painted in two large areas: the smaller colour covers at least
      :data:`CLOSED_SHARE` of it, at least :data:`CLOSED_LARGE` of that lies in connected
      pieces of at least :data:`CLOSED_PIXELS` x :data:`CLOSED_PIXELS` model pixels, and it
      reaches the region's edge (shading in the middle of a region is not a second area).
      The caller cuts a region the lines close this way once; a region open to the paper,
      once a pass (after the first, only past :data:`OPEN_SPLIT_DELTA`).

    Mottling at the model's pixel size (camouflage patches) is many small pieces, and a
    darker centre touches no line: neither is cut. Measured: a 1024-px Noto face's closed
    regions went from 2.2 colours each (up to 7) to 1.1 (up to 2), at a cost of two of the
    214 OpenMoji val variant samples (0.995 to 0.986 with flats).
    """
    m = cut.size
    chosen = cut[cluster]
    key = cluster * 2 + second  # cluster and side, per sample
    paper = is_paper(means)
    minor = sizes.argmin(axis=1)
    grid = np.zeros(shape[0] * shape[1], np.int64)
    grid[samples[chosen]] = key[chosen] + 1
    # the samples of each colour that lie in large pieces
    large = np.bincount(grid[_in_large_pieces(grid, shape, pixel)] - 1, minlength=2 * m).reshape(m, 2)
    large = large[np.arange(m), minor]
    small_side = sizes[np.arange(m), minor]
    # a colour that reaches the region's edge (a line, or another region): a blob of shading
    # in the middle of a region (the model's darker centre of a head of hair) is not a second area
    reaches = (np.bincount(key[chosen & rim], minlength=2 * m) > 0).reshape(m, 2)[np.arange(m), minor]
    compact = reaches & (small_side >= CLOSED_SHARE * sizes.sum(axis=1)) & (large >= CLOSED_LARGE * small_side)
    return cut & open_ & (paper[:, 0] != paper[:, 1]), cut & compact


def _without_stray(rejected: np.ndarray, cluster: np.ndarray, colours: np.ndarray, second: np.ndarray,
                   means: np.ndarray, sizes: np.ndarray, to_paper: np.ndarray, compact: np.ndarray, delta: float,
                   min_samples: float, may_cut) -> None:
    """For the clusters 2-means would cut but ``may_cut`` refused (``rejected``) whose smaller
    group is under :data:`CLOSED_SHARE` of the cluster, 2-means again without that group;
    where that cut is taken, it replaces the refused one in ``second``, ``means``, ``sizes``,
    ``to_paper`` and ``compact`` (changed in place). The group left out stays on the first
    side, whatever its colour; ``sizes`` counts the two groups without it (nothing later in
    the pass reads it).

    2-means starts from the 99.5th-percentile farthest colour from a cluster's mean, so a
    thin group far from it (the light seams the model paints where the lines were) can take
    that side, and the two painted areas (a yellow face and brown hair that a gap in the
    lines joined) are never parted: the region was painted their blend."""
    rejected = rejected & (sizes.min(axis=1) < CLOSED_SHARE * sizes.sum(axis=1))  # a small group, not an area
    if not rejected.any():
        return
    minor_is_second = sizes[:, 1] < sizes[:, 0]
    kept = cluster.copy()
    kept[rejected[cluster] & (second == minor_is_second[cluster])] = 0  # cluster 0 is never cut
    cut2, second2, means2, sizes2 = _two_means_all(kept, colours, rejected, max(delta, OPEN_SPLIT_DELTA), min_samples)
    if not cut2.any():
        return
    to_paper2, compact2 = may_cut(cut2, second2, kept, means2, sizes2)
    taken = cut2 & (to_paper2 | compact2)
    if not taken.any():
        return
    chosen = taken[cluster]
    second[chosen] = second2[chosen] & (kept[chosen] > 0)
    means[taken], sizes[taken] = means2[taken], sizes2[taken]
    to_paper[taken], compact[taken] = to_paper2[taken], compact2[taken]


def _paper_cut(cut: np.ndarray, cluster: np.ndarray, samples: np.ndarray, paper_sample: np.ndarray,
               shape: tuple[int, int], pixel: float, min_samples: float) -> np.ndarray:
    """Of the clusters in ``cut`` (open to the paper around the drawing, and not cut to it by
    :func:`_may_cut`), those to cut at the paper's own edge instead (bool per cluster): with
    at least ``min_samples`` samples of paper (``paper_sample``, per sample) and as many of
    drawing, the drawing's mostly in pieces of at least :data:`CLOSED_PIXELS` x
    :data:`CLOSED_PIXELS` model pixels (a face, not paper mottled near the paper's threshold).

    2-means finds the two colours farthest apart, and with three in one cluster (the paper,
    a face and a blue coat that the picture's edge joined to the paper) it put the face
    with the paper, which then painted it white: neither side was the paper's colour alone,
    so it was not cut at all. Cut at the paper, the face and coat are looked at again in
    the next pass. Where 2-means already parts the paper from the drawing, its cut stands.
    """
    m = cut.size
    if not cut.any():
        return cut
    chosen = cut[cluster]
    drawing = chosen & ~paper_sample
    drawn = np.bincount(cluster[drawing], minlength=m)
    cut = cut & (drawn >= min_samples) & (np.bincount(cluster[chosen & paper_sample], minlength=m) >= min_samples)
    drawing &= cut[cluster]
    grid = np.zeros(shape[0] * shape[1], np.int64)
    grid[samples[drawing]] = cluster[drawing] + 1
    large = drawing & _in_large_pieces(grid, shape, pixel)[samples]
    return cut & (np.bincount(cluster[large], minlength=m) >= CLOSED_LARGE * drawn)


def _in_large_pieces(grid: np.ndarray, shape: tuple[int, int], pixel: float) -> np.ndarray:
    """Which cells of ``grid`` (flat, ``shape`` on the sample grid; 0: none, else a key) lie in
    a 4-connected piece of one key at least :data:`CLOSED_PIXELS` x :data:`CLOSED_PIXELS`
    model pixels (``pixel`` cells each) in area: a painted area, not mottling."""
    from skimage.measure import label as pieces_of

    pieces = pieces_of(grid.reshape(shape), background=0, connectivity=1).ravel()
    return (grid > 0) & (np.bincount(pieces)[pieces] >= max(4.0, (CLOSED_PIXELS * pixel) ** 2))


def _on_rim(region: np.ndarray, samples: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which samples (flat indices into a grid of ``shape``, each in ``region``) lie on their
    region's edge: a 4-neighbour on the grid is no sample, or a sample of another region."""
    owner = np.full(shape[0] * shape[1], -1, np.int64)
    owner[samples] = region
    owner = np.pad(owner.reshape(shape), 1)
    centre = owner[1:-1, 1:-1]
    return ((owner[:-2, 1:-1] != centre) | (owner[2:, 1:-1] != centre) | (owner[1:-1, :-2] != centre)
            | (owner[1:-1, 2:] != centre)).ravel()[samples]


def _two_means_all(cluster: np.ndarray, colours: np.ndarray, look: np.ndarray, delta: float,
                   min_samples: float, rounds: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2-means within every cluster. Returns which clusters to cut (bool [m]), which samples
    take the second colour (bool, per sample; set in the clusters cut), and each cut
    cluster's two mean colours (float [m, 2, 3]) and sample counts (int [m, 2]).

    A cluster is cut when it is in ``look``, its two colours are more than ``delta`` apart
    and the smaller group has at least ``min_samples`` samples. Starts from the cluster's
    mean and its 99.5th-percentile farthest colour (ties in sample order: deterministic).

    The samples are sorted by cluster once, so each cluster's 2-means runs on a contiguous
    block with matrix-vector products. A few clusters of thousands of samples each is the
    usual picture; gathering each sample's centres, as a vectorised 2-means over all
    clusters at once must, cost twice as much.
    """
    m = look.size
    count = np.bincount(cluster, minlength=m)
    wanted = look & (count >= 8)
    wanted[0] = False
    cut = np.zeros(m, bool)
    second = np.zeros(cluster.size, bool)
    means = np.zeros((m, 2, 3))
    sizes = np.zeros((m, 2), np.int64)
    if not wanted.any():
        return cut, second, means, sizes
    chosen = np.flatnonzero(wanted[cluster])
    key = cluster[chosen]
    chosen = chosen[np.argsort(key.astype(np.uint16) if m <= 1 << 16 else key, kind="stable")]  # radix sort
    x = colours[chosen].astype(np.float64)
    ks = np.flatnonzero(wanted)
    ends = np.cumsum(count[ks])
    for k, start, end in zip(ks, ends - count[ks], ends, strict=True):
        split = _two_means(x[start:end], delta, rounds)
        if split is not None and min(split[2]) >= min_samples:
            cut[k] = True
            second[chosen[start:end]], means[k], sizes[k] = split
    return cut, second, means, sizes


def _two_means(x: np.ndarray, delta: float, rounds: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """2-means of one cluster's colours (float64 [n, 3]), or None when its two colours are no
    more than ``delta`` apart: which samples take the second colour, the two means [2, 3]
    and the two counts (see :func:`_two_means_all`)."""
    n = len(x)
    total = np.ones(n) @ x  # a matrix-vector product: 10x faster than x.sum(0)
    mean = total / n
    off = x - mean
    distance = np.einsum("ij,ij->i", off, off)  # squared: the same order
    if distance.max() <= (delta / 2) ** 2:  # centres delta apart need a colour delta / 2 out
        return None
    position = int(0.995 * (n - 1))
    far = _order_statistic(distance, position)
    ties = np.flatnonzero(distance == far)
    c0, c1 = mean, x[ties[position - np.count_nonzero(distance < far)]]
    side = previous = None
    n1 = 0
    for _ in range(rounds):
        # nearer the second centre: 2 x . (c1 - c0) > |c1|^2 - |c0|^2
        side = (x @ (2 * (c1 - c0))) > c1 @ c1 - c0 @ c0
        count = int(np.count_nonzero(side))
        if previous is not None and count == n1 and np.array_equal(side, previous):
            break  # settled: the same sides give the same centres, round after round
        previous, n1 = side, count
        sum1 = side.astype(np.float64) @ x  # a side left empty keeps its centre
        c0, c1 = (total - sum1) / (n - n1) if n1 < n else c0, sum1 / n1 if n1 else c1
    if ((c0 - c1) ** 2).sum() <= delta ** 2:
        return None
    return side, np.stack([c0, c1]), (n - n1, n1)


def _order_statistic(values: np.ndarray, position: int) -> float:
    """``np.sort(values)[position]`` for a ``position`` near the top, found by a partition of
    the values above a threshold taken from every 8th value (a partition of them all is
    most of a 2-means' cost); the whole partition when too few lie above it."""
    n = len(values)
    if n >= 1024:
        every = values[::8]
        threshold = np.partition(every, int(0.98 * (len(every) - 1)))[int(0.98 * (len(every) - 1))]
        above = values[values >= threshold]
        below = n - len(above)  # no more than `position`: the answer is among those above
        if below <= position:
            return float(np.partition(above, position - below)[position - below])
    return float(np.partition(values, position)[position])


def _stride(shape: tuple[int, ...]) -> int:
    """The step of the sparse grid colour statistics are taken on: about ``SAMPLES`` points."""
    return max(1, int(np.sqrt(shape[0] * shape[1] / SAMPLES)))


def region_colours(labels: np.ndarray, soft: np.ndarray, ink: np.ndarray,
                   background_delta: float = BACKGROUND_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """Every region's colour from ``soft`` (RGB uint8, same size as ``labels``).

    Returns the colours, uint8 [N + 1, 3] (row 0 unused), and which regions are paper: the
    background regions left white because the model did not clearly paint them, bool [N + 1].
    """
    assert labels.shape == soft.shape[:2] == ink.shape, \
        f"labels {labels.shape}, colour {soft.shape[:2]} and ink {ink.shape} must be the same size"
    # medians in Lab over a sparse grid of paper; a region the grid misses uses all its paper
    n = int(labels.max()) + 1
    h, w = labels.shape
    stride = _stride(labels.shape)
    ys, xs = np.nonzero(~ink[::stride, ::stride])
    chosen = (ys * stride * w + xs * stride).astype(np.int64)
    flat = labels.ravel()
    seen = np.bincount(flat[chosen], minlength=n)
    missed = seen < 4
    missed[0] = False
    if missed.any():
        extra = np.flatnonzero(lookup(missed, labels) & ~ink)
        chosen = np.concatenate([chosen[~np.take(missed, flat[chosen])], extra])
        seen = np.bincount(flat[chosen], minlength=n)
    if (seen[1:] == 0).any():  # regions all ink: their ink it is
        chosen = np.concatenate([chosen, np.flatnonzero(lookup(seen == 0, labels))])
    colours_lab = _medians(flat[chosen], lab8(soft.reshape(-1, 3)[chosen]), n)
    colours = cv2.cvtColor(colours_lab[None], cv2.COLOR_LAB2RGB)[0]
    # background: the regions that touch the border, white unless clearly painted
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    paper = np.zeros(n, bool)
    paper[border[is_paper(lab8_units(colours_lab[border]), background_delta)]] = True
    colours[paper] = 255
    return colours, paper


def paint(labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Region ids [H, W] and one colour per id (uint8 [N + 1, 3]) -> RGB uint8 [H, W, 3]."""
    # one look-up of the colours packed as 32-bit RGBA (fancy indexing is 5x slower)
    rgba = np.zeros((len(colours), 4), np.uint8)
    rgba[:, :3] = colours
    packed = lookup(rgba.view(np.uint32).ravel(), labels)
    return cv2.cvtColor(packed.view(np.uint8).reshape(*labels.shape, 4), cv2.COLOR_RGBA2RGB)


def flat_colours(labels: np.ndarray, soft: np.ndarray, ink: np.ndarray,
                 background_delta: float = BACKGROUND_DELTA) -> np.ndarray:
    """Paint every region of ``labels`` one colour from ``soft`` (RGB uint8, same size)."""
    return paint(labels, region_colours(labels, soft, ink, background_delta)[0])
