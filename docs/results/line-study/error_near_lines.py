"""Where a model's colour error sits: on and next to the lines, or inside the regions.

Colours the val split at the model's size (as ``colorize evaluate`` scores it) and splits
the mean CIEDE2000 between pixels within one pixel of a line (sketch darker than 200) and
the rest. Two "oracles" show how much of the error the lines themselves carry: the output
with the true colour put back on the line pixels only, and on the line pixels and their
neighbours.

    python docs/results/line-study/error_near_lines.py [MODEL] [--data data/openmoji]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from colorize.eval.evaluate import colour_all, load_split, model_colour
from colorize.colour import delta_e
from colorize.infer.colorizer import Colorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--data", default="data/openmoji")
    args = parser.parse_args()
    colorizer = Colorizer.from_pretrained(args.model, device="cpu")
    rows, sketches, colours = load_split(args.data, "val", colorizer.size, None)
    outputs = colour_all(model_colour(colorizer), rows, sketches, [r["tags"] for r in rows], 16, progress=False)
    near_sum = far_sum = near_n = far_n = 0.0
    whole, on_lines, beside_lines = [], [], []
    for row in rows:
        i = row["id"]
        out, truth = outputs[i], colours[i]
        line = sketches[i].mean(axis=-1) < 200
        near = cv2.dilate(line.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        error = delta_e(out, truth)
        whole.append(error.mean())
        near_sum, far_sum = near_sum + error[near].sum(), far_sum + error[~near].sum()
        near_n, far_n = near_n + near.sum(), far_n + (~near).sum()
        for mask, store in ((line, on_lines), (near, beside_lines)):
            fixed = out.copy()
            fixed[mask] = truth[mask]
            store.append(delta_e(fixed, truth).mean())
    print(f"model {colorizer.source} (step {colorizer.step}), {len(rows)} val samples at {colorizer.size} px")
    print(f"mean ΔE2000 {np.mean(whole):.2f}")
    print(f"pixels within 1 px of a line: {near_n / (near_n + far_n):.0%} of all, "
          f"{near_sum / (near_sum + far_sum):.0%} of the error; mean ΔE2000 there {near_sum / near_n:.2f}, "
          f"elsewhere {far_sum / far_n:.2f}")
    print(f"true colour put back on the line pixels: ΔE2000 {np.mean(on_lines):.2f}; "
          f"on them and their neighbours: {np.mean(beside_lines):.2f}")


if __name__ == "__main__":
    main()
