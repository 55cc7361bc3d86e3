"""Training augmentation, in two parts that must stay apart.

* :func:`geometric` moves sketch and target together (albumentations applies one sampled
  transform to both), so lines stay over the colours they enclose.
* :func:`line_style` changes only how the sketch's lines look: thicker or thinner strokes,
  blur, noise, JPEG artefacts. It never touches the target.

The target gets no colour augmentation at all: a "red heart" must stay red, or the link
from tag to colour is what the model would unlearn. There is no horizontal flip either,
because tags such as "left arrow" or "facing right" name a direction.

    geo, style = geometric(), line_style()
    out = geo(image=sketch, target=color); sketch = style(image=out["image"])["image"]
"""

from __future__ import annotations

import albumentations as A
import cv2

__all__ = ["geometric", "line_style"]

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


def line_style(p: float = 0.8) -> A.Compose:
    """Vary the look of dark-on-white line art: stroke width, softness, noise and compression.

    On dark lines over white, ``erosion`` (a minimum filter) thickens the lines and
    ``dilation`` thins them.
    """
    return A.Compose(
        [
            A.OneOf(
                [
                    A.Morphological(scale=(2, 3), operation="erosion", p=1.0),
                    A.Morphological(scale=(2, 2), operation="dilation", p=1.0),
                ],
                p=0.4 * p,
            ),
            A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.2), p=0.3 * p),
            A.GaussNoise(std_range=(0.01, 0.06), p=0.3 * p),
            A.ImageCompression(quality_range=(40, 95), p=0.3 * p),
        ]
    )
