"""Importing a user's folder of colour illustrations with tags as a training set.

Each image is decoded (see :mod:`colorize.data.images`), fitted to a white-padded square,
stored as the colour target, and given line art by an extractor (see
:mod:`colorize.data.extract`), either now (stored) or at training time (fresh each epoch).
Tags come from sidecars or a table (see :mod:`colorize.data.tagfiles`). An SVG is rendered
instead of decoded, with its line art drawn from its own outlines and its tags from its
metadata when no sidecar gives them; one that is not a colour illustration is filtered out
with its reason (see :mod:`colorize.data.svgart`). The result has the same manifest format
as the OpenMoji build, so every other command reads it unchanged.

An image's id is a hash of its file's bytes: byte-identical files are kept once, a file's
split (also from that hash) never changes when others are added, and a re-run skips every
file already imported. Source files are only ever read.

    report = import_folder(Path("~/gallery-dl"), Path("data/mine"), size=256, extractor="mixed")
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from colorize.data.extract import MIXED, get_extractor
from colorize.data.images import IMAGE_SUFFIXES, MAX_PIXELS, ImageError, fit_square, load_rgb, save_png
from colorize.data.builder import check_previous, write_build_info
from colorize.data.manifest import MANIFEST_NAME, Manifest, split_for
from colorize.data.pool import TIME_LIMIT, Failure, isolated
from colorize.data.svgart import Filters, SvgArt, SvgError, bitmap_share, line_ink, line_svg, read_svg, render, rejection
from colorize.data.tagfiles import TagFileError, load_tag_table, sidecar_tags
from colorize.fileio import NotRegularFile, atomic_open, atomic_write_text, file_kind, read_regular, resolved
from colorize.folders import shown, walk_images

__all__ = ["ImportReport", "import_folder", "REPORT_NAME", "TIME_LIMIT"]

REPORT_NAME = "import-report.txt"
SUFFIXES = IMAGE_SUFFIXES + (".svg",)  # SVGs are rendered, their line art drawn from the vectors
MIN_INK, MAX_INK = 0.005, 0.45  # vector line art with less or more ink than this is no line art
MAX_FILE_BYTES = 1 << 30


@dataclass
class ImportReport:
    """Counts of one import, and one line for each problem (file, problem, what was done)."""

    imported: int = 0
    already: int = 0
    skipped: int = 0
    failed: int = 0
    kept_old: int = 0
    filtered: int = 0  # SVGs that are not colour illustrations (see colorize.data.svgart.rejection)
    problems: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    line_art: dict[str, int] = field(default_factory=dict)  # SVGs imported this run: "vector" or the extractor

    @property
    def rows(self) -> int:
        return sum(self.splits.values())


@dataclass(frozen=True)
class _Job:
    path: str
    name: str  # as the user knows it: relative to SRC, or as the table wrote it
    out: str
    size: int
    extractor: str
    at_import: bool
    tags: list[str] | None
    max_pixels: int
    filters: Filters = Filters()
    category: bool = False  # an SVG's folders are tags too (Openclipart's categories: animals/mammals)
    source: str = "import"


def _import_one(job: _Job) -> dict:
    """Worker: import one file; return its row (with ``_status``), or ``{'_error': ...}``."""
    path, out = Path(job.path), Path(job.out)
    try:
        info = path.stat()  # checked before reading: an oversized file is never loaded
        if (kind := file_kind(info.st_mode)) is not None:
            return {"_error": f"{job.name}: it is {kind}, not an image file; skipped"}
        if info.st_size > MAX_FILE_BYTES:
            return {"_error": f"{job.name}: file is {info.st_size / 2**20:,.1f} MiB, over the "
                              f"{MAX_FILE_BYTES >> 20} MiB limit for one image; skipped"}
        data = read_regular(path)  # a FIFO swapped in after the check still cannot block
    except NotRegularFile as e:
        return {"_error": f"{job.name}: {e}; skipped"}
    except OSError as e:
        return {"_error": f"{job.name}: cannot be read ({e.strerror or e}); skipped"}
    if not data:
        return {"_error": f"{job.name}: empty file (0 bytes); skipped"}
    image_id = hashlib.sha1(data).hexdigest()[:16]
    notes = []
    art = None
    if path.suffix.lower() == ".svg":
        try:
            folders = list(PurePosixPath(job.name).parent.parts) if job.category else []
            art = read_svg(data, categories=folders)
        except SvgError as e:
            return {"_error": f"{job.name}: {e}; skipped"}
    tags = job.tags
    if tags is None:
        try:
            tags, _ = sidecar_tags(path)
        except TagFileError as e:
            tags = []
            notes.append(f"{job.name}: {e}; imported without tags")
    if not tags and art is not None:
        tags = art.tags  # the file's own title and keywords, when no sidecar or table row says otherwise
    if not tags:
        if not notes:
            notes.append(f"{job.name}: no tags found (no sidecar .txt/.json or table row); imported without tags")
    color_rel = f"color/{image_id}.png"
    sketch_rel = f"sketch/{image_id}.png" if job.at_import or art is not None else None
    row = {
        "id": image_id,
        "sketch": sketch_rel,
        "color": color_rel,
        "tags": tags,
        "drawing": image_id,
        "split": split_for(image_id),
        "is_flag": False,
        "aligned": False,
        "source": job.source,
        "original": job.name,
        "extractor": job.extractor,
        "_notes": notes,
    }
    done = (out / color_rel).is_file() and (sketch_rel is None or (out / sketch_rel).is_file())
    if done:
        return {**row, "_status": "already"}
    if art is not None:
        return _import_svg(job, art, row)
    try:
        rgb = load_rgb(data, max_pixels=job.max_pixels)
    except ImageError as e:
        return {"_error": f"{job.name}: {e}; skipped"}
    row["width"], row["height"] = int(rgb.shape[1]), int(rgb.shape[0])
    square, _ = fit_square(rgb, job.size)
    if job.at_import:
        save_png(out / sketch_rel, get_extractor(job.extractor)(square))
    save_png(out / color_rel, square)  # written last: its presence marks the row finished
    return {**row, "_status": "imported"}


def _import_svg(job: _Job, art: SvgArt, row: dict) -> dict:
    """Worker: the colour picture, the filters, then line art from the vectors or, failing
    that, from ``job.extractor``; the row says which (``line_art``)."""
    out = Path(job.out)
    try:
        colour = render(art.svg, job.size, art.width, art.height)
        reason = rejection(art, colour, job.filters, bitmap_share(art, colour, job.size) if art.bitmaps else 0.0)
        if reason is not None:
            return {"_filtered": f"{job.name}: {reason}; skipped"}
        lines = render(line_svg(art), job.size, art.width, art.height)
    except SvgError as e:
        return {"_error": f"{job.name}: {e}; skipped"}
    ink = line_ink(lines)
    if MIN_INK <= ink <= MAX_INK:
        row["line_art"] = "vector"
    else:  # no usable outlines in the vectors: lines in another hand, from the colour picture
        names = MIXED  # "mixed": one per file, fixed by its id so a re-import agrees
        name = job.extractor if job.extractor != "mixed" else names[int(row["id"], 16) % len(names)]
        lines = get_extractor(name)(colour)
        row["line_art"] = name
        row["extractor"] = name
    row["width"], row["height"] = round(art.width), round(art.height)
    save_png(out / row["sketch"], lines)
    save_png(out / row["color"], colour)  # written last: its presence marks the row finished
    return {**row, "_status": "imported"}



def _sources(src: Path, out: Path, table: dict[str, list[str]] | None, report: ImportReport,
             table_file: Path | None = None, lines: dict[str, int] | None = None,
             ) -> list[tuple[Path, str, list[str] | None]]:
    """``(path, name, tags or None)`` for every file to import, in a stable order; folders
    that cannot be searched, and table rows that point outside ``src``, go to ``report`` as
    failures (see :func:`walk_images`)."""
    if table is not None:
        found = []
        for name, tags in table.items():
            if (why := _outside(name)) is not None:
                report.failed += 1
                _problem(report, f"{table_file}, line {(lines or {}).get(name, '?')}: {name}: {why}, so it points "
                                 f"outside SRC ({src}); --manifest paths are relative to SRC. Skipped; move the "
                                 f"file under SRC, or import from a SRC that holds it")
                continue
            found.append((src / name, name, tags))
        return found
    walk = walk_images(src, SUFFIXES, skip=resolved(out))
    for folder, message in walk.notes:
        _problem(report, f"{folder}: {message}")
    for folder, message in walk.problems:
        report.failed += 1
        _problem(report, f"{folder}: {message}")
    return [(path, path.relative_to(src).as_posix(), None) for path in walk.files]


def _outside(name: str) -> str | None:
    """Why a table row's path may lead out of SRC (absolute, from home, or through ``..``), else None.

    Judged on the path as written: a symlink inside SRC is the user's own and is followed,
    as the folder walk follows it."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute():
        return "the path is absolute"
    if name.startswith("~"):
        return "the path starts from a home folder (~)"
    if ".." in path.parts:
        return "the path goes up through '..'"
    return None


def import_folder(
    src: Path,
    out: Path,
    size: int = 256,
    extractor: str = "mixed",
    extract_at: str = "import",
    table: Path | None = None,
    workers: int | None = None,
    max_pixels: int = MAX_PIXELS,
    progress: bool = True,
    filters: Filters = Filters(),
    category_tags: bool = False,
    source: str = "import",
    time_limit: float | None = TIME_LIMIT,
) -> ImportReport:
    """Import the images (and SVGs) under ``src`` into the dataset folder ``out``.

    Args:
        src: folder of colour illustrations (searched recursively), or the base of ``table``'s paths.
        out: dataset folder to create or extend.
        size: side of the square training images.
        extractor: line extractor name (see :mod:`colorize.data.extract`).
        extract_at: ``'import'`` stores line art now; ``'train'`` leaves it to the training
            loader, which extracts afresh every epoch.
        table: CSV/JSONL of (path, tags): import only those files, with those tags. Its paths
            are relative to ``src`` and stay inside it: a row with an absolute path, ``~`` or
            ``..`` is reported as failed and skipped.
        workers: processes to use; default: every core.
        max_pixels: refuse images with more pixels than this (decompression bombs).
        progress: show a progress bar on stderr.
        filters: which SVGs count as colour illustrations (the rest are reported and skipped).
        category_tags: the names of an SVG's folders under ``src`` are tags too (Openclipart's
            categories, e.g. ``animals/mammals``).
        source: the dataset's name in ``dataset.json`` and in each row (``import``, ``openclipart``).
        time_limit: seconds one file may take; a file over it is stopped, reported and skipped.
            None: no limit.

    SVGs are rendered, not decoded: tags from their metadata when no sidecar or table row
    gives them, line art from their vectors (see :mod:`colorize.data.svgart`).
    """
    src, out = Path(src), Path(out)
    get_extractor(extractor)  # fail before any work on an unknown name
    if extract_at not in ("import", "train"):
        raise ValueError(f"extract_at must be 'import' or 'train', not {extract_at!r}")
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: not a folder. Pass the folder that holds your illustrations.")
    lines: dict[str, int] = {}
    tag_table = load_tag_table(table, lines) if table is not None else None
    out.mkdir(parents=True, exist_ok=True)
    check_previous(out, source, size, fix="Import into another --out, or pass --size {previous}.")

    report = ImportReport()
    sources = _sources(src, out, tag_table, report, table, lines)
    seen: dict[str, str] = {}
    made = _made_before(out)
    # Rows are streamed into the new manifest, which replaces the old one only when the import ends.
    with atomic_open(out / MANIFEST_NAME) as manifest:
        bar = tqdm(total=len(sources), desc="import", unit="img", disable=not progress, file=sys.stderr)
        jobs = (_Job(str(path), name, str(out), size, extractor, extract_at == "import", tags, max_pixels,
                     filters, category_tags, source)
                for path, name, tags in sources)
        for job, row in isolated(_import_one, jobs, workers or os.cpu_count() or 1, time_limit):
            if isinstance(row, Failure):
                row = {"_error": f"{job.name}: {row.reason}; skipped" + (f". {row.advice}" if row.advice else "")}
            bar.update()
            _take(row, seen, manifest, report, made)
        bar.close()
        report.kept_old = _keep_old_rows(out, seen, manifest, report)
    atomic_write_text(out / REPORT_NAME, "".join(line + "\n" for line in report.problems))
    _write_info(out, src, size, extractor, extract_at, report, source, filters)
    return report


def _problem(report: ImportReport, line: str) -> None:
    line = shown(line)  # a newline in a file name must not split the report's line
    report.problems.append(line)
    tqdm.write(line, file=sys.stderr)


KEPT = ("width", "height", "line_art", "extractor")  # known only when the images were made


def _made_before(out: Path) -> dict[str, dict]:
    """For each row an earlier import made: the fields only making its images tells (:data:`KEPT`)."""
    try:
        return {row["id"]: {k: row[k] for k in KEPT if k in row} for row in Manifest(out)}
    except (FileNotFoundError, ValueError):
        return {}


def _take(row: dict, seen: dict[str, str], manifest, report: ImportReport, made: dict[str, dict]) -> None:
    if "_error" in row:
        report.failed += 1
        _problem(report, row["_error"])
        return
    if "_filtered" in row:
        report.filtered += 1
        _problem(report, row["_filtered"])
        return
    for note in row.pop("_notes"):
        _problem(report, note)
    status = row.pop("_status")
    if status == "already":
        row.update(made.get(row["id"], {}))
    if row["id"] in seen:
        report.skipped += 1
        _problem(report, f"{row['original']}: same bytes as {seen[row['id']]}; kept once, this copy skipped")
        return
    seen[row["id"]] = row["original"]
    report.imported += status == "imported"
    if status == "imported" and "line_art" in row:
        report.line_art[row["line_art"]] = report.line_art.get(row["line_art"], 0) + 1
    report.already += status == "already"
    report.splits[row["split"]] = report.splits.get(row["split"], 0) + 1
    manifest.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def _keep_old_rows(out: Path, seen: dict[str, str], manifest, report: ImportReport) -> int:
    """Carry over rows of earlier imports whose source is gone but whose images are still here."""
    try:
        old = Manifest(out)
    except FileNotFoundError:
        return 0
    kept = 0
    for row in old:
        if row["id"] in seen or not (out / row["color"]).is_file():
            continue
        seen[row["id"]] = row.get("original", row["id"])
        report.splits[row["split"]] = report.splits.get(row["split"], 0) + 1
        manifest.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        kept += 1
    return kept


def _write_info(out: Path, src: Path, size: int, extractor: str, extract_at: str, report: ImportReport,
                source: str, filters: Filters) -> None:
    write_build_info(out, source, size, report.splits, **{"from": str(src)}, extractor=extractor,
                     extract_at=extract_at, fit="scaled to fit, padded with white to a square",
                     svg_filters=asdict(filters),
                     last_run={"imported": report.imported, "already": report.already, "skipped": report.skipped,
                               "filtered": report.filtered, "failed": report.failed, "kept_old": report.kept_old,
                               "line_art": report.line_art})
