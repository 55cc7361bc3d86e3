"""Colour maths in CIELAB, in one place: every caller that compares or averages colours uses these.

Two ways in, for two needs:

* :func:`lab` / :func:`rgb` / :func:`delta_e`: scikit-image's CIELAB (D65, float) and
  CIEDE2000, for measuring and for matching a few colours (palettes, metrics).
* :func:`lab8` / :func:`lab8_units`: OpenCV's 8-bit Lab, about 20x faster, for statistics over
  millions of pixels (the flat finish). Its units differ (L scaled to 0..255, a and b offset
  by 128); :func:`lab8_units` turns them into CIE units.

    distance = delta_e(lab(np.array([[255, 0, 0]], np.uint8)), lab(np.array([[250, 10, 5]], np.uint8)))
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab

__all__ = ["delta_e", "hex_colour", "lab", "lab8", "lab8_units", "rgb"]


def lab(rgb_values: np.ndarray) -> np.ndarray:
    """RGB uint8 [..., 3] -> CIELAB float [..., 3] (D65)."""
    return rgb2lab(rgb_values)


def rgb(lab_values: np.ndarray) -> np.ndarray:
    """CIELAB float [..., 3] -> RGB uint8 [..., 3], out-of-gamut colours clipped."""
    return np.clip(np.rint(lab2rgb(lab_values) * 255), 0, 255).astype(np.uint8)


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two RGB uint8 arrays [..., 3] (or Lab arrays, if float); broadcasts."""
    la = a if a.dtype.kind == "f" else lab(a)
    lb = b if b.dtype.kind == "f" else lab(b)
    la, lb = np.broadcast_arrays(la, lb)
    return deltaE_ciede2000(la, lb, channel_axis=-1)


def lab8(rgb_values: np.ndarray) -> np.ndarray:
    """RGB uint8 pixels [M, 3] -> OpenCV's 8-bit Lab [M, 3] (converting only these pixels)."""
    if len(rgb_values) == 0:
        return np.zeros((0, 3), np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb_values).reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3)


def lab8_units(values: np.ndarray) -> np.ndarray:
    """OpenCV's 8-bit Lab (L scaled to 0..255, a and b offset by 128) -> CIE units, float32."""
    out = values.astype(np.float32)
    out[..., 0] *= 100 / 255
    out[..., 1:] -= 128
    return out


def hex_colour(value: np.ndarray | tuple[int, int, int]) -> str:
    """(r, g, b) -> ``#rrggbb``."""
    r, g, b = (int(v) for v in value)
    return f"#{r:02x}{g:02x}{b:02x}"
