"""Per-file work in worker processes that no single file can take down.

Every dataset builder renders or decodes files it did not write (SVGs, images). A native
renderer can crash (resvg segfaults on deeply nested drawings, and panics on absurd
numbers) or run for minutes (huge filter radii). Here each file runs in a worker of a
pebble pool: a worker that crashes or runs past ``time_limit`` seconds is killed and
replaced, and that file's outcome is a :class:`Failure` naming what happened, while the
rest go on. Nothing runs in the calling process, even with one worker.

    for job, outcome in isolated(render_one, jobs, workers=2, time_limit=60):
        row = outcome if not isinstance(outcome, Failure) else {"error": outcome.reason}
    rows = list(built_rows(render_one, jobs, 2, 60, failed=report.failed, desc="emoji"))
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

from pebble import ProcessExpired, ProcessPool
from tqdm import tqdm

from colorize.folders import shown

__all__ = ["Failure", "TIME_LIMIT", "WINDOW", "built_rows", "isolated"]

# Seconds one file may take before its worker is killed. Measured: OpenMoji's slowest SVG takes
# 0.16 s at --size 256 and 13 s at --size 4096; a 19,000-path clip-art file 13 s at 256.
TIME_LIMIT = 60.0
WINDOW = 256  # files in flight at once: bounded memory whatever the collection size

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class Failure:
    """Why a file's worker gave no result: ``reason`` completes "NAME: ..."; ``advice`` may be empty."""

    reason: str
    advice: str = ""

    def __str__(self) -> str:
        return self.reason + (f". {self.advice}" if self.advice else "")


def _quiet_worker() -> None:
    # A crash is reported as one line naming the file; the faulthandler that a parent (pytest,
    # python -X faulthandler) enabled would add a page of traceback per crash to the log.
    faulthandler.disable()


def isolated(work: Callable[[J], R], jobs: Iterable[J], workers: int,
             time_limit: float | None = TIME_LIMIT) -> Iterator[tuple[J, R | Failure]]:
    """``(job, work(job))`` for each job, in order, each run in a worker process; a
    :class:`Failure` in place of the result where the worker crashed, ran past
    ``time_limit`` seconds (None: no limit) or raised."""
    pool = ProcessPool(max_workers=workers, initializer=_quiet_worker)
    try:
        window: deque = deque()
        for job in jobs:
            window.append((job, pool.schedule(work, args=(job,), timeout=time_limit)))
            if len(window) >= WINDOW:
                yield _outcome(*window.popleft(), time_limit)
        while window:
            yield _outcome(*window.popleft(), time_limit)
    except BaseException:
        pool.stop()  # Ctrl-C or a failed write: no file waits to be done
        raise
    finally:
        pool.close()
        pool.join()


def built_rows(work: Callable[[tuple], dict], jobs: list[tuple], workers: int, time_limit: float | None,
               failed: list[tuple[str, str]], desc: str, progress: bool = True) -> Iterator[dict]:
    """The rows a builder's workers make, in order, under a progress bar.

    Each job's first item is its source file; ``work`` returns a row, or ``{"file", "error"}``
    for a file it refused. Refused, crashed and stopped files are appended to ``failed`` as
    ``(file, error)``, each with one line on stderr, and yield nothing.
    """
    bar = tqdm(total=len(jobs), desc=desc, unit="file", disable=not progress, file=sys.stderr)
    for job, row in isolated(work, jobs, workers, time_limit):
        bar.update()
        if isinstance(row, Failure):
            row = {"file": job[0], "error": str(row)}
        if "error" in row:
            failed.append((row["file"], row["error"]))
            tqdm.write(f"{shown(row['file'])}: {row['error']}; skipped, the build goes on", file=sys.stderr)
            continue
        yield row
    bar.close()


def _outcome(job, future, time_limit: float | None) -> tuple:
    try:
        return job, future.result()
    except FutureTimeout:
        return job, Failure(f"took over {time_limit:g} s (--timeout), so it was stopped",
                            "Raise --timeout if files this slow are wanted")
    except ProcessExpired as e:
        code = e.exitcode
        how = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit {code}"
        return job, Failure(f"its worker crashed ({how}) while reading or rendering it")
    except RecursionError:
        return job, Failure("nested too deeply to read")
    except Exception as e:  # a bug the file exposed: named with the file, and the batch goes on
        return job, Failure(f"failed unexpectedly ({type(e).__name__}: {e})")
