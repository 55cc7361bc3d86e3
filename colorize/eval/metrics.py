"""Image metrics and the tag-faithfulness measure, on RGB uint8 images.

L1, PSNR and SSIM come from scikit-image, and so does the CIEDE2000 colour difference
(computed in CIELAB, D65): well-kept implementations, not hand-written ones.

**Variant accuracy** asks whether the output follows the tags. A *variant group* is every
sample that shares one line drawing but has a different colour image (skin tones, hair
colours, named colours). For each member ``m`` the shared sketch is coloured with ``m``'s
tags and compared with every member's colour image, by the mean CIEDE2000 over the pixels
where the group's colour images differ from each other. The prediction is correct when
the closest colour image is ``m``'s own. Chance is ``1 / group size``.

    scores = image_metrics(output, target)          # {"l1", "psnr", "ssim", "delta_e"}
    correct = variant_hits(outputs, colours)        # one bool per member
    hits = member_hits(groups, outputs, colours)    # {id: bool} over a split's groups
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorize.colour import delta_e, lab

__all__ = ["DIFFER_TOLERANCE", "chroma", "differ_mask", "image_metrics", "member_hits",
           "variant_groups", "variant_hits"]

# Two colour images "differ" at a pixel when some channel differs by more than this (of 255):
# enough to ignore resampling noise along shared edges, far below any real colour change.
DIFFER_TOLERANCE = 12


def chroma(rgb: np.ndarray) -> float:
    """Mean CIELAB chroma C* = sqrt(a*^2 + b*^2): 0 for greys, about 30-130 for saturated colours."""
    values = lab(rgb)
    return float(np.hypot(values[..., 1], values[..., 2]).mean())


def psnr_ceiling(shape: tuple[int, ...]) -> float:
    """The PSNR (dB) of uint8 images of ``shape`` that differ by one level in one value:
    the highest PSNR two differing images of that size can have (about 89 dB at 64x64x3)."""
    return float(10 * np.log10(255.0 ** 2 * np.prod(shape)))


def image_metrics(output: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """L1 (mean absolute error, RGB scaled to [0, 1]), PSNR (dB), SSIM and mean CIEDE2000.

    Identical images give L1 0, SSIM 1 and CIEDE2000 0. Their PSNR would be infinite, and
    one such image would make a split's mean PSNR infinite too, so it is capped at
    :func:`psnr_ceiling`: the PSNR of the smallest possible difference.
    """
    assert output.shape == target.shape and output.ndim == 3 and output.shape[2] == 3, \
        f"output {output.shape} and target {target.shape} must both be [H, W, 3]"
    identical = np.array_equal(output, target)
    return {
        "l1": float(np.abs(output.astype(np.float32) - target.astype(np.float32)).mean() / 255.0),
        "psnr": psnr_ceiling(output.shape) if identical
                else float(peak_signal_noise_ratio(target, output, data_range=255)),
        # 7x7 windows need 7 px; smaller test images get the largest odd window that fits
        "ssim": 1.0 if identical else float(structural_similarity(
            target, output, channel_axis=-1, data_range=255, win_size=min(7, (min(output.shape[:2]) - 1) | 1))),
        "delta_e": 0.0 if identical else float(delta_e(output, target).mean()),
    }


def variant_groups(rows: Iterable[dict], colours: dict[str, np.ndarray]) -> list[list[str]]:
    """Groups of row ids that share a drawing but not a colour image.

    ``colours`` maps id -> colour image. Of several members with the very same colour
    image only the first (by id) is kept: there would be no telling them apart.
    """
    by_drawing: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_drawing[row.get("drawing") or row["id"]].append(row["id"])
    groups = []
    for ids in by_drawing.values():
        distinct: list[str] = []
        for i in sorted(ids):
            if not any(np.array_equal(colours[i], colours[j]) for j in distinct):
                distinct.append(i)
        if len(distinct) >= 2:
            groups.append(distinct)
    return sorted(groups)


def differ_mask(colours: Sequence[np.ndarray], tolerance: int = DIFFER_TOLERANCE) -> np.ndarray:
    """Pixels [H, W] where some colour image of a group differs from another."""
    stack = np.stack(colours).astype(np.int16)
    return (stack.max(axis=0) - stack.min(axis=0)).max(axis=-1) > tolerance


def variant_hits(outputs: Sequence[np.ndarray], colours: Sequence[np.ndarray]) -> list[bool] | None:
    """For a group: was output ``m`` (coloured with member m's tags) closest to colour image m?

    Closeness is the mean CIEDE2000 over :func:`differ_mask`. Returns None when the group's
    colour images differ nowhere above the tolerance (nothing to tell apart).
    """
    assert len(outputs) == len(colours) >= 2, f"{len(outputs)} outputs for {len(colours)} colour images"
    mask = differ_mask(colours)
    if not mask.any():
        return None
    targets = [lab(c)[mask] for c in colours]
    hits = []
    for m, output in enumerate(outputs):
        predicted = lab(output)[mask]
        distances = [float(delta_e(predicted, t).mean()) for t in targets]
        hits.append(int(np.argmin(distances)) == m)
    return hits


def member_hits(groups: Iterable[Sequence[str]], outputs: dict[str, np.ndarray],
                colours: dict[str, np.ndarray]) -> dict[str, bool]:
    """:func:`variant_hits` of every group in ``groups`` (ids; ``outputs`` and ``colours`` by
    id), by member. Members of a group whose colour images differ nowhere are left out."""
    hits: dict[str, bool] = {}
    for group in groups:
        result = variant_hits([outputs[i] for i in group], [colours[i] for i in group])
        if result is not None:
            hits.update(zip(group, result, strict=True))
    return hits
