"""The README's before/after sheet: each bundled sample sketch, its tags, and the outputs of models.

    python docs/figures/before_after.py --column "soft=colorize/pretrained/hands-64@soft" \
        --column "flat (default)=colorize/pretrained/hands-64@flat" -o docs/before-after.png

Each column colours every ``data/samples/*.png`` with its own ``.txt`` tags through the
Python API (the pixels `colorize run` writes). A model may end in ``@soft`` or ``@flat``
to choose the finish (default: the tool's default).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorize.data.tagfiles import sidecar_tags
from colorize.finish import DEFAULT_FINISH
from colorize.infer.colorizer import Colorizer

ROOT = Path(__file__).resolve().parents[2]  # docs/figures/ -> the repository


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--column", action="append", required=True, metavar="TITLE=MODEL[@FINISH]",
                        help="A column: its title, '=', and a model folder, run folder or checkpoint, "
                             "optionally with @soft or @flat.")
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "samples")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "before-after.png")
    parser.add_argument("--thumb", type=int, default=160)
    args = parser.parse_args()

    sketches = sorted(args.samples.glob("*.png"))
    columns = []
    for spec in args.column:
        title, _, model = spec.rpartition("=")
        model, _, finish = model.partition("@")
        colorizer = Colorizer.from_pretrained(model, device="cpu")
        columns.append((title, [colorizer.colorize(p, sidecar_tags(p)[0], finish=finish or DEFAULT_FINISH)
                                for p in sketches]))

    thumb, pad = args.thumb, 10
    font = ImageFont.load_default(size=14)
    head = 28
    text_w = 190
    width = text_w + (1 + len(columns)) * (thumb + pad) + pad
    height = head + len(sketches) * (thumb + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(["sketch", *(t for t, _ in columns)]):
        draw.text((text_w + pad + j * (thumb + pad), 8), title, fill=(0, 0, 0), font=font)
    for i, path in enumerate(sketches):
        y = head + i * (thumb + pad)
        tags = ", ".join(sidecar_tags(path)[0])
        for k, line in enumerate(textwrap.wrap(tags, 22)[:6]):
            draw.text((pad, y + 6 + 18 * k), line, fill=(30, 30, 30), font=font)
        images = [np.asarray(Image.open(path).convert("RGB"))] + [outs[i] for _, outs in columns]
        for j, rgb in enumerate(images):
            image = Image.fromarray(rgb)
            image.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
            sheet.paste(image, (text_w + pad + j * (thumb + pad), y))
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
