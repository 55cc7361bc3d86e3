"""Line extractors: line art made from a colour illustration when no line drawing exists.

Each extractor takes an RGB uint8 image and returns dark lines on white, RGB uint8 of the
same size. They are registered by name; ``mixed`` picks one at random per call, as
Tag2Pix does, so a model never overfits one line style.

    sketch = get_extractor("xdog")(rgb)

* ``xdog``: eXtended Difference of Gaussians with a hard threshold (PaintsTorch's
  settings: sigma 0.3-0.5, k 4.5, Otsu). Clean, thin contours.
* ``dilate``: 3x3 dilate minus the original, grey, threshold 32, inverted (PaintsChainer's
  trick). Keeps dark ink lines and colour edges alike.
* ``adaptive``: adaptive mean threshold on grey. Suits scans and pencil drawings.
* ``traced``: the boundaries between the picture's flat colour regions, traced on both
  sides, as a tracing program or an inker working over a colour picture draws them. A
  filled black outline becomes a double line; a colour edge becomes a line. Unlike the
  three above, which find a picture's black outlines again, it draws lines in another hand.
* ``solid``: ``traced``, with the darkest regions filled solid black, as in EmojiOne's
  monotone set or in manga inking.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["EXTRACTORS", "MIXED", "adaptive_threshold", "dilate_minus_original", "get_extractor", "mixed", "region_edges",
           "solid", "traced", "xdog"]

Extractor = Callable[[np.ndarray], np.ndarray]


def _grey(rgb: np.ndarray) -> np.ndarray:
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8, f"expected RGB uint8, got {rgb.shape} {rgb.dtype}"
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def xdog(rgb: np.ndarray, sigma: float = 0.5, k: float = 4.5, gamma: float = 0.98) -> np.ndarray:
    """XDoG lines: ``G(sigma) - gamma * G(k * sigma)`` on grey, thresholded with Otsu."""
    grey = _grey(rgb).astype(np.float32) / 255.0
    fine = cv2.GaussianBlur(grey, (0, 0), sigma)
    coarse = cv2.GaussianBlur(grey, (0, 0), sigma * k)
    dog = fine - gamma * coarse
    scaled = cv2.normalize(dog, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    _, lines = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Flat areas sit at the top of the DoG's range; a low Otsu split there is noise, not lines.
    lines[dog > -0.01] = 255
    return _rgb(lines)


def dilate_minus_original(rgb: np.ndarray, threshold: int = 32) -> np.ndarray:
    """Where a 3x3 dilation differs from the image by more than ``threshold``, draw a line."""
    grey = _grey(rgb)
    diff = cv2.absdiff(cv2.dilate(grey, np.ones((3, 3), np.uint8)), grey)
    return _rgb(np.where(diff > threshold, 0, 255).astype(np.uint8))


def adaptive_threshold(rgb: np.ndarray, block: int = 11, c: int = 8) -> np.ndarray:
    """Pixels darker than their ``block`` x ``block`` neighbourhood mean by ``c`` become lines."""
    grey = _grey(rgb)
    return _rgb(cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, c))


def _edge_kernel(side: int) -> np.ndarray:
    """The structuring element that traces edges: 3x3 up to 384 px, growing with the picture."""
    k = max(3, (round(side / 128) | 1))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def region_edges(rgb: np.ndarray, threshold: int = 40) -> np.ndarray:
    """Where the colour changes, bool [H, W]: the morphological gradient (3x3 max minus min)
    of some RGB channel is over ``threshold``. Both sides of every edge are marked."""
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8, f"expected RGB uint8, got {rgb.shape} {rgb.dtype}"
    gradient = cv2.morphologyEx(rgb, cv2.MORPH_GRADIENT, _edge_kernel(max(rgb.shape[:2])))
    r, g, b = cv2.split(gradient)  # cv2.max of the planes: 20x numpy's max over the last axis
    return cv2.max(cv2.max(r, g), b) > threshold


def traced(rgb: np.ndarray, threshold: int = 40) -> np.ndarray:
    """Lines along the boundaries of the flat colour regions (:func:`region_edges`)."""
    return _rgb(np.where(region_edges(rgb, threshold), 0, 255).astype(np.uint8))


def solid(rgb: np.ndarray, threshold: int = 40, dark: int = 60) -> np.ndarray:
    """:func:`traced`, and every region darker than ``dark`` (grey, of 255) filled black."""
    lines = region_edges(rgb, threshold) | (_grey(rgb) < dark)
    return _rgb(np.where(lines, 0, 255).astype(np.uint8))


EXTRACTORS: dict[str, Extractor] = {
    "xdog": xdog,
    "dilate": dilate_minus_original,
    "adaptive": adaptive_threshold,
    "traced": traced,
    "solid": solid,
}


CHOICES = (*sorted(EXTRACTORS), "mixed")
# what ``mixed`` picks from: the extractors that find a picture's own outlines again. Builds
# that pick one per file by its id (``data import``, ``data emoji``) index this tuple, so it
# stays fixed: a re-build picks what the first build picked.
MIXED = ("adaptive", "dilate", "xdog")


def mixed(rgb: np.ndarray, rng: random.Random | None = None) -> np.ndarray:
    """One of the registered extractors, chosen at random for this call.

    Uses Python's ``random`` by default, which PyTorch seeds differently in each
    DataLoader worker, so workers do not repeat each other's choices.
    """
    name = (rng or random).choice(MIXED)
    return EXTRACTORS[name](rgb)


def get_extractor(name: str) -> Extractor:
    """The extractor registered as ``name`` (or ``mixed``); ``ValueError`` naming the choices otherwise."""
    if name == "mixed":
        return mixed
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ValueError(f"unknown line extractor {name!r}; choose from {', '.join(CHOICES)}") from None

