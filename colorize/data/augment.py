"""Training augmentation of geometry: sketch and target move together.

:func:`geometric` moves sketch and target together (albumentations applies one sampled
transform to both), so lines stay over the colours they enclose. How the sketch's lines
are drawn and how they look (thicker, broken, pencil, scanned...) is the other half, and
never touches the target: :mod:`colorize.data.linestyles`.

The target gets no colour augmentation at all: a "red heart" must stay red, or the link
from tag to colour is what the model would unlearn. There is no horizontal flip either,
because tags such as "left arrow" or "facing right" name a direction.

    out = geometric()(image=sketch, target=color)
"""

from __future__ import annotations

import albumentations as A
import cv2

__all__ = ["geometric"]

WHITE = (255, 255, 255)


def geometric(p: float = 0.8) -> A.Compose:
    """Small shifts, zooms and turns, applied identically to ``image`` (sketch) and ``target``.

    Uncovered borders are filled white, the background of both images.
    """
    return A.Compose(
        [
            A.Affine(
                scale=(0.85, 1.1),
                translate_percent=(-0.06, 0.06),
                rotate=(-10, 10),
                interpolation=cv2.INTER_LINEAR,
                border_mode=cv2.BORDER_CONSTANT,
                fill=WHITE,
                p=p,
            )
        ],
        additional_targets={"target": "image"},
    )
