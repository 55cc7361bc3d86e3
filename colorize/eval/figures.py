"""Labelled image grids for reports: a title over each column, a caption beside each row.

    grid = labelled_grid([[sketch, out_a, out_b]], columns=["sketch", "a", "b"], rows=["woman"])
    save_image(grid, "sheet.png")
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorize.fileio import atomic_write_bytes

__all__ = ["heat_overlay", "labelled_grid", "save_image"]


def labelled_grid(cells: Sequence[Sequence[np.ndarray | None]], columns: Sequence[str] | None = None,
                  rows: Sequence[str] | None = None, thumb: int = 128, captions: Sequence[Sequence[str]] | None = None) -> Image.Image:
    """Images (RGB uint8, any size; None leaves a blank) in a grid, resized to ``thumb``.

    ``columns`` titles the columns, ``rows`` captions each row on its left, and
    ``captions`` (same shape as ``cells``) writes a line under each image.
    """
    font = ImageFont.load_default(size=max(10, thumb // 11))
    line = font.size + 3
    pad = 6
    n_cols = max(len(r) for r in cells)
    left = thumb if rows else 0
    top = 2 * line if columns else 0
    under = 2 * line if captions else 0
    width = left + n_cols * (thumb + pad) + pad
    height = top + len(cells) * (thumb + under + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    chars = max(8, int(thumb / (font.size * 0.55)))
    for c, title in enumerate(columns or []):
        for k, text in enumerate(textwrap.wrap(title, chars)[:2]):
            draw.text((left + pad + c * (thumb + pad), 2 + k * line), text, fill=(20, 20, 20), font=font)
    for r, row in enumerate(cells):
        y = top + pad + r * (thumb + under + pad)
        if rows:
            for k, text in enumerate(textwrap.wrap(rows[r], chars)[: max(1, thumb // line)]):
                draw.text((4, y + k * line), text, fill=(20, 20, 20), font=font)
        for c, image in enumerate(row):
            x = left + pad + c * (thumb + pad)
            if image is not None:
                sheet.paste(Image.fromarray(image).resize((thumb, thumb), Image.Resampling.LANCZOS), (x, y))
            if captions and c < len(captions[r]):
                for k, text in enumerate(textwrap.wrap(captions[r][c], chars)[:2]):
                    draw.text((x, y + thumb + 2 + k * line), text, fill=(20, 20, 20), font=font)
    return sheet


def heat_overlay(sketch: np.ndarray, heat: np.ndarray, scale: float) -> np.ndarray:
    """A heatmap [H, W] (0..``scale``) in the inferno colour map, with the sketch's lines over it."""
    level = np.clip(heat / max(scale, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    coloured = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    lines = sketch.min(axis=-1, keepdims=True).astype(np.float32) / 255.0
    # lines drawn in mid grey so they read over dark and bright parts of the map alike
    return (coloured * lines + 128 * (1 - lines)).astype(np.uint8)


def save_image(image: Image.Image | np.ndarray, path: str | os.PathLike) -> None:
    """Write a PNG atomically."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
