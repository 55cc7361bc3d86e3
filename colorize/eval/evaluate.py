"""``colorize evaluate``: score a model on a dataset split, batched, as JSON and a Markdown table.

For every sample the sketch is coloured at the model's resolution with the sample's tags
and compared with its colour image (L1, PSNR, SSIM, CIEDE2000, see :mod:`.metrics`).
Variant accuracy (does the output follow the tags?) is scored over the split's variant
groups, next to its chance level. The same model with no tags at all is scored too, as a
baseline: if the tags do the work, variant accuracy falls to about chance without them.
Flags, when the split holds any, are scored separately: their outline is a plain
rectangle, so they are a test of the text alone.

Several datasets (a model trained on more than one) are scored each on its own split,
never pooled: :func:`evaluate_datasets` gives one result per dataset, by name.

    results = evaluate(Colorizer.from_pretrained(), "data/openmoji", split="val")
    write_report(results, "evaluation/")
    results = evaluate_datasets(colorizer, ["data/openmoji", "data/openclipart"])
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colorize.data.dataset import PairDataset, dataset_names, to_image
from colorize.data.manifest import Manifest
from colorize.eval.hands import FIGURES, colour_families, hand_figures
from colorize.eval.metrics import image_metrics, member_hits, variant_groups
from colorize.fileio import atomic_write_text

__all__ = ["HANDS_CONDITIONS", "HANDS_LINES", "METRICS", "evaluate", "evaluate_datasets", "hand_cells", "hands_table", "model_colour",
           "redraw_sketches", "score", "to_markdown", "write_report"]

METRICS = ("l1", "psnr", "ssim", "delta_e")
# How each metric reads in a table: name, direction, format
LABELS = {"l1": ("L1", "lower", ".4f"), "psnr": ("PSNR dB", "higher", ".2f"), "ssim": ("SSIM", "higher", ".4f"),
          "delta_e": ("ΔE2000", "lower", ".2f")}

VARIANT_NOTE = ("Variant accuracy: for each sample of a drawing that comes in several colourings, is the output "
                "closest (mean CIEDE2000 where the colourings differ) to its own colour image? Chance is the mean "
                "of 1 / group size. Ceiling: the best a model that reads tags as a set can score, since members "
                "with the same tag set get the same input.")

# The hands table's second line style: region boundaries traced on both sides, lines in another
# hand than any dataset's own (:func:`colorize.data.extract.traced`)
HANDS_LINES = "traced"
# The conditions whose per-hand figures evaluate reports, by their key under "hands"
HANDS_CONDITIONS = {"own": "tags", "traced": f"tags, {HANDS_LINES} lines"}

HANDS_NOTE = ("Hands: variant accuracy over the variant groups (flags aside); tone order, the share of drawings in "
              "the five skin tones whose toned outputs get darker with every step (mean L* over the skin: the pixels "
              "where the colour images darken step by step; chance 1/120); named colours, variant accuracy over the "
              "groups whose tags name different colours (red heart, blue heart); which person, variant accuracy over "
              "the samples of two people with two different skin tones. Traced: the same, on lines traced from the "
              "colour regions of each drawing's plainest member, alike for every member. – : no such groups.")

# A colouring function: sketches (RGB uint8 at the model's size) and tag sets -> outputs.
ColourFn = Callable[[list[np.ndarray], list[list[str]]], list[np.ndarray]]


def model_colour(colorizer) -> ColourFn:
    """The model's own colouring at its resolution, where the metrics compare (no line overlay)."""
    def colour(images: list[np.ndarray], tag_sets: list[list[str]]) -> list[np.ndarray]:
        return colorizer.colorize_batch(images, tag_sets, keep_lines=False)

    return colour


def load_split(data: str | os.PathLike, split: str | tuple[str, ...] | None, size: int,
               limit: int | None = None, ids: set[str] | None = None
               ) -> tuple[list[dict], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Rows, sketches and colour images (uint8, ``size`` px) of a split, keyed by id.

    ``limit`` takes the first rows; ``ids`` takes only those rows.
    """
    dataset = PairDataset(data, split=split, size=size, augment=False)
    positions = [i for i, row in enumerate(dataset.rows) if ids is None or row["id"] in ids]
    rows, sketches, colours = [], {}, {}
    for i in positions[:limit]:
        row = dataset.rows[i]
        sample = dataset[i]
        rows.append(row)
        sketches[row["id"]] = to_image(sample["sketch"])
        colours[row["id"]] = to_image(sample["target"])
    return rows, sketches, colours


def redraw_sketches(data: str | os.PathLike, rows: list[dict], size: int, extractor: str) -> dict[str, np.ndarray]:
    """New line art for ``rows``, drawn by ``extractor`` at full size from the colour image of each
    drawing's reference (toneless) member, then resized to ``size``: lines in another hand than the
    dataset's own, the same for every colouring of a drawing, so no tone shows through them."""
    import cv2

    from colorize.data.extract import get_extractor
    from colorize.data.manifest import reference_rows

    extract = get_extractor(extractor)
    full = PairDataset(data, split=None, size=None, augment=False)
    every = {row["id"]: row for row in full.rows}
    reference = reference_rows([every[row["id"]] for row in rows if row["id"] in every] or rows)
    drawn: dict[str, np.ndarray] = {}
    out = {}
    for row in rows:
        ref = reference.get(row["id"], row["id"])
        if ref not in drawn:
            lines = extract(full._read(every.get(ref, row), "color"))
            if lines.shape[:2] != (size, size):
                lines = cv2.resize(lines, (size, size), interpolation=cv2.INTER_AREA)
            drawn[ref] = lines
        out[row["id"]] = drawn[ref]
    return out


def colour_all(colour: ColourFn, rows: list[dict], sketches: dict[str, np.ndarray], tag_sets: list[list[str]],
               batch_size: int, desc: str = "", progress: bool = True) -> dict[str, np.ndarray]:
    """Outputs keyed by id, batched, with a progress bar."""
    outputs = {}
    bar = tqdm(total=len(rows), desc=desc, unit="img", disable=not progress, leave=False, dynamic_ncols=True)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        out = colour([sketches[r["id"]] for r in chunk], tag_sets[start:start + batch_size])
        outputs.update(zip((r["id"] for r in chunk), out, strict=True))
        bar.update(len(chunk))
    bar.close()
    return outputs


def score(rows: list[dict], outputs: dict[str, np.ndarray], colours: dict[str, np.ndarray],
          hits: dict[str, bool] | None = None) -> dict:
    """Mean image metrics and variant accuracy of ``outputs`` against the rows' colour images.

    ``hits``: the members' variant hits when already computed (:func:`~colorize.eval.metrics.member_hits`
    over the same rows' groups), so that they are not computed twice."""
    if not rows:
        return {"count": 0}
    per = [image_metrics(outputs[r["id"]], colours[r["id"]]) for r in rows]
    means = {k: float(np.mean([p[k] for p in per])) for k in METRICS}
    groups = variant_groups(rows, colours)
    if hits is None:
        hits = member_hits(groups, outputs, colours)
    tags = {r["id"]: frozenset(r["tags"]) for r in rows}
    right, chance, ceiling, scored = [], [], [], 0
    for group in groups:
        if group[0] not in hits:  # its colour images differ nowhere: nothing to tell apart
            continue
        scored += 1
        right.extend(hits[i] for i in group)
        chance.extend([1.0 / len(group)] * len(group))
        # Members with the same tag *set* get the same input, so at most one of them can be
        # right: the best any set-of-tags model can score (e.g. "men wrestling, light skin
        # tone, dark skin tone" does not say which man is which).
        distinct = len({tags[i] for i in group})
        ceiling.extend([distinct / len(group)] * len(group))
    variant = {
        "accuracy": float(np.mean(right)) if right else None,
        "chance": float(np.mean(chance)) if chance else None,
        "ceiling": float(np.mean(ceiling)) if ceiling else None,
        "groups": scored,
        "members": len(right),
    }
    return {"count": len(rows), **means, "variant": variant}


def evaluate(colorizer, data: str | os.PathLike, split: str = "val", batch_size: int = 16,
             baseline: bool = True, limit: int | None = None, progress: bool = True,
             colour: ColourFn | None = None, redraw: list[str] | tuple[str, ...] = (), hands: bool = True) -> dict:
    """Score ``colorizer`` on ``split`` of ``data``; with ``baseline``, also with no tags.

    ``redraw`` names line extractors (``xdog``, ``dilate``, ``adaptive``, ...): for each, the
    split is scored again, with its tags, on line art that extractor draws from the colour
    images (:func:`redraw_sketches`), lines unlike the dataset's own.
    With ``hands``, when the split (flags aside) holds variant groups, ``results["hands"]``
    gives the per-hand figures (:func:`~colorize.eval.hands.hand_figures`): ``own`` with the
    dataset's lines, ``traced`` with region-traced lines (the split is coloured once more, as
    ``redraw`` would with ``traced``; once only if ``redraw`` names it too), and ``no_tags``,
    the variant accuracy with no tags next to chance (its accuracy None without ``baseline``).
    ``colour`` replaces the model's colouring (tests pass oracles and constants through it).
    Samples are coloured at the model's resolution, where they are compared.
    """
    size = colorizer.size
    rows, sketches, colours = load_split(data, split, size, limit)
    if not rows:
        raise ValueError(f"{data}: split {split!r} is empty; nothing to evaluate.")
    colour = colour or model_colour(colorizer)

    parts = {"all": [r for r in rows if not r.get("is_flag")], "flags": [r for r in rows if r.get("is_flag")]}
    groups = variant_groups(parts["all"], colours)
    hands = hands and bool(groups)
    conditions = {"tags": [list(r["tags"]) for r in rows]}
    if baseline:
        conditions["no_tags"] = [[] for _ in rows]
    results = {"model": getattr(colorizer, "source", ""), "step": getattr(colorizer, "step", None),
               "data": str(data), "split": split, "size": size, "conditions": {}}
    inputs = {name: (sketches, tag_sets) for name, tag_sets in conditions.items()}
    for extractor in dict.fromkeys([*redraw, *([HANDS_LINES] if hands else [])]):
        inputs[f"tags, {extractor} lines"] = (redraw_sketches(data, rows, size, extractor), conditions["tags"])
    figures = {}
    # named colours drawn as pictures of their own: each family coloured again on its first member's sketch
    families = colour_families(parts["all"]) if hands else []
    by_id = {r["id"]: r for r in rows}
    for name, (lines, tag_sets) in inputs.items():
        outputs = colour_all(colour, rows, lines, tag_sets, batch_size, desc=name, progress=progress)
        hits = member_hits(groups, outputs, colours)  # once, for the condition's table and its hands figures
        results["conditions"][name] = {part: score(part_rows, outputs, colours, hits=hits if part == "all" else None)
                                       for part, part_rows in parts.items() if part_rows}
        if hands and name in HANDS_CONDITIONS.values():
            family_hits = {}
            if families:
                members = [by_id[i] for f in families for i in f]
                shared = {i: lines[f[0]] for f in families for i in f}
                again = colour_all(colour, members, shared, [list(r["tags"]) for r in members], batch_size,
                                   desc=f"{name}, colour families", progress=progress)
                family_hits = member_hits(families, again, colours)
            figures[name] = hand_figures(parts["all"], outputs, colours, hits, family_hits, families)
    if hands:
        results["hands"] = {key: figures[name] for key, name in HANDS_CONDITIONS.items()}
        no_tags = results["conditions"].get("no_tags", {}).get("all", {}).get("variant", {})
        chance = results["conditions"]["tags"]["all"]["variant"]
        results["hands"]["no_tags"] = {"accuracy": no_tags.get("accuracy"), "chance": chance["chance"],
                                       "groups": chance["groups"], "members": chance["members"]}
    return results


def evaluate_datasets(colorizer, datas: list[str | os.PathLike], split: str = "val", **options) -> dict:
    """:func:`evaluate` on each of ``datas`` apart: ``{"model", "step", "split", "size", "datasets": {NAME: result}}``,
    in the order given, named by :func:`~colorize.data.dataset.dataset_names`. A dataset whose
    split is empty is listed with ``count`` 0; ``ValueError`` when every one is empty."""
    names = dataset_names(datas)
    results = {"model": getattr(colorizer, "source", ""), "step": getattr(colorizer, "step", None),
               "split": split, "size": colorizer.size, "datasets": {}}
    for name, data in zip(names, datas, strict=True):
        if len(Manifest(data, split=split)) == 0:
            results["datasets"][name] = {"data": str(data), "split": split, "count": 0}
            continue
        results["datasets"][name] = evaluate(colorizer, data, split=split, **options)
    if not any(r.get("conditions") for r in results["datasets"].values()):
        raise ValueError(f"split {split!r} is empty in every dataset ({', '.join(map(str, datas))}); "
                         f"nothing to evaluate.")
    return results


def _fmt(value, spec: str) -> str:
    if value is None:
        return "–"
    return format(value, spec)


def to_markdown(results: dict) -> str:
    """The results as Markdown: the hands table (one row per dataset, when any has variant groups),
    then a table with one row per condition and part; with several datasets, one section per dataset."""
    several = results.get("datasets")
    named = several if several is not None else {dataset_names([results["data"]])[0]: results}
    hands = any("hands" in r for r in named.values())
    lines = [*hands_table(named), ""] if hands else []
    if several is None:
        lines += _table(results)
    else:
        lines = [f"Model `{results['model']}` (step {results.get('step')}) on {len(named)} datasets, "
                 f"each on its own split `{results['split']}`, at {results['size']} px: {', '.join(named)}.", "",
                 *lines]
        for name, result in named.items():
            lines += [f"## {name}", ""]
            lines += (_table(result) if result.get("conditions") else
                      [f"`{result['data']}` has no `{result['split']}` split: nothing scored."])
            lines.append("")
        lines.pop()
    notes = [VARIANT_NOTE, HANDS_NOTE] if hands else [VARIANT_NOTE]
    return "\n".join([*lines, *(line for note in notes for line in ("", note))]) + "\n"


def _pair(figures: dict, key: str, value: str) -> str:
    """``own / traced`` of one figure, ``–`` for a figure with no count."""
    return " / ".join(_fmt(figures[lines][key][value], ".3f") for lines in HANDS_CONDITIONS)


def hand_cells(hands: dict) -> dict[str, str]:
    """One dataset's hand figures (``result["hands"]``) as table cells, each ``own / traced``:
    ``variant``, ``tone_order``, ``named_colour``, ``two_person``, and ``no_tags`` (accuracy / chance)."""
    return {"variant": _pair(hands, "variant", "accuracy"), "tone_order": _pair(hands, "tone_order", "share"),
            "named_colour": _pair(hands, "named_colour", "accuracy"),
            "two_person": _pair(hands, "two_person", "accuracy"),
            "no_tags": f"{_fmt(hands['no_tags']['accuracy'], '.3f')} / {_fmt(hands['no_tags']['chance'], '.3f')}"}


def hands_table(results: dict[str, dict]) -> list[str]:
    """The per-hand figures of several datasets' results (``{name: result}``), as Markdown
    lines: one row per dataset, each figure with the dataset's own lines and with traced lines
    beside its count. A dataset without variant groups gets a row of ``–``."""
    head = ["hand", "samples", f"{FIGURES['variant']} own / traced", "groups (samples)",
            f"{FIGURES['tone_order']} own / traced", "five-tone drawings",
            f"{FIGURES['named_colour']} own / traced", "groups (samples)",
            f"{FIGURES['two_person']} own / traced", "two-tone samples", "no tags / chance"]
    lines = [f"Hands: does the output follow the tags on each dataset, with its own lines / with lines traced "
             f"from the colour regions ({HANDS_LINES})?", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results.items():
        samples = result.get("conditions", {}).get("tags", {}).get("all", {}).get("count", 0)
        hands = result.get("hands")
        if hands is None:  # no variant groups: nothing to tell apart
            lines.append("| " + " | ".join([name, str(samples), *["– / –", "0"] * 4, "– / –"]) + " |")
            continue
        own, cell = hands["own"], hand_cells(hands)
        cells = [name, str(samples),
                 cell["variant"], f"{own['variant']['groups']} ({own['variant']['members']})",
                 cell["tone_order"], str(own["tone_order"]["drawings"]),
                 cell["named_colour"], f"{own['named_colour']['groups']} ({own['named_colour']['members']})",
                 cell["two_person"], str(own["two_person"]["members"]), cell["no_tags"]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _table(results: dict) -> list[str]:
    """One dataset's results: a line naming them, then one table row per condition and part."""
    head = ["condition", "samples", *(f"{LABELS[m][0]} ({LABELS[m][1]} better)" for m in METRICS),
            "variant acc.", "chance", "ceiling", "groups"]
    lines = [f"Model `{results['model']}` (step {results.get('step')}) on `{results['data']}`, "
             f"split `{results['split']}`, at {results['size']} px.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for condition, parts in results["conditions"].items():
        for part, s in parts.items():
            v = s["variant"]
            cells = [condition.replace("_", " ") + ("" if part == "all" else f" ({part})"), str(s["count"]),
                     *(_fmt(s[m], LABELS[m][2]) for m in METRICS),
                     _fmt(v["accuracy"], ".3f"), _fmt(v["chance"], ".3f"), _fmt(v.get("ceiling"), ".3f"), f"{v['groups']} ({v['members']} samples)"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(results: dict, out: str | os.PathLike, name: str = "evaluation") -> tuple[Path, Path]:
    """Write ``NAME.json`` and ``NAME.md`` into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    atomic_write_text(json_path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(md_path, to_markdown(results))
    return json_path, md_path
