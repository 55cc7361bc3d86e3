"""Benchmark: does one tag set give the same colours on every page? With and without --consistent.

1. **Spread.** For each skin tone, every drawing of the dataset's five-tone groups (its
   member of that tone) is coloured with that one tag set ("medium skin tone"), the way a
   comic's pages share a character's tags, by ``colour_files`` (what ``colorize run``
   does), flat finish, at the stored 256 px. Each page's skin colour is the median CIELAB
   of the output over the group's skin (the pixels whose colour images darken with every
   tone step, :func:`colorize.eval.hands.skin_mask`). The spread is the mean pairwise
   CIEDE2000 between the pages' skin colours; the table gives the mean over the five tones.
2. **Variant accuracy.** Every sketch of the split coloured with its own tags (one tag set
   each, as ``colorize evaluate`` does), with and without ``--consistent``, scored against
   the colour images: the palette must not cost tag fidelity.

Twemoji is a test set: it is measured here, never tuned on.

    python benchmarks/consistency.py [--model DIR] [--data data/openmoji --split val] [--data data/twemoji]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from colorize.colour import delta_e, lab
from colorize.data.tags import SKIN_TONES
from colorize.eval.evaluate import load_split, score
from colorize.eval.hands import five_tone_groups, skin_mask
from colorize.eval.metrics import variant_groups
from colorize.infer.colorizer import Colorizer
from colorize.infer import consistent
from colorize.infer.folder import colour_files

TONE_TAGS = [SKIN_TONES[c] for c in sorted(SKIN_TONES)]  # light .. dark


def colour_pages(colorizer: Colorizer, sketches: dict[str, np.ndarray], tags: dict[str, list[str]],
                 consistent: bool) -> dict[str, np.ndarray]:
    """Colour ``sketches`` (id -> RGB) with their tags through the folder pipeline; id -> RGB output."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        lines = []
        for i, sketch in sketches.items():
            Image.fromarray(sketch).save(src / f"{i}.png")
            lines.append(f'{i}.png\t"{", ".join(tags[i])}"')
        (Path(tmp) / "tags.tsv").write_text("path\ttags\n" + "\n".join(lines) + "\n")
        report = colour_files(colorizer, [src], out, tags_file=Path(tmp) / "tags.tsv", progress=False,
                              consistent=consistent)
        assert report.failed == 0, [r.message for r in report.records if r.status == "failed"]
        return {i: np.asarray(Image.open(out / f"{i}.png").convert("RGB")) for i in sketches}


def spread(colorizer: Colorizer, groups: list[list[str]], sketches, colours, consistent: bool) -> list[float]:
    """Per tone: the mean pairwise CIEDE2000 of the pages' median skin colours."""
    masks = {g[0]: skin_mask(g, colours) for g in groups}
    groups = [g for g in groups if masks[g[0]].any()]
    result = []
    for t, tone in enumerate(TONE_TAGS):
        members = {g[t]: g[0] for g in groups}
        outputs = colour_pages(colorizer, {i: sketches[i] for i in members}, {i: [tone] for i in members}, consistent)
        skins = np.array([np.median(lab(outputs[i])[masks[first]], axis=0) for i, first in members.items()])
        pairs = list(itertools.combinations(range(len(skins)), 2))
        result.append(float(np.mean([delta_e(skins[a], skins[b]) for a, b in pairs])))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", action="append", help="dataset folder (repeat); default data/openmoji")
    parser.add_argument("--split", default="val")
    parser.add_argument("--groups", type=int, default=None, help="the first N five-tone groups only")
    parser.add_argument("--limit", type=int, default=None, help="variant accuracy on the first N rows only")
    parser.add_argument("--merge-de", type=float, default=None, help="the consistent palette's merge distance "
                        "(default: colorize.infer.consistent.CONSISTENT_MERGE_DE)")
    parser.add_argument("--spread-only", action="store_true", help="skip variant accuracy")
    args = parser.parse_args()
    if args.merge_de is not None:
        consistent.CONSISTENT_MERGE_DE = args.merge_de
    colorizer = Colorizer.from_pretrained(args.model, device="cpu")
    print(f"model {colorizer.source} (step {colorizer.step}), consistent palettes merged at "
          f"{consistent.CONSISTENT_MERGE_DE} ΔE")
    print("| hand | five-tone groups | spread, plain | spread, --consistent | variant acc., plain | "
          "variant acc., --consistent | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for data in args.data or ["data/openmoji"]:
        started = time.perf_counter()
        rows, sketches, colours = load_split(data, args.split, 256)
        groups = five_tone_groups(variant_groups(rows, colours))[:args.groups]
        plain = spread(colorizer, groups, sketches, colours, consistent=False)
        kept = spread(colorizer, groups, sketches, colours, consistent=True)
        rows = rows[:args.limit]
        tags = {r["id"]: r["tags"] for r in rows}
        pages = {r["id"]: sketches[r["id"]] for r in rows}
        accuracy = [float("nan")] * 2 if args.spread_only else [
            score(rows, colour_pages(colorizer, pages, tags, c), colours)["variant"]["accuracy"] for c in (False, True)]
        print(f"| {Path(data).name} {args.split} | {len(groups)} groups, {len(rows)} rows | {np.mean(plain):.2f} | {np.mean(kept):.2f} | "
              f"{accuracy[0]:.3f} | {accuracy[1]:.3f} | {time.perf_counter() - started:.0f} |", flush=True)
        print(f"  per tone, light to dark: plain {' '.join(f'{v:.2f}' for v in plain)}; "
              f"--consistent {' '.join(f'{v:.2f}' for v in kept)}", flush=True)


if __name__ == "__main__":
    main()
