"""Benchmark: how near must a region's colour be to a palette colour to take it? (``--palette-max-de``)

Every val sketch is coloured with its own tags (flat finish, at the stored 256 px) and a
palette made from its own colour image, as a colourist's model sheet would be
(``colorize palette COLOUR.png``: clustered, paper and lines left out). For each
``max_de``, against the colour images: mean CIEDE2000, variant accuracy, and the share of
painted regions that took a palette colour. A palette that fits the drawing should bring
the colours nearer the truth; too wide a distance snaps regions to the wrong entry.
The default is chosen from this table on OpenMoji val; other hands are reported only.

    python benchmarks/palette_snap.py [--model DIR] [--data data/openmoji] [--max-de 0 5 10 15 20 30]
"""

from __future__ import annotations

import argparse

import numpy as np

from colorize.data.images import fit_square
from colorize.eval.evaluate import load_split, score
from colorize.finish import finish_layers
from colorize.infer.colorizer import Colorizer
from colorize.palette import cluster, page_pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default="data/openmoji")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None, help="the first N rows only")
    parser.add_argument("--max-de", type=float, nargs="+", default=[0, 5, 10, 15, 20, 30])
    args = parser.parse_args()
    colorizer = Colorizer.from_pretrained(args.model, device="cpu")
    rows, sketches, colours = load_split(args.data, args.split, 256, args.limit)
    squares = {}
    for start in range(0, len(rows), 16):
        chunk = rows[start:start + 16]
        fitted = [fit_square(sketches[r["id"]], colorizer.size) for r in chunk]
        out = colorizer.colour_squares([s for s, _ in fitted], [r["tags"] for r in chunk], compose=False)
        squares.update({r["id"]: (o, box) for r, o, (_, box) in zip(chunk, out, fitted, strict=True)})
    palettes = {r["id"]: cluster(page_pixels(colours[r["id"]])) for r in rows}
    print(f"model {colorizer.source} (step {colorizer.step}); {args.data} {args.split}, {len(rows)} sketches; "
          f"palettes of {np.mean([len(p) for p in palettes.values()]):.1f} colours on average")
    print("| max ΔE | ΔE2000 | variant accuracy | regions snapped |")
    print("| --- | --- | --- | --- |")
    for max_de in args.max_de:
        outputs, snapped, painted = {}, 0, 0
        for r in rows:
            square, box = squares[r["id"]]
            done = finish_layers(square, sketches[r["id"]], box, how="flat",
                                 palette=palettes[r["id"]] if max_de > 0 else None, max_de=max_de)
            outputs[r["id"]] = done.result
            if done.snapped is not None:
                snapped += int((done.snapped.index >= 0).sum())
            painted += int((~done.paper[1:]).sum())
        result = score(rows, outputs, colours)
        label = "no palette" if max_de == 0 else f"{max_de:g}"
        accuracy = result["variant"]["accuracy"]
        print(f"| {label} | {result['delta_e']:.2f} | {'n/a' if accuracy is None else f'{accuracy:.3f}'} | "
              f"{snapped / painted:.1%} |", flush=True)


if __name__ == "__main__":
    main()
