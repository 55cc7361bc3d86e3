"""Colour a set of sketch files into an output tree: the library behind ``colorize run``.

The run plans and runs; the parts it uses each live in their own module:

* **Inputs** (:mod:`colorize.infer.inputs`): files, folders and glob patterns, each file
  taken once, and the check that the output folder is not among them.
* **Where results go** (here, :func:`_plan`). The output tree mirrors the input tree: a
  file found in folder INPUT goes to ``OUT/<its path under INPUT>.png``, a glob match to
  ``OUT/<its path under the pattern's fixed folder>.png``, a loose file to
  ``OUT/<name>.png``; each extra format (``--side-by-side``, ``--layers``) adds a file
  beside it with its own suffix (:data:`colorize.finish.writers.WRITERS`). Two inputs
  that would share an output, an output that would replace an input, and an existing
  output (without ``overwrite``) are reported and never written over.
* **Which tags each sketch gets** (:mod:`colorize.infer.tagging`).
* **The batched pipeline** (here, :func:`_run`). A thread pool decodes and pads the next
  batches and finishes and writes the files while the model colours the current batch.
  Each step is the one :meth:`Colorizer.colorize` runs (``load``, ``fit_square``,
  ``colour_squares``, ``finish``), so a file coloured here is what the Python API gives
  it, to float rounding (see :meth:`Colorizer.predict`). A consistent run
  (:func:`_consistent`) goes through it twice: first the model, with the threads finding
  each page's regions beside it (their flat colours make the palette); then, once the
  palettes are built, the threads paint the regions kept from the first pass and write.

Every file ends as one :class:`Record` (coloured, skipped or failed, with a message that
names the file, the problem and the fix); problems are logged on the ``colorize`` logger
as they happen.

    report = colour_files(Colorizer.from_pretrained(), ["sketches/"], Path("out"), tags="red hair")
"""

from __future__ import annotations

import logging
import os
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from colorize.fileio import OutsideFolder, atomic_write_together, inside, resolved
from colorize.folders import shown
from colorize.data.images import IMAGE_SUFFIXES, MAX_PIXELS, ImageError, fit_square
from colorize.data.tagfiles import TagFileError
from colorize.finish import (DEFAULT_FINISH, FinishOptions, FlatRegions, finish_layers, flat_regions, snap_many,
                             snap_summary, upscale)
from colorize.finish.writers import LAYERED, WRITERS
from colorize.infer.colorizer import Colorizer
from colorize.infer.consistent import CONSISTENT_MAX_DE, page_colours, palette_paths, run_palette
from colorize.infer.inputs import Source, check_output_folder, find_sources
from colorize.infer.tagging import TagResolver
from colorize.palette import DEFAULT_MAX_DE, Palette, PaletteError, read_palette, write_palette

__all__ = ["Record", "RunReport", "Source", "TagResolver", "colour_files", "find_sources", "output_formats"]

log = logging.getLogger("colorize")

PREFETCH = 2  # batches decoded ahead of the model
# a consistent run holds the pages its first pass decoded, and their regions, until the second
# paints them: at most this many bytes (256 MiB: 560 pages of 256 px; 2 scans of 4096 px). The
# pages past it are read again in the second pass, and their regions kept packed (below) or,
# past that too, found again
HELD_BYTES = 256 << 20
# ... and past it, the region ids alone, compressed (zlib: 64 MB of ids at 4096 px became 400 KB
# in 0.11 s, and came back in 0.08 s, against 1.05 s to find them again), up to about this many
# bytes: a page is packed while the pages already packed hold less, so the pages still being
# found when the limit is crossed (two batches at most) go past it
PACKED_BYTES = 256 << 20


def output_formats(side_by_side: bool = False, layers: bool | str | Sequence[str] = (),
                   per_colour: bool = False) -> tuple[str, ...]:
    """The files each picture gets (names in :data:`WRITERS`): always ``png``; ``side`` for
    the sheet; for ``layers`` (True = ``ora``, or ``ora`` / ``psd`` / both) those layered
    files, with one flats layer per colour when ``per_colour``, and the region-id map."""
    if layers is True:
        layers = ("ora",)
    elif not layers:
        layers = ()
    elif isinstance(layers, str):
        layers = tuple(layers.replace(",", " ").split())
    unknown = [f for f in layers if f not in LAYERED]
    if unknown:
        raise ValueError(f"unknown layered format {unknown[0]!r}; choose from {', '.join(LAYERED)}")
    if per_colour and not layers:
        raise ValueError("one layer per colour is a kind of layered file: ask for layers (--layers) too")
    layered = tuple(f"{f}-colours" if per_colour else f for f in layers)
    return ("png",) + (("side",) if side_by_side else ()) + layered + (("regions",) if layers else ())


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


# -- the run ------------------------------------------------------------------------------


@dataclass
class _Job:
    index: int  # into RunReport.records
    source: Source
    files: dict[str, Path]  # format (a WRITERS name) -> where it goes; "png" is the result
    tags: list[str]

    @property
    def output(self) -> Path:
        return self.files["png"]


def _outputs(source: Source, out: Path, formats: Sequence[str]) -> dict[str, Path]:
    """Where each of a source's files goes: its path under its input, mirrored under ``out``.
    Raises :class:`OutsideFolder` for a path that would resolve outside ``out``."""
    rel = Path(*source.rel.parts)
    rel = rel.with_name(rel.stem + ".png") if rel.suffix else Path(str(rel) + ".png")
    return {name: inside(out, rel.with_name(rel.stem + WRITERS[name].suffix)) for name in formats}


def _plan(sources: Sequence[Source], out: Path, resolver: TagResolver, overwrite: bool,
          formats: Sequence[str], report: RunReport) -> list[_Job]:
    """One record per source; jobs for those that can be coloured, the rest failed or skipped here."""
    inputs = {resolved(s.path) for s in sources}
    claimed: dict[Path, str] = {}
    jobs = []
    for source in sources:
        record = _record(report, source.path)
        try:
            files = _outputs(source, out, formats)
        except OutsideFolder as e:
            _fail(record, f"{e}, and colorize run writes only inside -o. A symlink under -o leads out: "
                          f"remove it, or choose another -o.")
            continue
        record.output = shown(files["png"])
        targets = list(files.values())
        clash = next((t for t in targets if resolved(t) in claimed), None)
        replaces = next((t for t in targets if resolved(t) in inputs), None)
        for target in targets:
            claimed.setdefault(resolved(target), record.source)
        if replaces is not None:
            _fail(record, f"its output {shown(replaces)} would replace an input sketch. Choose another -o.")
            continue
        if clash is not None:
            _fail(record, f"its output {shown(clash)} is also the output of {claimed[resolved(clash)]}, and one would "
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
            record.message = f"{shown(existing[0])} exists; pass --overwrite to replace it."
            log.info("%s: skipped, %s", record.source, record.message)
            continue
        jobs.append(_Job(len(report.records) - 1, source, files, record.tags))
    return jobs


def _record(report: RunReport, path: Path) -> Record:
    """A new record for ``path``, added to the report; its name is printable on one line."""
    report.records.append(Record(source=shown(path)))
    return report.records[-1]


def _fail(record: Record, message: str) -> None:
    record.status = "failed"
    record.message = message
    log.warning("%s: %s", record.source, message)


def _needs_regions(files: Iterable[str]) -> bool:
    """Whether any of these formats (a job's files, by format name) holds the flats' regions
    (layered files, the region map), which the soft finish then finds too."""
    return any(WRITERS[name].regions for name in files)


# a decoded sketch, its model square (None when held for a pass that does not run the model) and box
_Page = tuple[np.ndarray, np.ndarray | None, tuple[int, int, int, int]]


@dataclass
class _Held:
    """What a consistent run's first pass keeps for its second, by job index."""

    pages: dict[int, _Page] = field(default_factory=dict)               # decoded (:func:`_read`)
    regions: dict[int, FlatRegions | _Packed] = field(default_factory=dict)  # found (:func:`_find`)


@dataclass
class _Packed:
    """A page's regions with their ids compressed, for pages past :data:`HELD_BYTES`."""

    regions: FlatRegions      # without its ids (an empty array)
    ids: bytes                # the region ids, int32, zlib level 1
    shape: tuple[int, int]

    @classmethod
    def of(cls, found: FlatRegions) -> _Packed:
        ids = np.ascontiguousarray(found.labels, np.int32)  # what unpack reads back
        return cls(replace(found, labels=np.zeros((0, 0), np.int32)), zlib.compress(ids.tobytes(), 1), ids.shape)

    def unpack(self) -> FlatRegions:
        ids = np.frombuffer(bytearray(zlib.decompress(self.ids)), np.int32).reshape(self.shape)  # writable
        return replace(self.regions, labels=ids)


def _held_size(rgb: np.ndarray) -> int:
    """The bytes a consistent run holds for a page between its passes: the decoded page and
    its region ids (int32)."""
    return rgb.nbytes + rgb.shape[0] * rgb.shape[1] * 4


def _done(value: object) -> Future:
    """A future that already has its result."""
    future: Future = Future()
    future.set_result(value)
    return future


def _read(job: _Job, size: int, max_pixels: int) -> _Page:
    """Worker thread: decode one sketch and fit it into the model's square, as ``Colorizer.colorize`` does."""
    rgb = Colorizer.load(job.source.path, max_pixels=max_pixels)
    square, box = fit_square(rgb, size)
    return rgb, square, box


def _write(job: _Job, colour: np.ndarray, rgb: np.ndarray, box: tuple[int, int, int, int],
           options: FinishOptions, found: FlatRegions | _Packed | None = None) -> tuple[str | None, str | None]:
    """Worker thread: finish at full size (lines laid over) and write the job's files, all or
    none: every format is encoded before any is written, so a picture that one format
    refuses leaves nothing behind and a re-run tries it again. ``found``: the picture's
    regions, when a first pass found them. Returns a note when the finish had to fall back
    (flat to soft), and what the palette did (or None)."""
    found = found.unpack() if isinstance(found, _Packed) else found
    regions = _needs_regions(job.files)
    finished = finish_layers(colour, rgb, box, how=options.how, gap=options.gap, regions=regions,
                             palette=options.palette, max_de=options.max_de, found=found)
    atomic_write_together({path: WRITERS[name].encode(finished) for name, path in job.files.items()})
    return finished.note, snap_summary(finished)


def _find(colour: np.ndarray, rgb: np.ndarray, box: tuple[int, int, int, int], gap: int | None, keep: str | None
          ) -> tuple[tuple[np.ndarray, np.ndarray], FlatRegions | _Packed | None]:
    """Worker thread, a consistent run's first pass: a page's regions, which no palette
    changes, and the colours they add to its tag set's palette (:func:`page_colours`); the
    regions themselves, for the second pass to paint, when ``keep`` is ``"raw"``, or
    compressed when it is ``"packed"`` (None: not kept). A page whose regions
    cannot be found here (out of memory, or anything else) adds no colours and stops
    nothing: the second pass finishes it as a run without ``--consistent`` would, and
    reports what goes wrong there."""
    try:
        found = flat_regions(upscale(colour, rgb, box), rgb, colour.shape, gap)
    except Exception as e:  # noqa: BLE001 - one page never stops the run; the second pass reports it
        log.debug("regions of a page not found in the first pass: %r", e)
        return (np.zeros((0, 3), np.uint8), np.zeros(0)), None
    return page_colours(found), found if keep == "raw" else _Packed.of(found) if keep == "packed" else None


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
    finish: str = DEFAULT_FINISH,
    gap: int | None = None,
    layers: bool | str | Sequence[str] = (),
    layer_per_colour: bool = False,
    palette: Palette | None = None,
    palette_max_de: float = DEFAULT_MAX_DE,
    consistent: bool = False,
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
        workers: threads that decode and write images; default min(4, cores). While they
            finish flat pictures beside the model on the CPU (a run of several batches),
            torch runs on half the cores; ``torch.set_num_threads`` is process-wide, and is
            restored when the run ends.
        progress: show a progress bar on stderr.
        finish: ``soft`` (the model's colour scaled up) or ``flat`` (one colour per region
            of the sketch); see :mod:`colorize.finish`.
        gap: stroke gaps up to twice this many pixels are closed when finding regions;
            None scales with the picture.
        layers: also write layered files (soft colour, flats, lines): True or ``"ora"`` for
            ``name.ora``, ``"psd"`` for ``name.psd``, or both; and ``name.regions.png``.
        layer_per_colour: the layered files hold the flats as one layer per colour.
        palette: each flat region takes its nearest colour in this palette when that is
            within ``palette_max_de`` CIEDE2000 (see :mod:`colorize.palette`).
        consistent: one palette per tag set for the whole run, so a tag set gives the same
            colours on every page (see :mod:`colorize.infer.consistent`): the model colours
            every page first, the palette is built from those colourings (starting from
            ``palette``) or read back from an earlier run's ``palette.gpl`` in ``out``,
            and written there; then the pages are finished with it.

    Raises ``FileNotFoundError`` / ``ValueError`` / :class:`TagFileError` for problems
    with the whole run (no inputs, output inside the input, an unreadable tags file);
    problems with single files are recorded in the report and the run goes on.
    """
    assert batch_size >= 1, batch_size
    options = FinishOptions(finish, gap, palette, palette_max_de)
    formats = output_formats(side_by_side, layers, layer_per_colour)
    if consistent and finish != "flat" and not _needs_regions(formats):
        raise ValueError("consistent gives flat regions one palette, and the soft finish has none: "
                         "finish flat, or ask for layered files (their flats take the palette)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out} is a file; the output is a folder. Choose a folder path.")
    resolver = TagResolver(tags, Path(tags_file) if tags_file is not None else None)
    found = find_sources(inputs, skip=out)
    if not found.sources:
        unread = "".join(f" {shown(folder)}: {message}." for folder, message in found.problems)
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in "
                                f"{', '.join(shown(i) for i in inputs)}.{unread}")
    if not allow_inside_input:
        check_output_folder(inputs, found.sources, out)
    report = RunReport()
    for folder, message in found.notes:
        log.warning("%s: %s.", shown(folder), message)
    for folder, message in found.problems:  # a folder not searched fails like a file: the run did not do it all
        _fail(_record(report, folder), f"{message}.")
    jobs = _plan(found.sources, out, resolver, overwrite, formats, report)
    report.unmatched_rows = resolver.unmatched()
    if report.unmatched_rows:
        rows = ", ".join(report.unmatched_rows[:5]) + (", ..." if len(report.unmatched_rows) > 5 else "")
        log.warning("%d row(s) of %s matched no input file: %s. A key is a path under the input folder, "
                    "relative to the tags file, absolute, or a bare file name.",
                    len(report.unmatched_rows), tags_file, rows)
    report.unknown_tags = sorted({t for job in jobs for t in colorizer.unknown_tags(job.tags)})
    if report.unknown_tags:
        _embed_all(colorizer, report.unknown_tags)
    workers = workers or min(4, os.cpu_count() or 1)
    if consistent and jobs:
        first, held, palettes = _consistent(colorizer, jobs, report, out, options, overwrite, batch_size,
                                            max_pixels, workers, progress)
        jobs = [job for job in jobs if job.index in first]
        _write_all(colorizer, jobs, report, batch_size, max_pixels, workers, progress,
                   lambda job: palettes[tuple(job.tags)], first, held)
    else:
        _write_all(colorizer, jobs, report, batch_size, max_pixels, workers, progress, lambda job: options)
    return report


def _consistent(colorizer: Colorizer, jobs: list[_Job], report: RunReport, out: Path, options: FinishOptions,
                overwrite: bool, batch_size: int, max_pixels: int, workers: int, progress: bool,
                ) -> tuple[dict[int, np.ndarray], _Held, dict[tuple[str, ...], FinishOptions]]:
    """The first pass of a consistent run: colour every page, in the order of their outputs
    (so batches, and so colours, do not depend on the order the inputs came in), and build,
    read or write each tag set's palette. While the model colours the next batch, the
    worker threads find each page's regions, which no palette changes; their flat colours
    make the palette. The regions and the decoded pages are kept, so the second pass only
    paints and writes (up to :data:`HELD_BYTES`; past that the pages are read again in the
    second pass and only their regions are kept, compressed, up to :data:`PACKED_BYTES`;
    past both, the second pass finds their regions again).

    Returns the colourings by job index (pages that failed to decode are failed here and
    left out), the pages and regions held, and each tag set's finishing: a palette this run
    built from its own pages is taken by every region (``CONSISTENT_MAX_DE``); one given
    with ``--palette`` or left by an earlier run, within ``--palette-max-de``; a tag set
    with a single page and no such palette keeps its own colours."""
    first: dict[int, np.ndarray] = {}
    pages: dict[int, _Page] = {}
    found: dict[int, FlatRegions | _Packed] = {}
    colours: dict[tuple[str, ...], list[tuple[np.ndarray, np.ndarray]]] = {}  # each page's page_colours
    ordered = sorted(jobs, key=lambda job: str(job.output))
    held = packed = 0  # bytes held, and packed

    def work(job: _Job, colour: np.ndarray, rgb: np.ndarray, square: np.ndarray, box: tuple[int, int, int, int]
             ) -> Callable[[], tuple[tuple[np.ndarray, np.ndarray], FlatRegions | _Packed | None]]:
        nonlocal held
        first[job.index] = colour
        keep = None
        if held + _held_size(rgb) <= HELD_BYTES:
            held += _held_size(rgb)
            pages[job.index] = (rgb, None, box)  # the second pass does not run the model: no square
            keep = "raw"
        elif packed < PACKED_BYTES:  # the page is read again in the second pass; its regions need not be
            keep = "packed"
        return partial(_find, colour, rgb, box, options.gap, keep)

    def done(job: _Job, future: Future) -> None:
        nonlocal held, packed
        added, regions = future.result()
        if len(added[0]):
            colours.setdefault(tuple(job.tags), []).append(added)
        if regions is not None:
            found[job.index] = regions
            packed += len(regions.ids) if isinstance(regions, _Packed) else 0
        elif job.index in pages:  # not found: the second pass reads the page again
            held -= _held_size(pages.pop(job.index)[0])

    _run(colorizer, ordered, report, batch_size, max_pixels, workers, progress, work, done, heavy=True,
         desc="palette")
    finishing: dict[tuple[str, ...], FinishOptions] = {}
    for tags, path in palette_paths([tuple(job.tags) for job in jobs], out).items():
        palette, read_back = _tag_set_palette(tags, inside(out, path.name), colours.get(tags, []), options, overwrite)
        if read_back or options.palette is not None:
            finishing[tags] = replace(options, palette=palette)
        elif len(colours.get(tags, [])) > 1:
            finishing[tags] = replace(options, palette=palette, max_de=CONSISTENT_MAX_DE)
        else:
            finishing[tags] = options
    return first, _Held(pages, found), finishing


def _tag_set_palette(tags: tuple[str, ...], path: Path, pages: list[tuple[np.ndarray, np.ndarray]],
                     options: FinishOptions, overwrite: bool) -> tuple[Palette | None, bool]:
    """One tag set's palette, and whether it was read back: from ``path`` when an earlier run
    left it there (and ``overwrite`` is not set), else built from this run's colourings and
    written there."""
    shown_tags = ", ".join(tags) or "no tags"
    if path.exists() and not overwrite:
        try:
            palette = read_palette(path)
        except PaletteError as e:
            raise ValueError(f"{e}. It is the palette an earlier --consistent run left for {shown_tags}: "
                             f"fix it, or pass --overwrite to build a new one") from None
        log.warning("%s: the palette of an earlier run, used for %s (--overwrite builds a new one).",
                    shown(path), shown_tags)
        return palette, True
    palette = run_palette(pages, base=options.palette, name=shown_tags, max_de=options.max_de)
    if not palette.swatches:
        log.warning("%s: no palette for %s: the model painted nothing but white paper.", shown(path), shown_tags)
        return options.palette, False
    write_palette(palette, path, overwrite=True)
    log.info("%s: %d colours for %s", shown(path), len(palette), shown_tags)
    return palette, False


def _embed_all(colorizer: Colorizer, tags: list[str]) -> None:
    """Embed every unknown tag once, up front: one encoder load, and no run half done when it fails."""
    try:
        colorizer.embed([tags])
    except (RuntimeError, KeyError, ValueError) as e:
        reason = e.args[0] if e.args else str(e)
        raise ValueError(f"tag(s) outside the model's vocabulary ({', '.join(tags)}) need its tag encoder, "
                         f"which failed: {reason}") from None


def _write_all(colorizer: Colorizer, jobs: list[_Job], report: RunReport, batch_size: int, max_pixels: int,
               workers: int, progress: bool, options: Callable[[_Job], FinishOptions],
               coloured: dict[int, np.ndarray] | None = None, held: _Held | None = None) -> None:
    """Colour, finish and write every job (:func:`_run`); fill in the records.

    ``options`` gives each job's finishing; ``coloured``: the model's colourings by job
    index, already made (a consistent run's first pass), so the model is not run again;
    ``held``: the pages that pass decoded and the regions it found (taken, so each is let go
    once written)."""
    held = _Held() if held is None else held
    # the held regions of each palette's pages, snapped in one go (not page by page in the threads)
    by_palette: dict[int, tuple[FinishOptions, list[int]]] = {}
    for job in jobs:
        if job.index in held.regions and options(job).palette is not None:
            by_palette.setdefault(id(options(job).palette), (options(job), []))[1].append(job.index)
    for how, indices in by_palette.values():
        kept = [held.regions[i] for i in indices]
        snapped = snap_many([r.regions if isinstance(r, _Packed) else r for r in kept], how.palette, how.max_de)
        held.regions.update((i, replace(r, regions=s) if isinstance(r, _Packed) else s)
                            for i, r, s in zip(indices, kept, snapped, strict=True))

    def work(job: _Job, colour: np.ndarray, rgb: np.ndarray, square: np.ndarray, box: tuple[int, int, int, int]
             ) -> Callable[[], tuple[str | None, str | None]]:
        return partial(_write, job, colour, rgb, box, options(job), held.regions.pop(job.index, None))

    def done(job: _Job, future: Future) -> None:
        record = report.records[job.index]
        try:
            note, snapped = future.result()
        except OSError as e:
            _fail(record, f"cannot write {record.output} ({e.strerror or e}). Check that the output folder "
                          f"is writable and has free space.")
        except ImageError as e:  # a result no PNG can hold
            _fail(record, f"cannot write its result: {e}. {e.advice}")
        except ValueError as e:  # finishing refused this picture (e.g. too many regions for the region map)
            _fail(record, f"cannot finish it: {e}.")
        except MemoryError:
            _fail(record, "not enough memory to finish it at its size. Scale it down, or colour it alone "
                          "(fewer --workers).")
        else:
            record.status = "coloured"
            if note:
                record.message = f"{note}."
                log.warning("%s: %s", record.source, record.message)
            log.info("%s -> %s  %s%s", record.source, record.output,
                     f"tags: {', '.join(record.tags)} ({record.tags_from})" if record.tags else "no tags",
                     f"; {snapped}" if snapped else "")

    heavy = any(options(job).how == "flat" or _needs_regions(job.files) for job in jobs)
    _run(colorizer, jobs, report, batch_size, max_pixels, workers, progress, work, done, heavy, coloured,
         decoded=held.pages)


def _run(colorizer: Colorizer, jobs: list[_Job], report: RunReport, batch_size: int, max_pixels: int,
         workers: int, progress: bool, work: Callable[..., Callable[[], object]], done: Callable[[_Job, Future], None],
         heavy: bool, coloured: dict[int, np.ndarray] | None = None, desc: str = "colour",
         decoded: dict[int, _Page] | None = None) -> None:
    """Decode ahead, colour batch by batch on the main thread, finish behind.

    For each page decoded and coloured, ``work(job, colour, rgb, square, box)`` (main
    thread) gives what a worker thread then runs; ``done(job, future)`` (main thread) takes
    its result, page by page in the jobs' order. A page that fails to decode is failed here.
    ``heavy``: the workers' part is a flat finish (CPU-bound beside the model).
    ``coloured``: the model's colourings by job index, already made, so the model is not run;
    ``decoded``: pages already decoded (:func:`_read`), by job index (taken), so they are not read again."""
    decoded = {} if decoded is None else decoded
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    # the writer threads finish flat pictures beside the model, on the same cores, and torch's
    # own threads would spin waiting for them: measured on 2 cores, 200 sketches at 256 px,
    # 62 img/s with 2 torch threads, 88 with 1 (worker processes instead of writer threads
    # gave 95, but their start cost more than that on 200 sketches). Half the cores is a guess
    # for bigger machines. The setting is torch's, for the whole process, until the run ends.
    threads = torch.get_num_threads()
    share = heavy and coloured is None and len(batches) > 1 and colorizer.device.type == "cpu"
    bar = tqdm(total=len(jobs), desc=desc, unit="img", disable=not progress, file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="colorize-io")
    reads: deque[list[Future]] = deque()
    pending: deque[tuple[_Job, Future]] = deque()

    def prefetch(b: int) -> None:
        if b < len(batches):
            reads.append([_done(decoded.pop(job.index)) if job.index in decoded
                          else pool.submit(_read, job, colorizer.size, max_pixels) for job in batches[b]])

    def finish_pending(keep: int) -> None:
        # oldest first, so records and the bar move in input order; `keep` bounds images held in memory
        while pending and (len(pending) > keep or pending[0][1].done()):
            job, future = pending.popleft()
            done(job, future)
            bar.update()

    try:
        if share:
            torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) // 2)))
        for b in range(PREFETCH):
            prefetch(b)
        for b, batch in enumerate(batches):
            futures = reads.popleft()
            prefetch(b + PREFETCH)
            ready = []
            for job, future in zip(batch, futures, strict=True):
                try:
                    ready.append((job, *future.result()))
                except ImageError as e:
                    _fail(report.records[job.index], f"{e}. {e.advice}")
                    bar.update()
            if ready:
                squares, tag_sets = [square for _, _, square, _ in ready], [job.tags for job, *_ in ready]
                if coloured is None:
                    colours = colorizer.colour_squares(squares, tag_sets, compose=False)  # lines go over at full size
                else:
                    colours = [coloured[job.index] for job, *_ in ready]
                for (job, rgb, square, box), colour in zip(ready, colours, strict=True):
                    pending.append((job, pool.submit(work(job, colour, rgb, square, box))))
            finish_pending(keep=PREFETCH * batch_size)
        finish_pending(keep=0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # writes are atomic: a stop leaves whole files only
        torch.set_num_threads(threads)
        bar.close()
