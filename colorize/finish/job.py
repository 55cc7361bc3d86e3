"""One picture's last step in a run: finish it at its own size and write its files, all or none.

``colorize run`` hands this to its workers: threads, or, for a folder of flat finishes,
worker processes (:func:`worker_pool`). The flat finish's region step is NumPy that holds
the GIL between its many small calls, so writer threads queue behind one another; processes
finish pictures side by side while the model colours the next batch. This module loads no
torch, so a worker process starts in about half a second.

    note, snapped = finish_and_write({"png": Path("out/a.png")}, colour, rgb, box, FinishOptions())
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from colorize.fileio import atomic_write_together
from colorize.finish import FinishOptions, finish_layers, snap_summary
from colorize.finish.writers import WRITERS

__all__ = ["PROCESSES_FROM", "discard_pool", "finish_and_write", "worker_pool"]

PROCESSES_FROM = 64  # pictures to flat-finish from which a run starts worker processes (their start-up pays off)


def finish_and_write(files: dict[str, Path], colour: np.ndarray, rgb: np.ndarray, box: tuple[int, int, int, int],
                     options: FinishOptions) -> tuple[str | None, str | None]:
    """Finish one picture (``colour``: the model's square; ``rgb``: the sketch) and write
    ``files`` (a :data:`WRITERS` name -> its path), all or none: every format is encoded
    before any is written, so a picture that one format refuses leaves nothing behind and a
    re-run tries it again. Returns a note when the finish had to fall back (flat to soft),
    and what the palette did (or None)."""
    regions = any(WRITERS[name].regions for name in files)
    finished = finish_layers(colour, rgb, box, how=options.how, gap=options.gap, regions=regions,
                             palette=options.palette, max_de=options.max_de)
    atomic_write_together({path: WRITERS[name].encode(finished) for name, path in files.items()})
    return finished.note, snap_summary(finished)


def _start_worker() -> None:
    cv2.setNumThreads(1)  # one picture per process: the processes are the parallelism


def _ready() -> None:
    """A task that only makes a worker start."""


_pool: ProcessPoolExecutor | None = None


def worker_pool(pictures: int, flat: bool) -> ProcessPoolExecutor | None:
    """Worker processes for a run that finishes ``pictures`` (``flat``: any of them flat or
    with regions), one per core; None where threads do as well: a soft finish (a resize, no
    region step), fewer than :data:`PROCESSES_FROM` pictures, or a single core.

    The workers are spawned, not forked (a fork of a process running torch's thread pool can
    hang), all of them at once, so they start (about half a second each) while the first
    batches are read and coloured. The pool is kept for the next run in this process (a
    notebook, a benchmark's rounds); :func:`discard_pool` drops it."""
    global _pool
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not flat or pictures < PROCESSES_FROM or cores < 2:
        return None
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=cores, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_start_worker)
        for _ in range(cores):
            _pool.submit(_ready)
    return _pool


def discard_pool() -> None:
    """Drop the kept worker pool (after a worker died, it takes no more work); the next run that
    needs one starts a new pool."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
