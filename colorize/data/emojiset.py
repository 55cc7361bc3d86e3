"""Another emoji set as a dataset: a test of hands the model never saw, or more hands to train on.

Emoji sets other than OpenMoji ship colour pictures only, one file per emoji named by its
code points (``1f44b-1f3fd.svg``, ``emoji_u1f44b_1f3fd.png``); ``colorize data iconify``
unpacks the Iconify JSON packages into such folders. This builder turns a folder of them
into a dataset, in one of two roles:

* ``test`` (the default): every row in ``val`` and the set marked ``test_only``, so
  ``colorize train`` refuses it. A set no model trained on is a fair measure of line art
  and colouring in another hand (Twemoji is ours).
* ``train``: split by drawing into ``train`` and ``val`` like OpenMoji (``val_fraction``),
  for the sets a model may learn from.

Either way:

* **Tags** come from the code points, exactly as for OpenMoji
  (:func:`colorize.data.tags.emoji_tags`), so the model meets its own vocabulary.
* **Drawings.** The skin-tone variants of one emoji are one drawing: the code points
  without their skin-tone modifiers. They are the variant groups of the evaluation.
* **Line art** is made by an OpenCV extractor from the colour picture of the group's
  toneless member (the first of the group when it has none), and every member of the
  group gets that same sketch. The lines then say nothing about which colouring is
  wanted: only the tags can.
  Training draws its lines afresh from that toneless picture in many styles
  (:mod:`colorize.data.linestyles`); the stored sketch is what evaluation sees.
* **The artist's lines.** With ``lines_src``, a folder of the same set's line drawings
  named the same way (EmojiOne's monotone set), a drawing whose toneless member has one
  takes it as its sketch, marked ``line_art: artist``.
* **Flags** go to ``excluded``, as in the OpenMoji build.
* **Licence.** The ``iconify.json`` that ``data iconify`` leaves beside the SVGs (the
  set's name, author and licence) goes into ``dataset.json`` as its attribution.

SVGs are read with the same safe reader as any other import (:func:`colorize.data.svgart.read_svg`),
PNGs with the same decoder. A file that fails is reported and skipped. Re-running reuses
finished images.

    report = build_emoji_set(Path("twemoji/package"), Path("data/twemoji"), name="twemoji")
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colorize.data.builder import check_previous, read_build_info, write_build_info
from colorize.data.extract import MIXED, get_extractor
from colorize.data.images import ImageError, fit_square, load_rgb, read_finished, save_png
from colorize.data.manifest import MANIFEST_NAME, split_for, write_manifest
from colorize.data.pool import TIME_LIMIT, built_rows
from colorize.data.svgart import SvgError, read_svg, render
from colorize.data.tags import SKIN_TONES, emoji_tags, is_flag_sequence
from colorize.fileio import read_json_object
from colorize.folders import shown

__all__ = ["ROLES", "EmojiSetReport", "build_emoji_set", "codepoints_from_name", "drawing_of"]

ROLES = ("test", "train")

SUFFIXES = (".svg", ".png")
# "1f44b-1f3fd", "1F44B_1F3FD", "emoji_u1f44b_1f3fd" (Noto), "u1f44b" : hex code points, - or _ between
_NAME = re.compile(r"^(?:emoji_)?u?([0-9a-f]{2,6}(?:[-_][0-9a-f]{2,6})*)$", re.IGNORECASE)
VARIATION_SELECTOR = 0xFE0F
# joiner, variation selector, keycap, and the # * 0-9 of keycaps; besides these, regional
# indicators (flags), tag characters (subdivision flags), skin tones and hair components
SEQUENCE_PARTS = {0x200D, VARIATION_SELECTOR, 0x20E3, 0x23, 0x2A, *range(0x30, 0x3A)}
BUILDER = "emoji"


@dataclass
class EmojiSetReport:
    """What one build did: rows written, images made or reused, and each failure."""

    rows: int = 0
    made: int = 0
    reused: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file skipped, file kept)
    splits: dict[str, int] = field(default_factory=dict)
    groups: int = 0  # drawings that come in several colourings
    artist_lines: int = 0  # drawings whose sketch is the artist's line drawing (lines_src)


def codepoints_from_name(stem: str) -> list[int] | None:
    """The code points a file name spells (``1f44b-1f3fd``, ``emoji_u1f44b_1f3fd``), or None.

    The emoji variation selector U+FE0F is dropped: Twemoji leaves it out of most names,
    and it changes neither the name nor the picture.
    """
    match = _NAME.match(stem)
    if match is None:
        return None
    codepoints = [int(part, 16) for part in re.split(r"[-_]", match.group(1))]
    if not all(_emoji_part(c) for c in codepoints):  # "cafe.svg" is hex, but no emoji
        return None
    return [c for c in codepoints if c != VARIATION_SELECTOR] or None


def _emoji_part(c: int) -> bool:
    """Whether code point ``c`` is an emoji or a part of emoji sequences."""
    import emoji

    return (c <= 0x10FFFF and emoji.is_emoji(chr(c))) or c in SEQUENCE_PARTS or c in SKIN_TONES \
        or 0x1F1E6 <= c <= 0x1F1FF or 0xE0020 <= c <= 0xE007F or 0x1F9B0 <= c <= 0x1F9B3


def drawing_of(codepoints: list[int]) -> str:
    """The drawing id of a sequence: its code points without skin-tone modifiers, as hex.

    The five tone swatches (a modifier alone) are one drawing too, ``skin-tones``.
    """
    return "-".join(f"{c:x}" for c in codepoints if c not in SKIN_TONES) or "skin-tones"


def _colour(path: Path, size: int) -> np.ndarray:
    data = path.read_bytes()
    if path.suffix.lower() == ".svg":
        art = read_svg(data)
        return render(art.svg, size, art.width, art.height)
    square, _ = fit_square(load_rgb(data), size)
    return square


def _colour_one(job: tuple[str, str, str, int, bool]) -> dict:
    """Worker: render (or reuse) one emoji's colour picture; its row, or ``{'file', 'error'}``."""
    path, emoji_id, out, size, force = job
    path, out = Path(path), Path(out)
    color_rel = f"color/{emoji_id}.png"
    if not force and read_finished(out / color_rel, size) is not None:
        return {"id": emoji_id, "color": color_rel, "_reused": True}
    try:
        save_png(out / color_rel, _colour(path, size))
    except (OSError, SvgError, ImageError) as e:
        return {"file": str(path), "error": getattr(e, "strerror", None) or str(e)}
    return {"id": emoji_id, "color": color_rel, "_reused": False}


def _sketch_one(job: tuple[str, str, str, int, bool, str | None]) -> str | None:
    """Worker: make (or reuse) one drawing's line art: the artist's line drawing ``lines``
    where there is one, else ``extractor`` on one member's colour picture."""
    color, sketch, extractor, size, force, lines = job
    if not force and read_finished(sketch, size) is not None:
        return None
    try:
        if lines is not None:
            drawn = _colour(Path(lines), size)
        else:
            rgb = read_finished(color, size)
            if rgb is None:
                return f"its colour picture {color} cannot be read back, so its drawing has no line art"
            drawn = get_extractor(extractor)(rgb)
        save_png(sketch, drawn)
    except (SvgError, ImageError) as e:
        return f"its line drawing {lines} cannot be read ({e})"
    except OSError as e:
        return f"its line art cannot be written ({getattr(e, 'strerror', None) or e})"
    return None


def _line_files(lines_src: Path | None) -> dict[str, Path]:
    """The artist's line drawings in ``lines_src``, by emoji id (code points without FE0F)."""
    if lines_src is None:
        return {}
    if not lines_src.is_dir():
        raise FileNotFoundError(f"{lines_src}: not a folder. Pass the folder of the set's line drawings "
                                f"(e.g. EmojiOne monotone, unpacked by `colorize data iconify`).")
    found = {}
    for path in sorted(p for p in lines_src.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()):
        sequence = codepoints_from_name(path.stem)
        if sequence is not None:
            found.setdefault("-".join(f"{c:x}" for c in sequence), path)
    return found


def _licence(src: Path) -> dict:
    """Name, author and licence of the set, from the ``iconify.json`` beside its files (if any)."""
    info = read_json_object(src / "iconify.json")
    return {k: info[k] for k in ("set", "author", "license", "license_url", "attribution") if isinstance(info.get(k), str)}


def _check_folder(out: Path, src: Path, name: str, size: int, force: bool) -> None:
    """Refuse an ``out`` that holds another builder's dataset, another emoji set, or (unless
    ``force``) a build from another folder or at another size: reusing its pictures would mix them."""
    previous = read_build_info(out)
    if not previous:
        if out.is_dir() and any(out.iterdir()):
            raise ValueError(f"{out} is not empty and holds no dataset.json of an emoji set. "
                             f"Choose another --out (a new or empty folder).")
        return
    if previous.get("builder") != BUILDER:
        raise ValueError(f"{out} holds a {previous.get('source')!r} dataset that `colorize data emoji` did not "
                         f"build; it never writes over another dataset. Choose another --out.")
    if previous.get("source") != name:
        raise ValueError(f"{out} holds the emoji set {previous.get('source')!r}. Pass --name "
                         f"{previous.get('source')} to update it, or choose another --out for {name!r}.")
    if not force and previous.get("from") not in (None, str(src.resolve())):
        raise ValueError(f"{out} was built from {previous['from']}, not {src}. Pass --force to rebuild it "
                         f"from {src}, or choose another --out.")
    check_previous(out, name, size, fix="Use --force to rebuild it at {size} px, or choose another --out.",
                   force=force)


def build_emoji_set(
    src: Path,
    out: Path,
    name: str = "emoji",
    size: int = 256,
    extractor: str = "xdog",
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
    time_limit: float | None = TIME_LIMIT,
    role: str = "test",
    val_fraction: float = 0.1,
    lines_src: Path | None = None,
) -> EmojiSetReport:
    """Build (or finish building) a dataset from the emoji files in ``src`` into ``out``.

    Args:
        src: folder of emoji SVGs or PNGs named by code points (not searched recursively).
        out: dataset folder; created if missing.
        name: the set's name, as ``source`` in ``dataset.json`` and in every row.
        size: side of the square images in pixels.
        extractor: line extractor (see :mod:`colorize.data.extract`); ``mixed`` picks one per drawing.
        force: make every image again, even those a previous run finished.
        workers: processes to use; default: every core.
        progress: show a progress bar on stderr.
        time_limit: seconds one file may take (see :mod:`colorize.data.pool`); None: no limit.
        role: ``test`` (every row in val, never trained on) or ``train`` (split by drawing).
        val_fraction: with ``role="train"``, the share of drawings held out in val.
        lines_src: folder of the set's own line drawings, named like ``src``'s files.
    """
    src, out = Path(src), Path(out)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    line_files = _line_files(Path(lines_src) if lines_src is not None else None)
    names = MIXED  # "mixed": one per drawing, fixed by its id so a re-build agrees
    get_extractor(extractor)  # fail before any work on an unknown name
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: not a folder. Pass the folder that holds the emoji files.")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"{src}: no .svg or .png files here. Pass the folder of an emoji set's "
                                f"files, named by code points like 1f44b-1f3fd.svg.")
    _check_folder(out, src, name, size, force)
    out.mkdir(parents=True, exist_ok=True)

    report = EmojiSetReport()
    jobs, sources, codepoints = [], {}, {}
    for path in files:
        sequence = codepoints_from_name(path.stem)
        if sequence is None:
            report.failed.append((str(path), "the file name is not an emoji's code points, like 1f44b-1f3fd"))
            continue
        emoji_id = "-".join(f"{c:x}" for c in sequence)
        if emoji_id in sources:  # "2764-fe0f.svg" and "2764.svg"
            report.duplicates.append((str(path), str(sources[emoji_id])))
            continue
        sources[emoji_id], codepoints[emoji_id] = path, sequence
        jobs.append((str(path), emoji_id, str(out), size, force))
    for file, error in report.failed:
        tqdm.write(f"{shown(file)}: {error}; skipped", file=sys.stderr)
    for file, kept in report.duplicates:
        tqdm.write(f"{shown(file)}: the same emoji as {shown(Path(kept).name)}; that one is kept", file=sys.stderr)

    workers = workers or os.cpu_count() or 1
    rows = list(built_rows(_colour_one, jobs, workers, time_limit, report.failed, desc=name, progress=progress))

    members: dict[str, list[dict]] = {}
    for row in rows:
        sequence = codepoints[row["id"]]
        row.update(drawing=drawing_of(sequence), tags=emoji_tags(sequence), is_flag=is_flag_sequence(sequence))
        members.setdefault(row["drawing"], []).append(row)
    sketch_jobs, groups = [], []
    for drawing, group in members.items():
        source = next((r for r in group if r["id"] == drawing), group[0])  # the toneless member
        pick = int(hashlib.sha1(drawing.encode()).hexdigest(), 16) % len(names)
        chosen = extractor if extractor != "mixed" else names[pick]
        lines = line_files.get(source["id"])
        if lines is not None:
            chosen = "artist"
        sketch_rel = f"sketch/{drawing}.{chosen}.png"  # named by its extractor: another never reuses it
        split = "val" if role == "test" else split_for(drawing, val_fraction)
        for row in group:
            row.update(sketch=sketch_rel, line_art=chosen, aligned=False, source=name,
                       split="excluded" if row["is_flag"] else split)
            if lines is None:
                row["extractor"] = chosen
        sketch_jobs.append((str(out / source["color"]), str(out / sketch_rel), chosen, size, force,
                            None if lines is None else str(lines)))
        groups.append(group)
    with ProcessPoolExecutor(max_workers=workers) as pool:  # line art from the pictures made above
        for group, error in zip(groups, pool.map(_sketch_one, sketch_jobs, chunksize=16), strict=True):
            if error is not None:
                for row in group:
                    report.failed.append((str(sources[row["id"]]), error))
                    tqdm.write(f"{shown(sources[row['id']])}: {error}; skipped", file=sys.stderr)
                    row["_broken"] = True
    rows = [row for row in rows if not row.get("_broken")]
    report.reused = sum(row.pop("_reused") for row in rows)
    report.made = len(rows) - report.reused
    report.groups = sum(len(group) > 1 for group in groups if not group[0].get("_broken"))
    report.artist_lines = sum(group[0]["line_art"] == "artist" for group in groups if not group[0].get("_broken"))
    report.rows = write_manifest(out / MANIFEST_NAME, rows)
    for row in rows:
        report.splits[row["split"]] = report.splits.get(row["split"], 0) + 1
    write_build_info(out, name, size, report.splits, builder=BUILDER, **{"from": str(src.resolve())},
                     extractor=extractor, test_only=role == "test", role=role, variant_groups=report.groups,
                     **({"val_fraction": val_fraction} if role == "train" else {}),
                     **({"lines_from": str(Path(lines_src).resolve()), "artist_lines": report.artist_lines}
                        if lines_src is not None else {}),
                     **_licence(src),
                     failed=[{"file": f, "error": e} for f, e in report.failed],
                     duplicates=[{"file": f, "kept": k} for f, k in report.duplicates])
    return report
