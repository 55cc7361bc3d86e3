"""Benchmark: do skin-tone tags order the skin, on an emoji set's drawings the model never saw?

Variant accuracy asks whether each output is nearest its own colour image among the
drawing's colourings. Across emoji sets that mixes two things: following the tag, and
matching the set's palette (Twemoji's "medium skin tone" is not OpenMoji's) and its
conventions (Twemoji changes the hair with the tone, which no tag says). This script
separates them on the drawings that come in exactly six colourings, the toneless one
and the five skin tones (``colorize data emoji`` groups them so, all with one sketch):

* **variant accuracy** on those groups, as ``colorize evaluate`` scores it;
* **confusion**: for each tag's tone, which member's colour image the output was nearest;
* **within one tone**: a toned output nearest its own tone or a neighbouring one, the
  toneless output nearest the toneless picture;
* **order**: the share of drawings whose five toned outputs get darker (mean CIELAB L*
  over the skin: the pixels where the colour images get darker with every step) with
  every step from light to dark. By chance, 1 in 120. It is :func:`colorize.eval.hands.tone_order`, which ``colorize
  evaluate`` reports per dataset too (over the five-tone drawings with or without their
  toneless member; here only those with it, for the confusion table).

    python benchmarks/tone_order.py --data data/twemoji --model colorize/pretrained/openmoji-64 --model ...
"""

from __future__ import annotations

import argparse

import numpy as np
from skimage.color import deltaE_ciede2000

from colorize.colour import lab
from colorize.eval.evaluate import colour_all, load_split, model_colour
from colorize.eval.hands import five_tone_groups, tone_of, tone_order
from colorize.eval.metrics import differ_mask, variant_groups
from colorize.infer.colorizer import Colorizer

NAMES = ["none", "light", "med-light", "medium", "med-dark", "dark"]


def measure(model: Colorizer, data: str) -> dict:
    rows, sketches, colours = load_split(data, "val", model.size)
    rows = [r for r in rows if not r.get("is_flag")]
    by_id = {r["id"]: r for r in rows}
    groups = [g for g in five_tone_groups(variant_groups(rows, colours)) if len(g) == 6]  # with the toneless one
    members = [by_id[i] for g in groups for i in g]
    outputs = colour_all(model_colour(model), members, sketches, [list(r["tags"]) for r in members], 16,
                         desc="colour", progress=False)
    confusion = np.zeros((6, 6), int)
    for group in groups:
        mask = differ_mask([colours[i] for i in group])
        if not mask.any():  # colourings that differ nowhere: nothing to tell apart (variant_groups keeps none now)
            continue
        targets = [lab(colours[i])[mask] for i in group]
        for i in group:
            predicted = lab(outputs[i])[mask]
            distances = [float(deltaE_ciede2000(predicted, t, channel_axis=-1).mean()) for t in targets]
            confusion[tone_of(i), tone_of(group[int(np.argmin(distances))])] += 1
    ordered = tone_order(groups, outputs, colours)  # as `colorize evaluate` reports it, per hand
    total = confusion.sum()
    near = sum(confusion[t, u] for t in range(6) for u in range(6) if abs(t - u) <= 1 and (t == 0) == (u == 0))
    return {"groups": len(ordered), "samples": int(total), "accuracy": np.trace(confusion) / total,
            "within_one": near / total, "ordered": float(np.mean(ordered)), "ordered_groups": ordered,
            "confusion": confusion}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/twemoji", help="a dataset built by `colorize data emoji`")
    parser.add_argument("--model", action="append", help="repeatable; default: the shipped model")
    args = parser.parse_args()
    for path in args.model or [None]:
        model = Colorizer.from_pretrained(path, device="cpu")
        result = measure(model, args.data)
        print(f"\n{model.source} (step {model.step}) on {args.data}: {result['groups']} drawings in six "
              f"colourings, {result['samples']} samples")
        print(f"  variant accuracy {result['accuracy']:.3f} (chance 0.167), within one tone "
              f"{result['within_one']:.3f}, toned outputs in order {result['ordered']:.3f} (chance 0.008)")
        print("  rows: the tag's tone; columns: the tone whose colour image the output was nearest")
        print("  " + " ".join(f"{n:>9}" for n in ["", *NAMES]))
        for name, line in zip(NAMES, result["confusion"], strict=True):
            print("  " + f"{name:>9} " + " ".join(f"{v:>9}" for v in line))


if __name__ == "__main__":
    main()
