"""Image grids for TensorBoard: sketch | output | target per sample, with the tags written under them.

    grid = sample_grid(sketch, fake, target, tags)   # uint8 [H, W, 3]
"""

from __future__ import annotations

import textwrap

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from colorize.data.dataset import to_image

__all__ = ["sample_grid"]


def sample_grid(sketch: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, tags: list[list[str]],
                max_rows: int = 4) -> np.ndarray:
    """One row per sample (up to ``max_rows``): three images and a caption strip with the tags."""
    rows = min(max_rows, sketch.shape[0])
    size = sketch.shape[-1]
    font = ImageFont.load_default(size=max(9, size // 14))
    caption_h = 2 * (font.size + 3) + 4
    sheet = Image.new("RGB", (3 * size, rows * (size + caption_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for r in range(rows):
        y = r * (size + caption_h)
        for c, images in enumerate((sketch, fake, target)):
            sheet.paste(Image.fromarray(to_image(images[r])), (c * size, y))
        text = ", ".join(tags[r]) or "(no tags)"
        for k, line in enumerate(textwrap.wrap(text, max(10, int(3 * size / (font.size * 0.55))))[:2]):
            draw.text((4, y + size + 2 + k * (font.size + 3)), line, fill=(20, 20, 20), font=font)
    return np.asarray(sheet)
