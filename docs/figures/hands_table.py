"""The hands table of docs/datasets.md: a row per hand and model, from `colorize evaluate`'s JSON.

    python docs/figures/hands_table.py --model "openmoji-64=eval/old/evaluation.json" \
        --model "hands-64=eval/new/evaluation.json" \
        --seen "openmoji-64=openmoji" --seen "hands-64=openmoji,noto,noto-v1,emojione,emojione-v1,fxemoji,streamline-emojis"

Each figure is given with the hand's own lines / with lines traced from the colour regions,
as `evaluate` measures them (docs/datasets.md, "Many hands"). ``--seen`` names the datasets a model
trained on (their train split; the rows here are their val split, drawings it never saw, in
a hand it did). Hands a model never trained on are marked **held out**.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from colorize.data.dataset import dataset_names
from colorize.eval.evaluate import hand_cells


def table(models: list[tuple[str, dict]], seen: dict[str, set[str]]) -> str:
    names = list(dict.fromkeys(name for _, result in models for name in result["datasets"]))
    lines = ["| hand | model | trained on this hand | variant acc. | tone order | named colours | which person "
             "| no tags / chance |", "|---|---|---|---|---|---|---|---|"]
    for name in names:
        for title, result in models:
            hands = (result["datasets"].get(name) or {}).get("hands")
            if not hands:
                continue
            cell = hand_cells(hands)
            trained = "yes (other drawings)" if name in seen.get(title, set()) else "**held out**"
            lines.append(f"| {name} | {title} | {trained} | {cell['variant']} | {cell['tone_order']} | "
                         f"{cell['named_colour']} | {cell['two_person']} | {cell['no_tags']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="TITLE=EVALUATION.json[,MORE.json]")
    parser.add_argument("--seen", action="append", default=[], metavar="TITLE=DATASET,DATASET")
    args = parser.parse_args()
    models = []
    for spec in args.model:
        title, _, path = spec.partition("=")
        if not path:
            parser.error(f"--model {spec!r}: write TITLE=EVALUATION.json")
        result = {"datasets": {}}
        for one in path.split(","):  # several evaluations of one model: their datasets together
            part = json.loads(Path(one).read_text(encoding="utf-8"))
            if "datasets" not in part:  # one dataset: evaluate writes it at the top level
                part = {"datasets": {dataset_names([part["data"]])[0]: part}}
            result["datasets"].update(part["datasets"])
        models.append((title, result))
    seen = {}
    for spec in args.seen:
        title, _, names = spec.partition("=")
        seen[title] = {n.strip() for n in names.split(",") if n.strip()}
    print(table(models, seen), end="")


if __name__ == "__main__":
    main()
