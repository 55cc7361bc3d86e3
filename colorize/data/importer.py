"""Importing a user's folder of colour illustrations with tags as a training set.

Each image is decoded (see :mod:`colorize.data.images`), fitted to a white-padded square,
stored as the colour target, and given line art by an extractor (see
:mod:`colorize.data.extract`), either now (stored) or at training time (fresh each epoch).
Tags come from sidecars or a table (see :mod:`colorize.data.tagfiles`). The result has the
same manifest format as the OpenMoji build, so every other command reads it unchanged.

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
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from tqdm import tqdm

import colorize
from colorize.data.extract import get_extractor
from colorize.data.images import IMAGE_SUFFIXES, MAX_PIXELS, ImageError, fit_square, load_rgb, save_png
from colorize.data.manifest import MANIFEST_NAME, Manifest, read_build_info, split_for
from colorize.data.tagfiles import TagFileError, load_tag_table, sidecar_tags
from colorize.fileio import atomic_open, atomic_write_text

__all__ = ["ImportReport", "import_folder", "REPORT_NAME"]

REPORT_NAME = "import-report.txt"
MAX_FILE_BYTES = 1 << 30
WINDOW = 256  # files in flight at once; bounds memory whatever the collection size


@dataclass
class ImportReport:
    """Counts of one import, and one line for each problem (file, problem, what was done)."""

    imported: int = 0
    already: int = 0
    skipped: int = 0
    failed: int = 0
    kept_old: int = 0
    problems: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)

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


def _import_one(job: _Job) -> dict:
    """Worker: import one file; return its row (with ``_status``), or ``{'_error': ...}``."""
    path, out = Path(job.path), Path(job.out)
    try:
        size = path.stat().st_size  # checked before reading: an oversized file is never loaded
        if size > MAX_FILE_BYTES:
            return {"_error": f"{job.name}: file is {size / 2**20:,.1f} MiB, over the {MAX_FILE_BYTES >> 20} MiB "
                              f"limit for one image; skipped"}
        data = path.read_bytes()
    except OSError as e:
        return {"_error": f"{job.name}: cannot read ({e.strerror or e}); skipped"}
    if not data:
        return {"_error": f"{job.name}: empty file (0 bytes); skipped"}
    image_id = hashlib.sha1(data).hexdigest()[:16]
    notes = []
    tags = job.tags
    if tags is None:
        try:
            tags, _ = sidecar_tags(path)
        except TagFileError as e:
            tags = []
            notes.append(f"{job.name}: {e}; imported without tags")
    if not tags:
        if not notes:
            notes.append(f"{job.name}: no tags found (no sidecar .txt/.json or table row); imported without tags")
    color_rel = f"color/{image_id}.png"
    sketch_rel = f"sketch/{image_id}.png" if job.at_import else None
    row = {
        "id": image_id,
        "sketch": sketch_rel,
        "color": color_rel,
        "tags": tags,
        "drawing": image_id,
        "split": split_for(image_id),
        "is_flag": False,
        "aligned": False,
        "source": "import",
        "original": job.name,
        "extractor": job.extractor,
        "_notes": notes,
    }
    done = (out / color_rel).is_file() and (sketch_rel is None or (out / sketch_rel).is_file())
    if done:
        return {**row, "_status": "already"}
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



def _sources(src: Path, out: Path, table: dict[str, list[str]] | None) -> Iterator[tuple[Path, str, list[str] | None]]:
    """``(path, name, tags or None)`` for every file to import, in a stable order."""
    if table is not None:
        for name, tags in table.items():
            path = Path(name).expanduser()
            yield (path if path.is_absolute() else src / path), name, tags
        return
    out = out.resolve()
    for folder, dirs, files in os.walk(src):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != out and not d.startswith("."))
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield here / name, (here / name).relative_to(src).as_posix(), None


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
) -> ImportReport:
    """Import the images under ``src`` into the dataset folder ``out``.

    Args:
        src: folder of colour illustrations (searched recursively), or the base of ``table``'s paths.
        out: dataset folder to create or extend.
        size: side of the square training images.
        extractor: line extractor name (see :mod:`colorize.data.extract`).
        extract_at: ``'import'`` stores line art now; ``'train'`` leaves it to the training
            loader, which extracts afresh every epoch.
        table: CSV/JSONL of (path, tags): import only those files, with those tags.
        workers: processes to use; default: every core.
        max_pixels: refuse images with more pixels than this (decompression bombs).
        progress: show a progress bar on stderr.
    """
    src, out = Path(src), Path(out)
    get_extractor(extractor)  # fail before any work on an unknown name
    if extract_at not in ("import", "train"):
        raise ValueError(f"extract_at must be 'import' or 'train', not {extract_at!r}")
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: not a folder. Pass the folder that holds your illustrations.")
    tag_table = load_tag_table(table) if table is not None else None
    out.mkdir(parents=True, exist_ok=True)
    _check_previous(out, size)

    def jobs() -> Iterator[_Job]:
        for path, name, tags in _sources(src, out, tag_table):
            yield _Job(str(path), name, str(out), size, extractor, extract_at == "import", tags, max_pixels)

    total = sum(1 for _ in _sources(src, out, tag_table))  # a cheap first walk, for the progress bar
    report = ImportReport()
    seen: dict[str, str] = {}
    # Rows are streamed into the new manifest, which replaces the old one only when the import ends.
    with atomic_open(out / MANIFEST_NAME) as manifest:
        bar = tqdm(total=total, desc="import", unit="img", disable=not progress, file=sys.stderr)
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            pending = jobs()
            # Submit in windows: Executor.map would hold a future for every file at once.
            while window := list(islice(pending, WINDOW)):
                for row in pool.map(_import_one, window, chunksize=8):
                    bar.update()
                    _take(row, seen, manifest, report)
        bar.close()
        report.kept_old = _keep_old_rows(out, seen, manifest, report)
    atomic_write_text(out / REPORT_NAME, "".join(line + "\n" for line in report.problems))
    _write_info(out, src, size, extractor, extract_at, report)
    return report


def _problem(report: ImportReport, line: str) -> None:
    report.problems.append(line)
    tqdm.write(line, file=sys.stderr)


def _take(row: dict, seen: dict[str, str], manifest, report: ImportReport) -> None:
    if "_error" in row:
        report.failed += 1
        _problem(report, row["_error"])
        return
    for note in row.pop("_notes"):
        _problem(report, note)
    status = row.pop("_status")
    if row["id"] in seen:
        report.skipped += 1
        _problem(report, f"{row['original']}: same bytes as {seen[row['id']]}; kept once, this copy skipped")
        return
    seen[row["id"]] = row["original"]
    report.imported += status == "imported"
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


def _check_previous(out: Path, size: int) -> None:
    previous = read_build_info(out)
    if previous.get("size") not in (None, size):
        raise ValueError(f"{out} holds {previous['size']}-px images and this import is {size} px. "
                         f"Import into another --out, or pass --size {previous['size']}.")
    if previous.get("source") not in (None, "import"):
        raise ValueError(f"{out} holds a {previous['source']!r} dataset. Import into another --out.")


def _write_info(out: Path, src: Path, size: int, extractor: str, extract_at: str, report: ImportReport) -> None:
    info = {
        "source": "import",
        "from": str(src),
        "size": size,
        "extractor": extractor,
        "extract_at": extract_at,
        "fit": "scaled to fit, padded with white to a square",
        "rows": report.rows,
        "splits": report.splits,
        "last_run": {"imported": report.imported, "already": report.already, "skipped": report.skipped,
                     "failed": report.failed, "kept_old": report.kept_old},
        "colorize_version": colorize.__version__,
    }
    atomic_write_text(out / "dataset.json", json.dumps(info, indent=2, ensure_ascii=False) + "\n")
