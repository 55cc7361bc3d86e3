"""The seed's monochrome finding: does a tag switch colour off? Table and figure for docs/results.md.

    python docs/results/monochrome/study.py --model "shipped=colorize/pretrained/openmoji-64" \\
        --model "monochrome 0.1=checkpoints/00001-monochrome/export" --data data/openmoji \\
        --evaluation "shipped=EVAL_DIR/evaluation.json" --evaluation "monochrome 0.1=EVAL_DIR/evaluation.json" \\
        -o docs/results/monochrome

Every val sample is coloured by each model with its own tags, and with one of `monochrome`
(the tag `train --monochrome` teaches), `greyscale` or `black and white` (near-synonyms no
model saw in training; they reach it only through the text encoder) added. The table gives
the mean CIELAB chroma of the outputs (0 for greys) and how much of it each tag takes away,
on all val samples and on those whose tags name a colour or a skin tone (does `monochrome`
beat the colour tags given with it?). The `--evaluation` files (`colorize evaluate MODEL
--data data/openmoji -o DIR`) give what each model scores without any of these tags.

Written into -o: `table.md`, `study.json`, and `figure.png` (sketch; its tags; + each tag).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from colorize.data.tags import MONOCHROME, named_colours
from colorize.eval.ablate import MONOCHROME_DROP
from colorize.eval.evaluate import colour_all, load_split, model_colour
from colorize.eval.figures import labelled_grid, save_image
from colorize.eval.metrics import chroma
from colorize.fileio import atomic_write_text
from colorize.infer.colorizer import Colorizer

# the tag the model was taught, then near-synonyms it never saw
TAGS = [MONOCHROME, "greyscale", "black and white"]


def names_a_colour(tags: list[str]) -> bool:
    return bool(named_colours(tags)) or any("skin tone" in t for t in tags)


def study(colorizer: Colorizer, rows: list[dict], sketches: dict, batch_size: int = 32) -> dict:
    """Outputs and mean chroma for each condition: its own tags, and each of TAGS added."""
    colour = model_colour(colorizer)
    conditions = {"tags": [list(r["tags"]) for r in rows]}
    conditions |= {f"+ {t}": [list(r["tags"]) + [t] for r in rows] for t in TAGS}
    outputs = {name: colour_all(colour, rows, sketches, tag_sets, batch_size, desc=name)
               for name, tag_sets in conditions.items()}
    coloured = [r["id"] for r in rows if names_a_colour(list(r["tags"]))]
    result = {"samples": len(rows), "samples_naming_a_colour": len(coloured), "chroma": {}, "chroma_naming_a_colour": {}}
    for name, out in outputs.items():
        result["chroma"][name] = float(np.mean([chroma(out[r["id"]]) for r in rows]))
        result["chroma_naming_a_colour"][name] = float(np.mean([chroma(out[i]) for i in coloured]))
    return result | {"outputs": outputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=MODEL_FOLDER")
    parser.add_argument("--evaluation", action="append", default=[], help="NAME=evaluation.json of that model")
    parser.add_argument("--data", default="data/openmoji")
    parser.add_argument("--split", default="val")
    parser.add_argument("--figure-rows", type=int, default=4)
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    models = dict(item.split("=", 1) for item in args.model)
    evaluations = {k: json.loads(Path(v).read_text())["conditions"]["tags"]["all"]
                   for k, v in (item.split("=", 1) for item in args.evaluation)}

    results, figure_rows, figure_cells, figure_captions = {}, [], [], []
    for name, folder in models.items():
        colorizer = Colorizer.from_pretrained(folder)
        rows, sketches, _ = load_split(args.data, args.split, colorizer.size)
        found = study(colorizer, rows, sketches)
        outputs = found.pop("outputs")
        results[name] = found
        # the figure: drawings whose tags name a colour or a skin tone, one per drawing
        picked, seen = [], set()
        for r in rows:
            drawing = r.get("drawing") or r["id"]
            if names_a_colour(list(r["tags"])) and drawing not in seen:
                picked.append(r)
                seen.add(drawing)
        step = max(1, len(picked) // args.figure_rows)
        for r in picked[::step][:args.figure_rows]:
            figure_rows.append(name)
            figure_cells.append([sketches[r["id"]]] + [outputs[c][r["id"]] for c in outputs])
            figure_captions.append(["", ", ".join(r["tags"])[:40]] + [""] * len(TAGS))

    lines = ["| model | tags | chroma, own tags | + monochrome | + greyscale | + black and white |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        for label, key, n in (("all val", "chroma", r["samples"]),
                              ("naming a colour or skin tone", "chroma_naming_a_colour", r["samples_naming_a_colour"])):
            c = r[key]
            base = c["tags"]
            cells = [f"{c[f'+ {t}']:.1f} ({100 * (c[f'+ {t}'] / base - 1):+.0f}%)" for t in TAGS]
            lines.append(f"| {name} | {label} ({n}) | {base:.1f} | " + " | ".join(cells) + " |")
    lines += ["", f"(Mean CIELAB chroma of the outputs, 0 for greys; in brackets, the change from own tags. "
              f"A tag switches colour off when it takes away at least {100 * MONOCHROME_DROP:.0f}%.)"]
    if evaluations:
        lines += ["", "| model | variant accuracy (no extra tag) | ΔE2000 | samples |", "|---|---|---|---|"]
        for name, e in evaluations.items():
            lines.append(f"| {name} | {e['variant']['accuracy']:.3f} | {e['delta_e']:.2f} | {e['count']} |")
    table = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "table.md", table)
    atomic_write_text(args.out / "study.json", json.dumps({"data": args.data, "split": args.split, "models": models,
                                                           "results": results, "evaluations": evaluations},
                                                          indent=2) + "\n")
    columns = ["sketch", "its tags"] + [f"+ {t}" for t in TAGS]
    save_image(labelled_grid(figure_cells, columns=columns, rows=figure_rows, thumb=128, captions=figure_captions),
               args.out / "figure.png")
    print(table)


if __name__ == "__main__":
    main()
