"""The README's held-out hands figure: one drawing per hand, coloured under each of its variants.

    python docs/figures/hands_figure.py --hand "Twemoji=data/twemoji:1f9d1" \
        --hand "OpenMoji val, traced lines=data/openmoji:1F9D1@traced" \
        --model "new=checkpoints/00000-hands/export" --model "old=colorize/pretrained/openmoji-64" \
        -o docs/hands.png

For each hand, a block of rows: the sketch the models see (the dataset's own, or with
``@traced`` the region-traced lines of the drawing's toneless colouring, as ``colorize
evaluate`` draws them), then one row per model with its output under each member's tags,
then the targets. Colouring is at the model's resolution, as ``evaluate`` scores it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorize.eval.evaluate import load_split, redraw_sketches
from colorize.eval.hands import tone_of
from colorize.infer.colorizer import Colorizer

ROOT = Path(__file__).resolve().parents[2]  # docs/figures/ -> the repository


def hand_spec(text: str) -> tuple[str, Path, str, str]:
    """``TITLE=DATA:DRAWING[@LINES]`` -> (title, data, drawing, lines)."""
    title, _, rest = text.partition("=")
    rest, _, lines = rest.partition("@")
    data, _, drawing = rest.rpartition(":")
    return title, Path(data), drawing, lines


def members(data: Path, drawing: str, size: int, lines: str) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
    """The val rows of the drawing whose id starts with ``drawing``, toneless first then light to dark."""
    rows, sketches, colours = load_split(data, "val", size)
    start = next((r for r in rows if r["id"].lower() == drawing.lower()), None)
    if start is None:
        raise SystemExit(f"{data}: no val row {drawing!r}")
    group = [r for r in rows if (r.get("drawing") or r["id"]) == (start.get("drawing") or start["id"])]
    group.sort(key=lambda r: (tone_of(r["id"]), r["id"]))
    if lines:
        sketches = redraw_sketches(data, group, size, lines)
    return group, [sketches[r["id"]] for r in group], [colours[r["id"]] for r in group]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hand", action="append", required=True, metavar="TITLE=DATA:DRAWING[@LINES]")
    parser.add_argument("--model", action="append", required=True, metavar="TITLE=MODEL")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "hands.png")
    parser.add_argument("--thumb", type=int, default=96)
    args = parser.parse_args()

    models = []
    for spec in args.model:
        title, _, path = spec.partition("=")
        models.append((title, Colorizer.from_pretrained(path, device="cpu")))
    size = models[0][1].size
    blocks = []
    for spec in args.hand:
        title, data, drawing, lines = hand_spec(spec)
        group, sketches, colours = members(data, drawing, size, lines)
        rows = [("sketch", [sketches[0]])]
        for name, colorizer in models:
            rows.append((name, colorizer.colorize_batch(sketches, [list(r["tags"]) for r in group], keep_lines=False)))
        rows.append(("target", colours))
        labels = [", ".join(t for t in r["tags"] if "skin tone" in t).replace(" skin tone", "") or "no tone"
                  for r in group]
        blocks.append((title, rows, labels))

    thumb, pad, text_w, label_h = args.thumb, 6, 190, 16
    font = ImageFont.load_default(size=13)
    columns = max(len(labels) for _, _, labels in blocks)
    height = sum(label_h + len(rows) * (thumb + pad) + 2 * pad for _, rows, _ in blocks)
    sheet = Image.new("RGB", (text_w + columns * (thumb + pad) + pad, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for title, rows, labels in blocks:
        draw.text((pad, y + 2), title, fill="black", font=ImageFont.load_default(size=15))
        for c, label in enumerate(labels):
            draw.text((text_w + c * (thumb + pad), y + 2), label, fill="black", font=font)
        y += label_h
        for title, images in rows:
            draw.text((pad, y + thumb // 2 - 7), title, fill="black", font=font)
            for c, image in enumerate(images):
                tile = Image.fromarray(image).resize((thumb, thumb), Image.NEAREST)
                sheet.paste(tile, (text_w + c * (thumb + pad), y))
            y += thumb + pad
        y += 2 * pad
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
