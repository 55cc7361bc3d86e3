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

from dataclasses import dataclass

import cv2
import numpy as np

from colorize.finish.flats import flat_colours
from colorize.finish.regions import find_regions, line_mask

__all__ = ["FINISHES", "Finished", "finish", "finish_layers", "lay_lines", "upscale"]

FINISHES = ("flat", "soft")


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


def finish_layers(square: np.ndarray, sketch: np.ndarray, box: tuple[int, int, int, int], how: str = "soft",
                  gap: int | None = None, regions: bool = False) -> Finished:
    """Finish one picture and keep its layers (for layered files and the web page).

    ``regions``: find the regions and flats even for the soft finish (layered files hold both).
    """
    if how not in FINISHES:
        raise ValueError(f"unknown finish {how!r}; choose from {', '.join(FINISHES)}")
    soft = upscale(square, sketch, box)
    flats = labels = None
    if how == "flat" or regions:
        ink = line_mask(sketch)
        labels = find_regions(sketch, gap=gap, ink=ink)
        flats = flat_colours(labels, soft, ink)
    return Finished(sketch, soft, flats, labels, lay_lines(flats if how == "flat" else soft, sketch))


def finish(square: np.ndarray, sketch: np.ndarray, box: tuple[int, int, int, int], how: str = "soft",
           gap: int | None = None) -> np.ndarray:
    """The finished picture alone (see :func:`finish_layers`)."""
    return finish_layers(square, sketch, box, how, gap).result
