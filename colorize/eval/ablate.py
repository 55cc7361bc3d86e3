"""``colorize ablate``: inference-time tag ablations on a trained model.

Each sample of a split is coloured under several tag *conditions*:

* ``full``: its own tags;
* ``no tags``: none at all;
* ``shuffled``: another sample's tags;
* ``leave-one-out``: its tags with one left out, for each tag in turn;
* ``colour swap``: one colour word changed (``red heart`` -> ``blue heart``, ``dark skin
  tone`` -> ``light skin tone``), within the swap groups read off the model's vocabulary
  (:mod:`colorize.infer.swap`, the same as the web page's swap row);
* ``monochrome``: its tags plus ``monochrome``, when the model knows that tag (the seed
  post's finding: such a tag can switch colour off).

Written into the output folder: ``metrics.csv`` / ``metrics.md`` (image metrics against the
colour image, how far each condition moves the output from ``full``, and mean chroma),
``ablation.json`` (everything), ``sheets/`` (sketch x condition contact sheets),
``influence/`` (per-tag influence maps: |output(all tags) - output(without the tag)| over
the sketch) and ``influence.csv`` (mean influence of each tag).

    ablate(Colorizer.from_pretrained(), "data/openmoji", "ablation/")
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from colorize.colour import delta_e
from colorize.data.manifest import Manifest
from colorize.data.sheet import pick_rows
from colorize.data.tags import MONOCHROME
from colorize.eval.evaluate import METRICS, ColourFn, colour_all, load_split, model_colour
from colorize.eval.figures import heat_overlay, labelled_grid, save_image
from colorize.eval.metrics import chroma, image_metrics
from colorize.fileio import atomic_write_text
from colorize.infer.swap import SwapGroup, swap_groups

__all__ = ["ablate", "monochrome_effect", "swap_colour"]

# A monochrome tag "switches colour off" when it takes away at least this share of the chroma.
MONOCHROME_DROP = 0.5


def swap_colour(tags: list[str], groups: Sequence[SwapGroup], rng: random.Random) -> tuple[list[str], str, str] | None:
    """One colour word of one tag changed, within the model's swap groups: ``(tags, old, new)``.

    ``groups`` come from :func:`~colorize.infer.swap.swap_groups` over the model's
    vocabulary (the web page's swap row uses the same), so the new tag is one it knows.
    """
    options = sorted({(i, tag, new) for i, tag in enumerate(tags) for group in groups if tag in group.tags
                      for new in group.tags if new not in tags})
    if not options:
        return None
    i, old, new = rng.choice(options)
    return tags[:i] + [new] + tags[i + 1:], old, new


def monochrome_effect(full: list[np.ndarray], mono: list[np.ndarray]) -> dict:
    """Mean chroma with and without the ``monochrome`` tag, and whether it switched colour off."""
    with_tag, without = float(np.mean([chroma(o) for o in mono])), float(np.mean([chroma(o) for o in full]))
    drop = 1.0 - with_tag / without if without > 0 else 0.0
    return {"chroma_without": without, "chroma_with": with_tag, "drop": drop,
            "switches_colour_off": bool(drop >= MONOCHROME_DROP)}


def _conditions(rows: list[dict], vocab: set[str], seed: int) -> tuple[dict[str, list], dict[str, list]]:
    """Tag sets per condition (None: the sample sits this one out) and a caption per sample."""
    rng = random.Random(seed)
    full = [list(r["tags"]) for r in rows]
    order = list(range(len(rows)))
    rng.shuffle(order)
    shuffled: list = [None] * len(rows)
    for k, i in enumerate(order):  # each sample takes the next one's tags: nobody keeps their own
        shuffled[i] = full[order[(k + 1) % len(order)]] if len(order) > 1 else None
    groups = swap_groups(sorted(vocab))
    swaps = [swap_colour(tags, groups, rng) for tags in full]
    conditions = {"full": full, "no tags": [[] for _ in rows], "shuffled": shuffled,
                  "colour swap": [s[0] if s else None for s in swaps]}
    captions = {"full": [", ".join(t) or "(no tags)" for t in full], "no tags": ["(no tags)"] * len(rows),
                "shuffled": [", ".join(t) if t else "-" for t in shuffled],
                "colour swap": [f"{s[1]} -> {s[2]}" if s else "(no swap in vocab)" for s in swaps]}
    if MONOCHROME in vocab:
        conditions["monochrome"] = [t + [MONOCHROME] if MONOCHROME not in t else None for t in full]
        captions["monochrome"] = ["+ monochrome"] * len(rows)
    return conditions, captions


def _row_scores(outputs: list[np.ndarray], targets: list[np.ndarray], reference: list[np.ndarray]) -> dict:
    per = [image_metrics(o, t) for o, t in zip(outputs, targets, strict=True)]
    scores = {k: float(np.mean([p[k] for p in per])) for k in METRICS}
    scores["change"] = float(np.mean([delta_e(o, r).mean() for o, r in zip(outputs, reference, strict=True)]))
    scores["chroma"] = float(np.mean([chroma(o) for o in outputs]))
    return {"samples": len(outputs), **scores}


def ablate(colorizer, data: str | os.PathLike, out: str | os.PathLike, split: str = "val", limit: int = 96,
           batch_size: int = 16, seed: int = 0, sheet_rows: int = 8, maps: int = 8, progress: bool = True,
           colour: ColourFn | None = None) -> dict:
    """Run every condition on up to ``limit`` samples of ``split`` and write the reports into ``out``."""
    out = Path(out)
    manifest = Manifest(data, split=split)
    if len(manifest) == 0:
        raise ValueError(f"{data}: split {split!r} is empty; nothing to ablate.")
    # drawings with several colourings first: there only the tags can decide the colours
    picked = pick_rows(manifest, min(limit, len(manifest)), seed=seed, per_drawing=6)
    rows, sketches, colours = load_split(data, split, colorizer.size, ids={r["id"] for r in picked})
    order = {r["id"]: k for k, r in enumerate(picked)}
    rows.sort(key=lambda r: order[r["id"]])
    colour = colour or model_colour(colorizer)
    vocab = set(colorizer.vocab)
    conditions, captions = _conditions(rows, vocab, seed)
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for name, tag_sets in conditions.items():
        chosen = [(r, t) for r, t in zip(rows, tag_sets, strict=True) if t is not None]
        outputs[name] = colour_all(colour, [r for r, _ in chosen], sketches, [t for _, t in chosen],
                                   batch_size, desc=name, progress=progress) if chosen else {}

    # leave-one-out: every (sample, tag) pair
    pairs = [(r, t) for r in rows for t in r["tags"]]
    left_out = {}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        images = colour([sketches[r["id"]] for r, _ in chunk], [[x for x in r["tags"] if x != t] for r, t in chunk])
        left_out.update({(r["id"], t): o for (r, t), o in zip(chunk, images, strict=True)})

    full = outputs["full"]
    table = {}
    for name, produced in outputs.items():
        ids = [r["id"] for r in rows if r["id"] in produced]
        if ids:
            table[name] = _row_scores([produced[i] for i in ids], [colours[i] for i in ids], [full[i] for i in ids])
    if pairs:
        keys = list(left_out)
        table["leave-one-out"] = _row_scores([left_out[k] for k in keys], [colours[i] for i, _ in keys],
                                             [full[i] for i, _ in keys])

    influence: dict[str, list[float]] = defaultdict(list)
    for (i, tag), o in left_out.items():
        influence[tag].append(float(delta_e(full[i], o).mean()))
    influence_rows = sorted(({"tag": t, "samples": len(v), "mean_delta_e": float(np.mean(v)),
                              "max_delta_e": float(np.max(v))} for t, v in influence.items()),
                            key=lambda x: -x["mean_delta_e"])

    results = {"model": getattr(colorizer, "source", ""), "step": getattr(colorizer, "step", None),
               "data": str(data), "split": split, "size": colorizer.size, "samples": len(rows), "seed": seed,
               "conditions": table, "influence": influence_rows}
    if "monochrome" in outputs and outputs["monochrome"]:
        ids = list(outputs["monochrome"])
        results["monochrome"] = monochrome_effect([full[i] for i in ids], [outputs["monochrome"][i] for i in ids])

    out.mkdir(parents=True, exist_ok=True)
    _write_tables(results, out)
    _write_sheets(rows, sketches, colours, outputs, captions, out / "sheets", sheet_rows)
    _write_maps(rows[:maps], sketches, full, left_out, out / "influence")
    return results


# -- writing ------------------------------------------------------------------------------------

COLUMNS = ("samples", *METRICS, "change", "chroma")
HEADERS = {"samples": "samples", "l1": "L1 ↓", "psnr": "PSNR dB ↑", "ssim": "SSIM ↑", "delta_e": "ΔE2000 ↓",
           "change": "ΔE vs full", "chroma": "chroma C*"}


def _write_tables(results: dict, out: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["condition", *COLUMNS])
    for name, s in results["conditions"].items():
        writer.writerow([name, *(s[c] for c in COLUMNS)])
    atomic_write_text(out / "metrics.csv", buf.getvalue())

    lines = [f"Tag ablation of `{results['model']}` (step {results['step']}) on `{results['data']}`, split "
             f"`{results['split']}`: {results['samples']} samples at {results['size']} px.", "",
             "| condition | " + " | ".join(HEADERS[c] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, s in results["conditions"].items():
        cells = [str(s["samples"]), *(f"{s[c]:.4f}" if c in ("l1", "ssim") else f"{s[c]:.2f}" for c in COLUMNS[1:])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "ΔE vs full: mean CIEDE2000 between this condition's output and the full-tag output "
              "(how much the picture moved). Chroma: mean CIELAB C* of the outputs (0 is grey).", ""]
    if "monochrome" in results:
        m = results["monochrome"]
        verdict = "yes" if m["switches_colour_off"] else "no"
        lines += [f"**Monochrome:** mean chroma {m['chroma_without']:.1f} without the tag, {m['chroma_with']:.1f} "
                  f"with it ({100 * m['drop']:.0f}% less). Switches colour off (≥ {100 * MONOCHROME_DROP:.0f}% less): "
                  f"{verdict}.", ""]
    top = results["influence"][:15]
    if top:
        lines += ["Most influential tags (mean ΔE2000 between the output with all tags and without this one):", "",
                  "| tag | samples | mean ΔE | max ΔE |", "|---|---|---|---|"]
        lines += [f"| {r['tag']} | {r['samples']} | {r['mean_delta_e']:.2f} | {r['max_delta_e']:.2f} |" for r in top]
    atomic_write_text(out / "metrics.md", "\n".join(lines) + "\n")

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["tag", "samples", "mean_delta_e", "max_delta_e"])
    writer.writeheader()
    writer.writerows(results["influence"])
    atomic_write_text(out / "influence.csv", buf.getvalue())
    atomic_write_text(out / "ablation.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def _write_sheets(rows, sketches, colours, outputs, captions, folder: Path, per_sheet: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = list(outputs)
    index = {r["id"]: k for k, r in enumerate(rows)}
    for number, start in enumerate(range(0, len(rows), per_sheet), start=1):
        chunk = rows[start:start + per_sheet]
        cells = [[sketches[r["id"]], colours[r["id"]], *(outputs[n].get(r["id"]) for n in names)] for r in chunk]
        notes = [["", r["id"], *(captions[n][index[r["id"]]] if r["id"] in outputs[n] else "-" for n in names)]
                 for r in chunk]
        grid = labelled_grid(cells, columns=["sketch", "colour image", *names], captions=notes)
        save_image(grid, folder / f"sheet-{number:02d}.png")


def _write_maps(rows, sketches, full, left_out, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for r in rows:
        if not r["tags"]:
            continue
        heats = [np.abs(full[r["id"]].astype(np.float32) - left_out[(r["id"], t)].astype(np.float32)).mean(-1)
                 for t in r["tags"]]
        scale = max(float(h.max()) for h in heats)  # one scale per sample: the maps compare with each other
        cells = [[sketches[r["id"]], full[r["id"]], *(heat_overlay(sketches[r["id"]], h, scale) for h in heats)]]
        notes = [["sketch", "all tags", *(f"without {t}" for t in r["tags"])]]
        grid = labelled_grid(cells, columns=None, captions=notes)
        save_image(grid, folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', r['id'])}.png")
