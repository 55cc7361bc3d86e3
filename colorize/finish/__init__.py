"""Finishing: from the model's small colouring to the picture at the sketch's own size.

* ``soft``: the model's colour, scaled up, with the sketch's lines multiplied over it.
* ``flat``: every region the lines enclose (:mod:`.regions`) painted one colour, the
  median of the model's colour over it (:mod:`.flats`), lines multiplied over. What
  flatters hand to colourists: clean fills to shade and fix.

The network runs at its own size (64 px for the shipped model); the regions are found at
the sketch's, so a 4000x4000 scan is filled at 4000x4000.

    result = finish(square, sketch, box, how="flat")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from colorize.finish.flats import paint, region_colours, split_by_colour
from colorize.finish.regions import as_grey, default_gap, default_min_area, find_seeds, flood, line_mask
from colorize.palette import DEFAULT_MAX_DE, Palette, Snapped, snap

__all__ = ["DEFAULT_FINISH", "FINISHES", "FinishOptions", "Finished", "FlatRegions", "finish", "finish_layers",
           "flat_problem", "flat_regions", "lay_lines", "painted_colours", "snap_many", "snap_regions", "snap_summary",
           "upscale"]

FINISHES = ("flat", "soft")
DEFAULT_FINISH = "flat"  # measured better on OpenMoji val: benchmarks/finish_quality.py, docs/colouring.md, "Flats"


def upscale(square: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The model's square output -> its sketch's part, at the sketch's size (RGB uint8)."""
    x, y, w, h = box
    colour = square[y:y + h, x:x + w]
    height, width = original.shape[:2]
    if (width, height) != (w, h):
        colour = cv2.resize(colour, (width, height), interpolation=cv2.INTER_CUBIC if width > w else cv2.INTER_AREA)
    return np.ascontiguousarray(colour)


def lay_lines(colour: np.ndarray, sketch: np.ndarray) -> np.ndarray:
    """Multiply blend: white paper lets the colour through, the drawn lines stay as drawn."""
    return (colour.astype(np.uint16) * sketch.astype(np.uint16) // 255).astype(np.uint8)


@dataclass
class Finished:
    """Every layer of a finished picture, all at the sketch's size."""

    sketch: np.ndarray        # the lines as given, RGB uint8
    soft: np.ndarray          # the model's colour, scaled up, RGB uint8
    flats: np.ndarray | None  # one colour per region, RGB uint8 (flat finish, or regions asked for)
    labels: np.ndarray | None  # region ids, int32 1..N (likewise)
    result: np.ndarray        # the chosen finish with the lines laid over
    finish: str = "soft"      # the finish the result has (flat can fall back to soft)
    note: str | None = None   # why it fell back, for the user
    colours: np.ndarray | None = None  # each region's flat colour, uint8 [N + 1, 3] (row 0 unused)
    paper: np.ndarray | None = None    # which regions are the white paper around the drawing, bool [N + 1]
    snapped: Snapped | None = None     # with a palette: which region (row i: region i + 1) took which entry
    palette: Palette | None = None     # the palette snapped to


@dataclass(frozen=True)
class FinishOptions:
    """How a run finishes its pictures (see :func:`finish_layers`)."""

    how: str = DEFAULT_FINISH          # "flat" or "soft"
    gap: int | None = None             # stroke gaps closed when finding regions; None scales with the picture
    palette: Palette | None = None     # flat regions snap to it (within max_de CIEDE2000)
    max_de: float = DEFAULT_MAX_DE

    def __post_init__(self) -> None:
        if self.how not in FINISHES:
            raise ValueError(f"unknown finish {self.how!r}; choose from {', '.join(FINISHES)}")


def snap_summary(finished: "Finished") -> str | None:
    """What a palette did to a picture, for ``-v``: "4 of 7 regions took palette colours: hair x2, skin x2"."""
    if finished.snapped is None or finished.palette is None:
        return None
    index = finished.snapped.index
    painted = int((~finished.paper[1:]).sum())
    took = index[index >= 0]
    names: dict[str, int] = {}
    for i in took:
        label = finished.palette.swatches[i].label
        names[label] = names.get(label, 0) + 1
    listed = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in names.items())
    return f"{len(took)} of {painted} regions took palette colours{': ' + listed if listed else ''}"


def painted_colours(finished: "Finished | FlatRegions") -> tuple[np.ndarray, np.ndarray]:
    """The flat colours of a picture's painted regions (not the paper) with their areas in pixels:
    uint8 [K, 3] and int [K], one row per region; for the palette of a colouring. A
    :class:`FlatRegions` gives the model's own colours; a :class:`Finished` made with a
    palette, the snapped ones."""
    assert finished.labels is not None and finished.colours is not None, "the palette of a colouring needs its regions"
    area = np.bincount(finished.labels.ravel(), minlength=len(finished.colours))
    painted = ~finished.paper
    painted[0] = False
    return finished.colours[painted], area[painted]


MIN_PAPER = 0.15  # flat needs at least this share of paper (not ink) to fill
MIN_OPEN = 0.2    # ...and at least this share of the paper wider than the gap ball


def flat_problem(ink: np.ndarray, labels: np.ndarray, gap: int) -> str | None:
    """Why a flat finish would not help this sketch (then it is finished soft), or None."""
    paper_pixels = ink.size - np.count_nonzero(ink)
    paper = paper_pixels / ink.size
    if paper == 1.0:
        return "it has no lines to fill between"
    if paper < MIN_PAPER:
        return f"it is {1 - paper:.0%} ink (solid black or dense hatching), too little paper between the lines to fill"
    ball = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
    if cv2.countNonZero(cv2.erode(np.logical_not(ink).view(np.uint8), ball)) < MIN_OPEN * paper_pixels:
        return ("it is mostly ink (hatching or texture): most of its paper lies in gaps narrower than the "
                "gap ball, so there are no areas to fill")
    if labels.max() <= 1:
        return "its lines enclose no region (open strokes), so there is nothing to fill one colour"
    return None


def snap_regions(colours: np.ndarray, paper: np.ndarray, palette: Palette,
                 max_de: float = DEFAULT_MAX_DE) -> tuple[np.ndarray, Snapped]:
    """Region colours (uint8 [N + 1, 3]) with each painted region snapped to ``palette``
    (:func:`colorize.palette.snap`); the paper stays white. Returns the colours and the snap."""
    snapped = snap(colours[1:], palette, max_de)
    keep = paper[1:]
    index = np.where(keep, -1, snapped.index)
    out = colours.copy()
    out[1:] = np.where(keep[:, None], colours[1:], snapped.rgb)
    return out, Snapped(out[1:], index, snapped.distance)


@dataclass
class FlatRegions:
    """What a flat finish finds before any palette is applied: the regions and their own
    colours. :func:`flat_regions` finds it; :func:`finish_layers` paints it, snapped or not,
    so a run that builds its palette from its pages can find every page's regions while
    the model runs and paint them once the palette is known."""

    labels: np.ndarray         # region ids, int32 [H, W], 1..N
    colours: np.ndarray        # each region's colour from the model, uint8 [N + 1, 3] (row 0 unused)
    paper: np.ndarray          # which regions are the white paper around the drawing, bool [N + 1]
    problem: str | None        # why a flat finish would not help this sketch (:func:`flat_problem`), or None
    # already snapped (:func:`snap_many`): the palette, max_de, and snap_regions' colours and snap
    snapped: tuple[Palette, float, np.ndarray, Snapped] | None = None


def flat_regions(soft: np.ndarray, sketch: np.ndarray, model_shape: tuple[int, ...], gap: int | None = None
                 ) -> FlatRegions:
    """The regions of ``sketch`` and their colours from ``soft`` (the model's colour scaled up
    to the sketch, :func:`upscale`); ``model_shape``: the model's square, whose pixel size
    decides how far its colour blurs across the lines. No palette is involved."""
    gap = default_gap(sketch.shape) if gap is None else gap
    grey = as_grey(sketch)
    ink = line_mask(grey)
    seeds = find_seeds(grey, gap=gap, ink=ink)
    # the model's pixel at the sketch's size: how far its scaled-up colour blurs
    # half a model pixel at the sketch's size, but never more than a 16th of its shorter side
    # (a 1,000,000 x 8 strip has 7,800-px model pixels: eroding by those took minutes)
    margin = max(1, min(round(max(sketch.shape[:2]) / max(model_shape[:2]) / 2), min(sketch.shape[:2]) // 16))
    labels = flood(split_by_colour(seeds, soft, ink, default_min_area(gap), margin), ink)
    colours, paper = region_colours(labels, soft, ink)
    return FlatRegions(labels, colours, paper, flat_problem(ink, labels, gap))


def snap_many(found: Sequence[FlatRegions], palette: Palette, max_de: float = DEFAULT_MAX_DE) -> list[FlatRegions]:
    """Many pictures' regions snapped to one palette, as :func:`finish_layers` would snap each
    (:func:`snap_regions`), by one CIEDE2000 over all their colours: a consistent run's pages
    took 0.6 ms each for a few dozen colours, nearly all of it NumPy's per-call cost, with the GIL held."""
    if not found:
        return []
    colours, snapped = snap_regions(np.concatenate([found[0].colours[:1]] + [f.colours[1:] for f in found]),
                                    np.concatenate([[False]] + [f.paper[1:] for f in found]), palette, max_de)
    ends = np.cumsum([len(f.colours) - 1 for f in found])
    out = []
    for f, end, start in zip(found, ends, np.concatenate([[0], ends[:-1]]), strict=True):
        rows = slice(start, end)
        mine = np.concatenate([f.colours[:1], colours[1:][rows]])
        out.append(replace(f, snapped=(palette, max_de, mine,
                                       Snapped(mine[1:], snapped.index[rows], snapped.distance[rows]))))
    return out


def finish_layers(square: np.ndarray, sketch: np.ndarray, box: tuple[int, int, int, int], how: str = DEFAULT_FINISH,
                  gap: int | None = None, regions: bool = False, palette: Palette | None = None,
                  max_de: float = DEFAULT_MAX_DE, found: FlatRegions | None = None) -> Finished:
    """Finish one picture and keep its layers (for layered files and the web page).

    ``regions``: find the regions and flats even for the soft finish (layered files hold both).
    ``palette``: each flat region takes its nearest palette colour within ``max_de`` CIEDE2000
    (:func:`snap_regions`); ``snapped`` says which did.
    ``found``: this picture's :func:`flat_regions`, already found (with the same ``gap``);
    when :func:`snap_many` snapped it to this ``palette`` and ``max_de``, that snap is used.
    Not used by a soft finish without ``regions``.
    A sketch that flat finishing cannot help (no lines, all ink, no closed region; see
    :func:`flat_problem`) is finished soft, and ``note`` says why.
    """
    if how not in FINISHES:
        raise ValueError(f"unknown finish {how!r}; choose from {', '.join(FINISHES)}")
    soft = upscale(square, sketch, box)
    if how == "flat" or regions:
        if found is None:
            found = flat_regions(soft, sketch, square.shape, gap)
        assert found.labels.shape == sketch.shape[:2], f"regions {found.labels.shape}, sketch {sketch.shape[:2]}"
        colours, snapped, labels = found.colours, None, found.labels
        if found.snapped is not None and found.snapped[0] is palette and found.snapped[1] == max_de:
            colours, snapped = found.snapped[2:]
        elif palette is not None:
            colours, snapped = snap_regions(colours, found.paper, palette, max_de)
        flats = paint(labels, colours)
        layers = {"colours": colours, "paper": found.paper, "snapped": snapped, "palette": palette}
        if how == "flat":
            if found.problem is None:
                return Finished(sketch, soft, flats, labels, lay_lines(flats, sketch), "flat", **layers)
            return Finished(sketch, soft, flats, labels, lay_lines(soft, sketch), "soft",
                            f"finished soft, not flat: {found.problem}", **layers)
        return Finished(sketch, soft, flats, labels, lay_lines(soft, sketch), **layers)
    return Finished(sketch, soft, None, None, lay_lines(soft, sketch))


def finish(square: np.ndarray, sketch: np.ndarray, box: tuple[int, int, int, int], how: str = DEFAULT_FINISH,
           gap: int | None = None) -> np.ndarray:
    """The finished picture alone (see :func:`finish_layers`)."""
    return finish_layers(square, sketch, box, how, gap).result
