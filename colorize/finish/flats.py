"""Flat colours: one colour per region of the sketch, taken from the model's soft colouring.

Each region (:func:`colorize.finish.regions.find_regions`) takes the median, in Lab, of the
model's colour over its paper pixels (over all its pixels if it is all ink). Regions that
touch the picture's border are the background: they stay white unless the model clearly
painted them (the median is more than ``background_delta`` CIE76 units from white).

    flats = flat_colours(labels, soft, ink)          # RGB uint8 [H, W, 3]
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["BACKGROUND_DELTA", "flat_colours", "region_medians"]

BACKGROUND_DELTA = 12.0   # CIE76 from white above which a border region counts as painted


def region_medians(labels: np.ndarray, values: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Per-label median of uint8 ``values`` [H, W, C] -> [N + 1, C] uint8 (row 0 unused).

    ``use`` (bool [H, W]) restricts each region to those pixels where it has any.
    Exact medians from per-label histograms (one ``bincount`` per channel): linear time.
    """
    n = int(labels.max()) + 1
    flat = labels.ravel().astype(np.int64)
    out = np.zeros((n, values.shape[-1]), np.uint8)
    chosen = np.ones(flat.shape, bool) if use is None else use.ravel()
    # a region with no usable pixel falls back to all of its pixels
    has = np.bincount(flat[chosen], minlength=n) > 0
    chosen = chosen | ~has[flat]
    keys = flat[chosen]
    for c in range(values.shape[-1]):
        histogram = np.bincount(keys * 256 + values[..., c].ravel()[chosen], minlength=n * 256).reshape(n, 256)
        cumulative = histogram.cumsum(axis=1)
        half = (cumulative[:, -1:] + 1) // 2
        out[:, c] = (cumulative >= np.maximum(half, 1)).argmax(axis=1)
    return out


def flat_colours(labels: np.ndarray, soft: np.ndarray, ink: np.ndarray,
                 background_delta: float = BACKGROUND_DELTA) -> np.ndarray:
    """Paint every region of ``labels`` one colour from ``soft`` (RGB uint8, same size)."""
    assert labels.shape == soft.shape[:2] == ink.shape, \
        f"labels {labels.shape}, colour {soft.shape[:2]} and ink {ink.shape} must be the same size"
    lab = cv2.cvtColor(soft, cv2.COLOR_RGB2LAB)
    palette_lab = region_medians(labels, lab, use=~ink)
    palette = cv2.cvtColor(palette_lab[None], cv2.COLOR_LAB2RGB)[0]
    # background: the regions that touch the border, white unless clearly painted
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    white = cv2.cvtColor(np.full((1, 1, 3), 255, np.uint8), cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
    lab_f = palette_lab[border].astype(np.float32)
    lab_f[:, 0] *= 100 / 255  # OpenCV's 8-bit Lab: L scaled to 0..255, a and b offset by 128
    reference = white.copy()
    reference[0] *= 100 / 255
    distance = np.linalg.norm(lab_f - reference, axis=1)
    palette[border[distance <= background_delta]] = 255
    return palette[labels]
