"""The line-style ablation's table (docs/datasets.md): each arm's exported check, per hand, own / traced lines.

    python docs/results/line-styles/table.py ABLATION_DIR [--twemoji ARM=EVALUATION.json ...]

ABLATION_DIR is `colorize ablate-train -o`'s folder; the held-out Twemoji figures come from
`colorize evaluate RUN/export --data data/twemoji -o DIR` (never trained on, never picked by);
each cell is variant accuracy (or tone order) with the hand's own lines / with region-traced ones.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

HANDS = ["openmoji", "noto", "noto-v1", "emojione"]


def cell(own: str, traced: str) -> str:
    def f(v: str) -> str:
        return f"{float(v):.3f}" if v else "–"
    return f"{f(own)} / {f(traced)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--twemoji", nargs="*", default=[], help="ARM=path to a Twemoji evaluation.json")
    args = parser.parse_args()
    twemoji = {}
    for item in args.twemoji:
        arm, path = item.split("=", 1)
        hands = json.loads(Path(path).read_text())["hands"]
        twemoji[arm] = {k: (hands[k]["variant"]["accuracy"], hands[k]["tone_order"]["share"]) for k in ("own", "traced")}
    print("| arm | exported step | " + " | ".join(HANDS) + " | Twemoji (held out) | Twemoji tone order |")
    print("|---|---|" + "---|" * (len(HANDS) + 2))
    for run in sorted((args.folder / "runs").iterdir()):
        rows = list(csv.DictReader((run / "eval.csv").open()))
        last = json.loads((run / "best.json").read_text())["step"]  # the exported check
        by = {r["dataset"]: r for r in rows if int(r["step"]) == last}
        arm = run.name.removesuffix("-tokens")
        cells = [cell(by[h]["variant_accuracy"], by[h]["traced_variant_accuracy"]) if h in by else "–" for h in HANDS]
        tw = twemoji.get(arm)
        tw_cells = ["not run"] * 2 if tw is None else [f"{tw['own'][k]:.3f} / {tw['traced'][k]:.3f}" for k in (0, 1)]
        print(f"| {arm} | {last} | " + " | ".join(cells + tw_cells) + " |")


if __name__ == "__main__":
    main()
