"""docs/consistency.png: one tag set on six drawings in a hand never trained on (Twemoji),
without and with `colorize run --consistent`.

Rows: the sketches; `colorize run --tags "medium skin tone"`; the same with --consistent.
The drawings are the first six five-tone groups of data/twemoji (each group's medium-tone
member's sketch), coloured through colour_files, as `colorize run` does.

    python docs/figures/consistency_figure.py [--data data/twemoji] [-o docs/consistency.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from consistency import colour_pages  # noqa: E402

from colorize.eval.evaluate import load_split  # noqa: E402
from colorize.eval.hands import five_tone_groups  # noqa: E402
from colorize.eval.metrics import variant_groups  # noqa: E402
from colorize.infer.colorizer import Colorizer  # noqa: E402

TAG = "medium skin tone"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/twemoji")
    parser.add_argument("-o", "--out", default="docs/consistency.png")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--side", type=int, default=160)
    args = parser.parse_args()
    colorizer = Colorizer.from_pretrained(device="cpu")
    rows, sketches, colours = load_split(args.data, "val", 256)
    groups = five_tone_groups(variant_groups(rows, colours))[:args.count]
    ids = [g[2] for g in groups]  # the medium-tone member: its sketch is the group's
    tags = {i: [TAG] for i in ids}
    pages = {i: sketches[i] for i in ids}
    plain = colour_pages(colorizer, pages, tags, consistent=False)
    kept = colour_pages(colorizer, pages, tags, consistent=True)
    s, label = args.side, 22
    sheet = Image.new("RGB", (s * len(ids), 3 * (s + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (title, images) in enumerate([("sketch", pages), (f'--tags "{TAG}"', plain),
                                          (f'--tags "{TAG}" --consistent', kept)]):
        y = r * (s + label)
        draw.text((4, y + 4), title, fill="black")
        for c, i in enumerate(ids):
            sheet.paste(Image.fromarray(np.asarray(images[i])).resize((s, s), Image.LANCZOS), (c * s, y + label))
    sheet.quantize(colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out}: {', '.join(ids)}")


if __name__ == "__main__":
    main()
