"""One palette per tag set for a folder run, so one character keeps its colours on every page
(``colorize run --consistent``).

The run colours every page first; then, for each tag set, the model's colours over all of
that set's pages are clustered into a palette (:func:`colorize.palette.cluster`), and each
page's flat regions take its nearest entry (:data:`CONSISTENT_MAX_DE`). A tag set with one
page keeps its own colours (its palette is still written, for the next run). A given
``--palette`` is the start: its colours are kept, and the run adds only the colours it
painted far from all of them. The palettes are
written beside the outputs (``palette.gpl`` when the run has one tag set, else
``palette-<tags>.gpl`` each), and a later run into the same folder reads them back instead
of building new ones, so its pages match the earlier ones.

Nothing here depends on the order of the pages: clustering takes the distinct colours
with their counts, and the caller colours the pages in a fixed order.

    paths = palette_paths(tag_sets, out)
    palette = run_palette([painted_pixels(colour, sketch, box) for ...], base=None)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from colorize.colour import lab
from colorize.finish.flats import is_paper
from colorize.finish.regions import line_mask
from colorize.palette import DEFAULT_MAX_DE, DEFAULT_MERGE_DE, Palette, cluster, snap

__all__ = ["CONSISTENT_MAX_DE", "CONSISTENT_MERGE_DE", "palette_paths", "run_palette"]

CONSISTENT_MERGE_DE = DEFAULT_MERGE_DE  # colours of one tag set nearer than this are one palette entry
# A palette the run built from its own pages holds every colour they were painted in, so each
# region takes its nearest entry however far: every page's regions are then palette colours
CONSISTENT_MAX_DE = float("inf")


def _slug(tags: tuple[str, ...]) -> str:
    """A file-name-safe, unique name for a tag set: ``man-red-hair`` (shortened, with a hash, when long)."""
    if not tags:
        return "no-tags"
    text = re.sub(r"[^a-z0-9]+", "-", ", ".join(tags).lower()).strip("-") or "tags"
    if len(text) > 60:
        text = text[:60].rstrip("-") + "-" + hashlib.sha1("\n".join(tags).encode()).hexdigest()[:8]
    return text


def palette_paths(tag_sets: Sequence[tuple[str, ...]], out: Path) -> dict[tuple[str, ...], Path]:
    """Where each tag set's palette lives: ``out/palette.gpl`` for a run with one tag set,
    else ``out/palette-<tags>.gpl``."""
    distinct = sorted(set(tag_sets))
    if len(distinct) == 1:
        return {distinct[0]: out / "palette.gpl"}
    paths: dict[tuple[str, ...], Path] = {}
    used: set[str] = set()
    for tags in distinct:
        name = _slug(tags)
        if name in used:  # two tag sets that differ only in punctuation
            name += "-" + hashlib.sha1("\n".join(tags).encode()).hexdigest()[:8]
        used.add(name)
        paths[tags] = out / f"palette-{name}.gpl"
    return paths


def painted_pixels(colour: np.ndarray, sketch: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The model's colours (uint8 [M, 3]) a page's palette is built from: inside the picture's
    box, off the lines, and not the white paper (which flat finishing keeps white)."""
    x, y, w, h = box
    colour, sketch = colour[y:y + h, x:x + w], sketch[y:y + h, x:x + w]
    keep = ~line_mask(sketch)
    return colour[keep & ~is_paper(lab(colour))]


def run_palette(pixels: Sequence[np.ndarray], base: Palette | None = None, name: str = "",
                merge_de: float | None = None, max_de: float = DEFAULT_MAX_DE) -> Palette:
    """The palette of one tag set's pages (each page's :func:`painted_pixels`).

    ``merge_de``: None for :data:`CONSISTENT_MERGE_DE`. With ``base``, its colours come first
    and unchanged; the run's colours join only where they lie farther than ``max_de`` from
    every base colour (those would snap to it anyway).
    """
    found = cluster(np.concatenate(list(pixels)) if pixels else np.zeros((0, 3), np.uint8),
                    merge_de=CONSISTENT_MERGE_DE if merge_de is None else merge_de, name=name)
    if base is None:
        return found
    far = snap(found.rgb(), base, max_de).index < 0
    return Palette(base.swatches + tuple(s for s, f in zip(found.swatches, far) if f), base.name or name)
