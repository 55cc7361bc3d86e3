"""Copy a `colorize data emoji` set with its line art widened by a k x k minimum filter.

    python docs/results/twemoji/thicken.py data/twemoji /tmp/twemoji-thick5 5
    colorize evaluate MODEL --data /tmp/twemoji-thick5 --no-baseline

The colour pictures are linked, not copied. At 256 px Twemoji's XDoG lines are about 2.7
px wide by the measure below (twice the mean distance of an ink pixel to paper), and
OpenMoji's own lines about 5.1; k - 1 px are added.
"""

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

src, out, k = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
(out / "sketch").mkdir(parents=True, exist_ok=False)
(out / "color").symlink_to((src / "color").resolve())
shutil.copy(src / "manifest.jsonl", out / "manifest.jsonl")
for path in (src / "sketch").iterdir():
    cv2.imwrite(str(out / "sketch" / path.name), cv2.erode(cv2.imread(str(path)), np.ones((k, k), np.uint8)))


def ink_width(path: Path) -> float:
    ink = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) < 128
    return 2 * float(cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)[ink].mean()) if ink.any() else 0.0


widths = [ink_width(p) for p in sorted((out / "sketch").iterdir())[:200]]
print(f"{out}: {len(list((out / 'sketch').iterdir()))} sketches widened by {k - 1} px; "
      f"mean ink width of the first 200: {np.mean(widths):.2f} px")
