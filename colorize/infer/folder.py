"""Colour a set of sketch files into an output tree: the library behind ``colorize run``.

It owns four things:

* **Inputs.** Files, folders (searched recursively for image files, hidden folders
  skipped) and glob patterns (``art/**/*.png``), each file taken once.
* **Where results go.** The output tree mirrors the input tree: a file found in folder
  INPUT goes to ``OUT/<its path under INPUT>.png``, a glob match to ``OUT/<its path under
  the pattern's fixed folder>.png``, a loose file to ``OUT/<name>.png``. Two inputs that
  would share an output, an output that would replace an input, and an existing output
  (without ``overwrite``) are reported and never written over.
* **Which tags each sketch gets**, from the first that applies: ``tags`` for every
  sketch; its row in a tags file (CSV/TSV/JSONL, see :mod:`colorize.data.tagfiles`); its
  sidecar ``.txt`` / ``.json``; else none.
* **The batched pipeline.** A thread pool decodes and pads the next batches and writes
  finished PNGs while the model colours the current batch. Each step is the one
  :meth:`Colorizer.colorize` runs (``load``, ``fit_square``, ``colour_squares``,
  ``finish``), so a file coloured here has the same bytes as the Python API gives it.

Every file ends as one :class:`Record` (coloured, skipped or failed, with a message that
names the file, the problem and the fix); problems are logged on the ``colorize`` logger
as they happen.

    report = colour_files(Colorizer.from_pretrained(), ["sketches/"], Path("out"), tags="red hair")
"""

from __future__ import annotations

import glob
import logging
import os
import posixpath
import sys
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from colorize.data.images import IMAGE_SUFFIXES, MAX_PIXELS, ImageError, fit_square, save_png
from colorize.data.tagfiles import TagFileError, load_tag_table, sidecar_tags
from colorize.finish import FINISHES, finish_layers
from colorize.finish.layers import write_ora, write_regions
from colorize.infer.colorizer import Colorizer, as_tag_list

__all__ = ["Record", "RunReport", "Source", "TagResolver", "colour_files", "find_sources", "SHEET_SUFFIX"]

log = logging.getLogger("colorize")

SHEET_SUFFIX = ".side.png"  # --side-by-side: OUT/name.side.png beside OUT/name.png
LAYERED_SUFFIXES = (".ora", ".regions.png")  # --layers: OUT/name.ora and OUT/name.regions.png
PREFETCH = 2  # batches decoded ahead of the model
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Source:
    """One input file: where it is, and its path under its input (which the output mirrors)."""

    path: Path
    rel: PurePosixPath
    root: Path | None  # the folder INPUT or glob base it was found under; None for a loose file


@dataclass
class Record:
    """What happened to one input file."""

    source: str
    output: str | None = None
    status: str = "pending"  # coloured | skipped | failed
    tags: list[str] = field(default_factory=list)
    tags_from: str = "none"  # --tags, "tags.csv row 'a.png'", "sidecar a.txt", or none
    message: str = ""


@dataclass
class RunReport:
    """One record per input file, in input order, and what the run learnt on the way."""

    records: list[Record] = field(default_factory=list)
    unknown_tags: list[str] = field(default_factory=list)  # embedded with the model's encoder
    unmatched_rows: list[str] = field(default_factory=list)  # tags-file keys that matched no input

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def coloured(self) -> int:
        return self.count("coloured")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped(self) -> int:
        return self.count("skipped")


# -- inputs -------------------------------------------------------------------------------


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _under(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def _walk(root: Path, skip: Path | None) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _under((here / d).resolve(), skip))
        found += [here / name for name in sorted(files) if not name.startswith(".") and _is_image(here / name)]
    return found


def _glob_base(pattern: str) -> Path:
    """The fixed folder a glob pattern searches: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def find_sources(inputs: Sequence[str | os.PathLike], skip: Path | None = None) -> list[Source]:
    """Every image file that ``inputs`` name, in order, each once.

    Folders are searched recursively for files with an image suffix; a file named
    directly is taken whatever its suffix. A folder or pattern does not take files from
    ``skip`` (the output folder) when it lies inside the folder searched, so a re-run
    never colours its own results. Raises ``FileNotFoundError`` for an input that is not
    a file, a folder or a pattern that matches image files.
    """
    skip = Path(skip).resolve() if skip is not None else None

    def inner(root: Path) -> Path | None:  # skip, when strictly inside root
        root = root.resolve()
        return skip if skip is not None and skip != root and root in skip.parents else None

    sources: list[Source] = []
    seen: set[Path] = set()
    for given in inputs:
        text = os.path.expanduser(os.fspath(given))
        path = Path(text)
        if path.is_dir():
            found = [Source(p, PurePosixPath(p.relative_to(path).as_posix()), path) for p in _walk(path, inner(path))]
        elif path.is_file():
            found = [Source(path, PurePosixPath(path.name), None)]
        elif any(c in text for c in GLOB_CHARS):
            base = _glob_base(text)
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            matches = [m for m in matches if m.is_file() and _is_image(m) and not _under(m.resolve(), inner(base))]
            if not matches:
                raise FileNotFoundError(f"{given}: the pattern matches no image files "
                                        f"({', '.join(IMAGE_SUFFIXES)}). Check the pattern; quote it so "
                                        f"the shell passes it on as written.")
            found = [Source(m, PurePosixPath(m.relative_to(base).as_posix()), base) for m in matches]
        else:
            raise FileNotFoundError(f"{given}: no such file or folder. Pass sketch files, folders of "
                                    f"them, or a quoted glob pattern such as 'art/**/*.png'.")
        for source in found:
            key = source.path.resolve()
            if key not in seen:
                seen.add(key)
                sources.append(source)
    return sources


def check_output_folder(inputs: Sequence[str | os.PathLike], sources: Sequence[Source], out: Path) -> None:
    """Refuse an output folder that is an input folder, inside one, or the folder of an input file."""
    target = Path(out).resolve()
    for given in inputs:
        folder = Path(os.path.expanduser(os.fspath(given)))
        if folder.is_dir() and _under(target, folder.resolve()):
            raise ValueError(f"-o {out} is inside the input folder {given}, and colorize run does not write "
                             f"into its input. Choose an output folder outside {given}, or pass "
                             f"--allow-inside-input.")
    for source in sources:
        if source.path.resolve().parent == target:
            raise ValueError(f"-o {out} is the folder that holds the input {source.path}, and colorize run "
                             f"does not write beside its input. Choose another output folder, or pass "
                             f"--allow-inside-input.")


# -- tags ---------------------------------------------------------------------------------


def _norm_key(key: str) -> str:
    return posixpath.normpath(key.replace("\\", "/"))


class TagResolver:
    """Which tags each input gets: ``tags`` for all; else its tags-file row; else its sidecar.

    A tags-file key may be the file's path under its input folder (as ``data import``
    reads them), its path as found, a path relative to the tags file's folder, an
    absolute path, or a bare file name (then it tags every input of that name).
    """

    def __init__(self, tags: str | Sequence[str] | None = None, tags_file: Path | None = None):
        if tags is not None and tags_file is not None:
            raise ValueError("--tags gives every sketch the same tags and --tags-file gives each its own; "
                             "pass one of them, not both.")
        self.tags = None if tags is None else as_tag_list(tags)
        self.tags_file = None if tags_file is None else Path(tags_file)
        self.table = load_tag_table(self.tags_file) if self.tags_file is not None else {}
        self.used: set[str] = set()
        self._by_path: dict[str, str] = {}
        self._by_file: dict[Path, str] = {}
        by_name: dict[str, list[str]] = {}
        for key in self.table:
            self._by_path.setdefault(_norm_key(key), key)
            written = Path(os.path.expanduser(key))
            for candidate in (written, self.tags_file.parent / written) if not written.is_absolute() else (written,):
                self._by_file.setdefault(candidate.resolve(), key)
            if "/" not in _norm_key(key):
                by_name.setdefault(_norm_key(key), []).append(key)
        self._by_name = {name: keys[0] for name, keys in by_name.items() if len(keys) == 1}

    def _row(self, source: Source) -> str | None:
        for key in (self._by_path.get(str(source.rel)), self._by_path.get(_norm_key(str(source.path))),
                    self._by_file.get(source.path.resolve()), self._by_name.get(source.path.name)):
            if key is not None:
                return key
        return None

    def __call__(self, source: Source) -> tuple[list[str], str]:
        """``(tags, where they came from)``; raises :class:`TagFileError` for a broken sidecar."""
        if self.tags is not None:
            return self.tags, "--tags"
        key = self._row(source)
        if key is not None:
            self.used.add(key)
            return as_tag_list(self.table[key]), f"{self.tags_file.name} row {key!r}"
        tags, sidecar = sidecar_tags(source.path)
        if sidecar is not None:
            return as_tag_list(tags), f"sidecar {Path(sidecar).name}"
        return [], "none"

    def unmatched(self) -> list[str]:
        return [key for key in self.table if key not in self.used]


# -- the run ------------------------------------------------------------------------------


@dataclass
class _Job:
    index: int  # into RunReport.records
    source: Source
    output: Path
    sheet: Path | None
    tags: list[str]
    layered: tuple[Path, Path] | None = None  # .ora, .regions.png


def _outputs(source: Source, out: Path, side_by_side: bool,
             layers: bool = False) -> tuple[Path, Path | None, tuple[Path, Path] | None]:
    rel = Path(*source.rel.parts)
    output = out / rel.with_name(rel.stem + ".png") if rel.suffix else out / (str(rel) + ".png")
    sheet = output.with_name(output.stem + SHEET_SUFFIX) if side_by_side else None
    layered = tuple(output.with_name(output.stem + suffix) for suffix in LAYERED_SUFFIXES) if layers else None
    return output, sheet, layered


def _plan(sources: Sequence[Source], out: Path, resolver: TagResolver, overwrite: bool,
          side_by_side: bool, report: RunReport, layers: bool = False) -> list[_Job]:
    """One record per source; jobs for those that can be coloured, the rest failed or skipped here."""
    inputs = {s.path.resolve() for s in sources}
    claimed: dict[Path, str] = {}
    jobs = []
    for source in sources:
        record = Record(source=str(source.path))
        report.records.append(record)
        output, sheet, layered = _outputs(source, out, side_by_side, layers)
        record.output = str(output)
        targets = [output] + ([sheet] if sheet is not None else []) + list(layered or ())
        clash = next((t for t in targets if t.resolve() in claimed), None)
        replaces = next((t for t in targets if t.resolve() in inputs), None)
        for target in targets:
            claimed.setdefault(target.resolve(), record.source)
        if replaces is not None:
            _fail(record, f"its output {replaces} would replace an input sketch. Choose another -o.")
            continue
        if clash is not None:
            _fail(record, f"its output {clash} is also the output of {claimed[clash.resolve()]}, and one would "
                          f"overwrite the other. Rename one of them, or colour them into different -o folders.")
            continue
        try:
            record.tags, record.tags_from = resolver(source)
        except TagFileError as e:
            _fail(record, f"{e}. Fix or remove the sidecar, or give the tags with --tags or --tags-file.")
            continue
        existing = [t for t in targets if t.exists()]
        if existing and not overwrite:
            record.status = "skipped"
            record.message = f"{existing[0]} exists; pass --overwrite to replace it."
            log.info("%s: skipped, %s", record.source, record.message)
            continue
        jobs.append(_Job(len(report.records) - 1, source, output, sheet, record.tags, layered))
    return jobs


def _fail(record: Record, message: str) -> None:
    record.status = "failed"
    record.message = message
    log.warning("%s: %s", record.source, message)


def _read(job: _Job, size: int, max_pixels: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Worker thread: decode one sketch and fit it into the model's square, as ``Colorizer.colorize`` does."""
    rgb = Colorizer.load(job.source.path, max_pixels=max_pixels)
    square, box = fit_square(rgb, size)
    return rgb, square, box


def _write(job: _Job, colour: np.ndarray, rgb: np.ndarray, box: tuple[int, int, int, int], how: str = "soft",
           gap: int | None = None) -> None:
    """Worker thread: finish at full size (lines laid over) and write the file(s) atomically."""
    finished = finish_layers(colour, rgb, box, how=how, gap=gap, regions=job.layered is not None)
    save_png(job.output, finished.result)
    if job.sheet is not None:
        save_png(job.sheet, np.hstack([rgb, finished.result]))
    if job.layered is not None:
        write_ora(job.layered[0], finished)
        write_regions(job.layered[1], finished.labels)


def _read_problem(e: ImageError | OSError) -> str:
    """What is wrong with a file that could not be read, and what to do about it."""
    if isinstance(e, OSError):
        return f"cannot read it ({e.strerror or e}). Check that it exists and is readable."
    text = str(e)
    if "limit" in text:
        return f"{text}. If you trust the file, raise --max-pixels."
    if "too small" in text:
        return f"{text}. There is nothing to colour; remove it from the input."
    return f"{text}. Re-save it as PNG or JPEG, or remove it from the input."


def colour_files(
    colorizer: Colorizer,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    tags: str | Sequence[str] | None = None,
    tags_file: str | os.PathLike | None = None,
    batch_size: int = 8,
    overwrite: bool = False,
    side_by_side: bool = False,
    allow_inside_input: bool = False,
    max_pixels: int = MAX_PIXELS,
    workers: int | None = None,
    progress: bool = True,
    finish: str = "soft",
    gap: int | None = None,
    layers: bool = False,
) -> RunReport:
    """Colour every sketch that ``inputs`` name into the folder ``out``; see the module docstring.

    Args:
        colorizer: the model (see :meth:`Colorizer.from_pretrained`).
        inputs: files, folders (searched recursively) and glob patterns.
        out: output folder; the input tree is mirrored under it, every result a PNG.
        tags: tags for every sketch (``"a, b"`` or a list); None: from ``tags_file`` or sidecars.
        tags_file: CSV/TSV/JSONL of (path, tags) rows; files without a row use their sidecars.
        batch_size: sketches per forward pass.
        overwrite: replace existing outputs; otherwise those files are skipped.
        side_by_side: also write ``name.side.png``, the sketch and the result side by side.
        allow_inside_input: allow ``out`` inside an input folder (inputs are never replaced).
        max_pixels: refuse images with more pixels than this (decompression bombs).
        workers: threads that decode and write images; default min(4, cores).
        progress: show a progress bar on stderr.
        finish: ``soft`` (the model's colour scaled up) or ``flat`` (one colour per region
            of the sketch); see :mod:`colorize.finish`.
        gap: stroke gaps up to twice this many pixels are closed when finding regions;
            None scales with the picture.
        layers: also write ``name.ora`` (soft colour, flats, lines) and ``name.regions.png``.

    Raises ``FileNotFoundError`` / ``ValueError`` / :class:`TagFileError` for problems
    with the whole run (no inputs, output inside the input, an unreadable tags file);
    problems with single files are recorded in the report and the run goes on.
    """
    assert batch_size >= 1, batch_size
    if finish not in FINISHES:
        raise ValueError(f"unknown finish {finish!r}; choose from {', '.join(FINISHES)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out} is a file; the output is a folder. Choose a folder path.")
    resolver = TagResolver(tags, Path(tags_file) if tags_file is not None else None)
    sources = find_sources(inputs, skip=out)
    if not sources:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, inputs))}.")
    if not allow_inside_input:
        check_output_folder(inputs, sources, out)
    report = RunReport()
    jobs = _plan(sources, out, resolver, overwrite, side_by_side, report, layers)
    report.unmatched_rows = resolver.unmatched()
    if report.unmatched_rows:
        shown = ", ".join(report.unmatched_rows[:5]) + (", ..." if len(report.unmatched_rows) > 5 else "")
        log.warning("%d row(s) of %s matched no input file: %s. A key is a path under the input folder, "
                    "relative to the tags file, absolute, or a bare file name.",
                    len(report.unmatched_rows), tags_file, shown)
    report.unknown_tags = sorted({t for job in jobs for t in colorizer.unknown_tags(job.tags)})
    if report.unknown_tags:
        _embed_all(colorizer, report.unknown_tags)
    _run(colorizer, jobs, report, batch_size, max_pixels, workers or min(4, os.cpu_count() or 1), progress,
         finish, gap)
    return report


def _embed_all(colorizer: Colorizer, tags: list[str]) -> None:
    """Embed every unknown tag once, up front: one encoder load, and no run half done when it fails."""
    try:
        colorizer.embed([tags])
    except (RuntimeError, KeyError, ValueError) as e:
        reason = e.args[0] if e.args else str(e)
        raise ValueError(f"tag(s) outside the model's vocabulary ({', '.join(tags)}) need its tag encoder, "
                         f"which failed: {reason}") from None


def _run(colorizer: Colorizer, jobs: list[_Job], report: RunReport, batch_size: int, max_pixels: int,
         workers: int, progress: bool, finish: str = "soft", gap: int | None = None) -> None:
    """Decode ahead, colour batch by batch on the main thread, write behind; fill in the records."""
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    bar = tqdm(total=len(jobs), desc="colour", unit="img", disable=not progress, file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="colorize-io")
    reads: deque[list[Future]] = deque()
    writes: deque[tuple[_Job, Future]] = deque()

    def prefetch(b: int) -> None:
        if b < len(batches):
            reads.append([pool.submit(_read, job, colorizer.size, max_pixels) for job in batches[b]])

    def finish_writes(keep: int) -> None:
        # oldest first, so records and the bar move in input order; `keep` bounds images held in memory
        while writes and (len(writes) > keep or writes[0][1].done()):
            job, future = writes.popleft()
            record = report.records[job.index]
            try:
                future.result()
            except OSError as e:
                _fail(record, f"cannot write {job.output} ({e.strerror or e}). Check that the output folder "
                              f"is writable and has free space.")
            except ValueError as e:  # finishing refused this picture (e.g. too many regions for the region map)
                _fail(record, f"cannot finish it: {e}.")
            else:
                record.status = "coloured"
                log.info("%s -> %s  %s", record.source, record.output,
                         f"tags: {', '.join(record.tags)} ({record.tags_from})" if record.tags else "no tags")
            bar.update()

    try:
        for b in range(PREFETCH):
            prefetch(b)
        for b, batch in enumerate(batches):
            futures = reads.popleft()
            prefetch(b + PREFETCH)
            ready = []
            for job, future in zip(batch, futures, strict=True):
                try:
                    ready.append((job, *future.result()))
                except (ImageError, OSError) as e:
                    _fail(report.records[job.index], _read_problem(e))
                    bar.update()
            if ready:
                squares, tag_sets = [square for _, _, square, _ in ready], [job.tags for job, *_ in ready]
                colours = colorizer.colour_squares(squares, tag_sets, compose=False)  # lines go over at full size
                for (job, rgb, _, box), colour in zip(ready, colours, strict=True):
                    writes.append((job, pool.submit(_write, job, colour, rgb, box, finish, gap)))
            finish_writes(keep=PREFETCH * batch_size)
        finish_writes(keep=0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # writes are atomic: a stop leaves whole files only
        bar.close()
