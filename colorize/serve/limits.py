"""What one request to ``colorize serve`` may cost, and how many heavy ones run at once.

The network works at its own size (64 px for the shipped model), but finishing runs at
the sketch's: a flat finish of line art costs about 40 bytes of memory per pixel and a
second per 4 megapixels on one core (random noise, a region every few pixels, costs
several times more), a tag swap finishes the sketch once per value of its tag (12
for "… heart"), and a layered file holds three layers at full size. So:

* :data:`MAX_UPLOAD_BYTES` and :data:`MAX_PIXELS` bound one upload. The pixel count is read
  from the image's header (:func:`check_pixels`) and refused with a 413 before anything
  is decoded.
* :data:`SWAP_PIXELS`: a tag swap colours a preview of the sketch scaled down to this many
  pixels (the page shows the swap row as thumbnails).
* :class:`Gate`: at most :data:`JOBS` heavy requests decode and colour at once and
  :data:`QUEUE` more wait their turn, first come first served; the next one is refused at
  once with a 503 and a Retry-After header. A request takes its place only once its
  upload has fully arrived, so a client that sends slowly holds no place that a fast one
  needs; uploads still arriving are counted apart (:meth:`Gate.receiving`), bounded in
  bytes (together, as many as ``jobs + queue`` full uploads) and in time
  (:data:`UPLOAD_TIMEOUT`, answered 408).
  Waiting requests hold only their upload's bytes. A PSD file runs alone: psd-tools takes
  about 600 MB to write one of 4 megapixels.
* :data:`HEAD_TIMEOUT`, :data:`CONNECTIONS`, :data:`CONNECTIONS_PER_CLIENT`: what one
  connection may hold before its request has even started (see
  :mod:`colorize.serve.connections`).
* :func:`return_freed_memory`: each job's large arrays go back to the system when it ends.

Refusals are :class:`Refused` exceptions carrying their HTTP status. The module needs no
web framework and imports Pillow and OpenCV only when used, so the CLI takes its defaults
from here at no cost.

With these defaults four clients at the limits stay under 2 GB of server memory and 10 s
a request on a 2-core CPU (``python benchmarks/serve_load.py --big``; docs/web.md).

    gate = Gate(jobs=JOBS, queue=QUEUE)
    with gate.receiving() as arrived:                    # counted as an upload, not a job
        body = await read_upload(request, MAX_UPLOAD_BYTES, UPLOAD_TIMEOUT, arrived)  # 408 when late
    check_pixels(body, MAX_PIXELS)                       # Refused(413) over the limit
    with gate.admit():                                   # Refused(503) when the queue is full
        result = await run_in_threadpool(gate.run, work, body)   # waits for a free slot
"""

from __future__ import annotations

import io
import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CONNECTIONS", "CONNECTIONS_PER_CLIENT", "Gate", "HEAD_TIMEOUT", "JOBS", "MAX_PIXELS",
           "MAX_UPLOAD_BYTES", "QUEUE", "Refused", "SWAP_PIXELS", "UPLOAD_TIMEOUT", "check_pixels", "preview",
           "return_freed_memory"]

MAX_UPLOAD_BYTES = 10 * 2**20  # 10 MiB: a line drawing is rarely over 2
MAX_PIXELS = 4_000_000  # 2000 x 2000: one flat finish ~1 s and ~150 MB; 16 MP was ~4 s and ~620 MB
SWAP_PIXELS = 1_000_000  # 1000 x 1000 per swap image: 12 of them take about as long as one 4 MP colouring
JOBS = 2  # heavy requests at once: one per core of a small machine
QUEUE = 16  # heavy requests waiting for a turn: one page sends three at once, so room for 6 pages
UPLOAD_TIMEOUT = 30.0  # seconds a body may take to arrive: 10 MB at 2.8 Mbit/s; a sketch of 1 MB at 280 kbit/s
HEAD_TIMEOUT = 10.0  # seconds a request line and its headers (at most 16 KB) may take to arrive
CONNECTIONS = 256  # open connections, idle ones included: each costs a socket and a few KB until it times out
CONNECTIONS_PER_CLIENT = 32  # from one address: a browser opens 6, so one client cannot take all of CONNECTIONS

T = TypeVar("T")


class Refused(Exception):
    """A request over a limit: ``status`` is the HTTP status to answer (413, 503), ``headers`` go with it."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def check_pixels(body: bytes, max_pixels: int) -> None:
    """Refuse (:class:`Refused`, 413) an image whose header declares over ``max_pixels`` pixels, before decoding it.

    Data Pillow cannot identify passes: decoding it then says what is wrong with it.
    """
    from PIL import Image, UnidentifiedImageError

    fix = "Scale the image down, or start the server with a larger --max-megapixels."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as im:  # reads the header only
                width, height = im.size
    except Image.DecompressionBombError:  # Pillow's own cap (about 179 MP) refuses even to open it
        raise Refused(413, f"The image is over the {max_pixels:,}-pixel limit "
                                 f"({max_pixels / 1e6:g} megapixels) of this server. {fix}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return
    if width * height > max_pixels:
        raise Refused(413, f"{width}x{height} is over the {max_pixels:,}-pixel limit "
                                 f"({max_pixels / 1e6:g} megapixels) of this server. {fix}")


def preview(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """``rgb`` scaled down (aspect kept, area-averaged) to at most ``max_pixels`` pixels; as it is if smaller."""
    import cv2

    height, width = rgb.shape[:2]
    if width * height <= max_pixels:
        return rgb
    scale = math.sqrt(max_pixels / (width * height))
    size = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def return_freed_memory(threshold: int = 2**20) -> bool:
    """Have glibc's malloc give blocks of ``threshold`` bytes and more back to the system as
    soon as they are freed; False where the C library is not glibc (nothing changes).

    By default glibc raises that threshold after each large free, up to 32 MB, so the 4-16
    MB arrays of a 4-megapixel job then come from per-thread arenas that keep them, and
    jobs on several pool threads each leave an arena as large as a job behind: the peak
    RSS in ``benchmarks/serve_load.py --big`` was about 250 MB higher.
    """
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    m_mmap_threshold = -3  # from malloc.h; setting it also turns the dynamic threshold off
    try:
        return ctypes.CDLL(None).mallopt(m_mmap_threshold, threshold) == 1
    except (OSError, AttributeError):
        return False


class Gate:
    """At most ``jobs`` heavy requests run at once, and ``queue`` more wait; the next is refused (503).

    A request is admitted (:meth:`admit`) once its upload has arrived, and holds its place
    to the end of its answer; it runs its work through :meth:`run` in a worker thread,
    which waits there, first come first served, for a free slot (or, for work that runs
    ``alone``, for all of them). Uploads still arriving are counted by :meth:`receiving`
    and hold no place: together they may hold ``arriving_bytes`` (default: ``jobs + queue``
    uploads of ``max_upload_bytes``, what the queue itself may hold), so many stalled ones (a
    few bytes each) refuse nobody. Thread-based, so one gate serves any event loop.
    """

    def __init__(self, jobs: int = JOBS, queue: int = QUEUE, arriving_bytes: int | None = None,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES):
        arriving_bytes = (jobs + queue) * max_upload_bytes if arriving_bytes is None else arriving_bytes
        if jobs < 1 or queue < 0 or arriving_bytes < 1:
            raise ValueError(f"a gate needs jobs >= 1, queue >= 0 and arriving_bytes >= 1, got jobs={jobs}, "
                             f"queue={queue}, arriving_bytes={arriving_bytes}")
        self.jobs, self.queue, self.arriving_bytes = jobs, queue, arriving_bytes
        self.admitted = 0  # running and waiting
        self.running = 0  # works running now
        self.uploading = 0  # uploads still arriving
        self.arrived = 0  # bytes of them arrived so far
        self._turns = threading.Condition()
        self._line: deque[object] = deque()  # works waiting to run, in order of arrival
        self._busy = 0  # slots taken
        self._seconds = 1.0  # a running mean of recent jobs' durations, for Retry-After

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained: what a refused client is told to wait."""
        return max(1, math.ceil(self._seconds * (self.jobs + self.queue) / self.jobs))

    def state(self) -> str:
        """What the server is doing now, in words, for a refusal to say."""
        uploads = f"{self.uploading} upload{'s' if self.uploading != 1 else ''} arriving"
        if self.arrived >= 2**20:
            uploads += f" ({self.arrived / 2**20:.1f} MB so far)"
        elif self.uploading:
            uploads += f" ({self.arrived / 2**10:.0f} KB so far)"
        return (f"{self.running} image{'s' if self.running != 1 else ''} being coloured, "
                f"{self.admitted - self.running} waiting, {uploads}")

    @contextmanager
    def receiving(self) -> Iterator[Callable[[int], None]]:
        """Count an upload as arriving for the block; yields ``arrived(n)``, to call with each
        chunk's size, which raises :class:`Refused` (503) when the uploads arriving together
        would hold over ``arriving_bytes``."""
        taken = 0

        def arrived(n: int) -> None:
            nonlocal taken
            with self._turns:
                if self.arrived + n > self.arriving_bytes:
                    raise Refused(503, f"The server is busy receiving uploads: {self.state()}, over its "
                                       f"{self.arriving_bytes / 2**20:.0f} MB for uploads in progress. "
                                       f"Try again in a few seconds.", headers={"Retry-After": "5"})
                self.arrived += n
                taken += n

        with self._turns:
            self.uploading += 1
        try:
            yield arrived
        finally:
            with self._turns:
                self.uploading -= 1
                self.arrived -= taken

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place in the gate for the block; :class:`Refused` (503, Retry-After) when it is full."""
        with self._turns:
            if self.admitted >= self.jobs + self.queue:
                wait = self.retry_after()
                raise Refused(503, f"The server is busy: {self.state()}; at most {self.jobs} are coloured at "
                                   f"once and {self.queue} wait (--jobs, --queue), and the queue is full. "
                                   f"Try again in {wait} s.", headers={"Retry-After": str(wait)})
            self.admitted += 1
        try:
            yield
        finally:
            with self._turns:
                self.admitted -= 1

    def run(self, work: Callable[..., T], *args, alone: bool = False) -> T:
        """``work(*args)`` when its turn comes and a slot is free; ``alone``: when all are (for work
        that needs the memory of several). Call it in a worker thread: it blocks while waiting."""
        slots, ticket = self.jobs if alone else 1, object()
        with self._turns:
            self._line.append(ticket)
            while self._line[0] is not ticket or self._busy + slots > self.jobs:
                self._turns.wait()
            self._line.popleft()
            self._busy += slots
            self.running += 1
            self._turns.notify_all()  # the next in line may fit beside this one
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            with self._turns:
                self._busy -= slots
                self.running -= 1
                self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - started)
                self._turns.notify_all()
