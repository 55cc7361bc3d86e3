"""Contact sheets: a dataset's pairs as one picture, line art | colour image with tags under them.

By default it shows drawings that come in several colours, side by side, because those are
the cases where only the tags can say which colours belong where.

    contact_sheet("data/openmoji", "sheet.png", count=12)
"""

from __future__ import annotations

import os
import random
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorize.data.extract import get_extractor
from colorize.data.manifest import Manifest
from colorize.fileio import atomic_write_bytes

__all__ = ["contact_sheet", "pick_rows"]


def pick_rows(rows: Manifest, count: int, ids: list[str] | None = None, seed: int = 0,
              per_drawing: int = 3) -> list[dict]:
    """Rows to show: ``ids`` if given, else up to ``per_drawing`` colourings of random shared drawings."""
    if ids:
        by_id = {row["id"]: row for row in rows if row["id"] in set(ids)}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise KeyError(f"{rows.path}: no row with id {', '.join(missing)} (in the chosen split)")
        return [by_id[i] for i in ids]
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row.get("drawing", row["id"])].append(row)
    rng = random.Random(seed)
    keys = sorted(groups)
    rng.shuffle(keys)
    # Shared drawings first: they carry the point of the tool. Singles fill any gap.
    keys.sort(key=lambda k: len(groups[k]) < 2)
    picked: list[dict] = []
    for key in keys:
        members = sorted(groups[key], key=lambda r: r["id"])
        rng.shuffle(members)
        picked.extend(members[: min(per_drawing, count - len(picked))])
        if len(picked) >= count:
            break
    return picked


def contact_sheet(dataset: str | os.PathLike, output: str | os.PathLike, split: str | None = None,
                  count: int = 12, ids: list[str] | None = None, seed: int = 0, thumb: int = 128,
                  columns: int = 3) -> int:
    """Write a PNG contact sheet of ``count`` pairs to ``output``; return how many were shown."""
    rows = Manifest(dataset, split=split)
    if len(rows) == 0:
        raise ValueError(f"{rows.path}: no rows{f' in split {split!r}' if split else ''} to show.")
    picked = pick_rows(rows, count, ids=ids, seed=seed)
    font = ImageFont.load_default(size=max(10, thumb // 10))
    pad, text_lines = 8, 2
    line_height = font.size + 3
    card_w, card_h = 2 * thumb + pad, thumb + pad + text_lines * line_height
    columns = min(columns, len(picked))
    n_rows = -(-len(picked) // columns)
    sheet = Image.new("RGB", (columns * (card_w + 2 * pad), n_rows * (card_h + 2 * pad)), "white")
    draw = ImageDraw.Draw(sheet)
    chars = max(8, int(card_w / (font.size * 0.55)))
    for i, row in enumerate(picked):
        x = (i % columns) * (card_w + 2 * pad) + pad
        y = (i // columns) * (card_h + 2 * pad) + pad
        with Image.open(rows.image_path(row, "color")) as im:
            color = im.convert("RGB")
        if row["sketch"] is None:  # imported with --extract-at train: show one extraction
            sketch = Image.fromarray(get_extractor(row.get("extractor") or "mixed")(np.asarray(color)))
        else:
            with Image.open(rows.image_path(row, "sketch")) as im:
                sketch = im.convert("RGB")
        for j, image in enumerate((sketch, color)):
            sheet.paste(image.resize((thumb, thumb), Image.Resampling.LANCZOS), (x + j * (thumb + pad), y))
        draw.rectangle([x - 1, y - 1, x + card_w, y + thumb], outline=(200, 200, 200))
        caption = ", ".join(row["tags"]) or "(no tags)"
        for k, text in enumerate(textwrap.wrap(caption, chars)[:text_lines]):
            draw.text((x, y + thumb + pad + k * line_height), text, fill=(20, 20, 20), font=font)
    output = Path(output)
    from io import BytesIO

    buf = BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(output, buf.getvalue())
    return len(picked)
