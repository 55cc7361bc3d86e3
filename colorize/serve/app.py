"""The ``colorize serve`` web app: one static page and a small JSON/PNG API around a Colorizer.

Routes:

* ``GET /`` and ``/static/*``: the page (HTML, JS, CSS shipped in ``colorize/serve/static``;
  nothing is fetched from elsewhere, so it works with no internet).
* ``GET /api/info``: the model, its tag vocabulary (for completion) and its swap groups.
* ``POST /api/colorize?tags=a,+b&finish=flat``: the image file's bytes as the body -> the
  colouring as PNG (``finish``: ``flat`` or ``soft``, default flat).
* ``POST /api/finishes?tags=...``: the body as above -> JSON with both finishes (PNG, base64)
  from one forward pass, and a ``note`` when flat fell back to soft.
* ``POST /api/layers?tags=...&format=ora``: the body as above -> the layered file (``ora`` or
  ``psd``: soft colour, flats, lines on multiply), as a download.
* ``POST /api/palette?name=character.gpl``: a palette file as the body (``.gpl``, ``.hex``,
  ``.txt``; :mod:`colorize.palette` reads it) -> JSON: its colours and names, and the same
  palette as a hex list, which the colouring routes take as ``palette=...``: with it, flat
  regions snap to the palette (``palette_max_de``). ``/api/finishes`` also returns the
  palette of the flat colouring, as a ``.gpl`` text.
* ``POST /api/swap?tags=...&group=*+heart``: the body as above -> JSON, one PNG (base64) per
  value of the group, coloured in one batch, at most ``swap_pixels`` each (a larger
  sketch is scaled down for the swap: the row is a preview).

Safe by default: tags outside the model's vocabulary are embedded per request into a
bounded private cache and never join the vocabulary ``/api/info`` serves, nor any file;
an upload is read into memory up to ``max_upload_bytes`` and never
written to disk (the server writes no files at all, and reads only its own static folder,
through Starlette's ``StaticFiles``, which refuses paths that leave it); an upload that
has not arrived within ``upload_timeout`` seconds is answered 408, and only an upload that
has arrived takes a place among the heavy requests, so slow clients hold none that fast
ones need; an image over ``max_pixels`` is refused (413) from its header, before it is
decoded; at most ``jobs`` heavy requests run at once and ``queue`` more wait, the next
gets a 503 with Retry-After that says what the server is busy with
(:mod:`colorize.serve.limits`); a connection whose request's headers do not arrive in
time is closed, and connections are capped (:mod:`colorize.serve.connections`); a bad
upload gets a JSON ``error`` that the page shows, and the server goes on. The Host header must name the address served (loopback by
default), which stops DNS-rebinding pages from reading the API.

    app = create_app(Colorizer.from_pretrained("checkpoints/00000-openmoji"))
    with serving(app) as url:                  # a background server on a free loopback port
        requests.post(f"{url}/api/colorize?tags=red+heart", data=open("heart.png", "rb"))
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import anyio
import cv2
import numpy as np
import torch
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from colorize.data.images import ImageError, fit_square
from colorize.data.tags import parse_tags
from colorize.finish import DEFAULT_FINISH, FINISHES, Finished, finish_layers, lay_lines, painted_colours
from colorize.finish.writers import LAYERED, WRITERS
from colorize.infer.colorizer import Colorizer
from colorize.infer.swap import SwapGroup, swap_groups
from colorize.palette import (DEFAULT_MAX_DE, FORMATS, MAX_BYTES, Palette, PaletteError, cluster, palette_note,
                              parse_palette)
from colorize.serve.connections import guarded
from colorize.serve.limits import (
    CONNECTIONS, CONNECTIONS_PER_CLIENT, HEAD_TIMEOUT, JOBS, MAX_PIXELS, MAX_UPLOAD_BYTES, QUEUE, SWAP_PIXELS,
    UPLOAD_TIMEOUT, Gate, Refused, check_pixels, preview, return_freed_memory,
)

__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "LOOPBACK_NAMES", "bind", "create_app", "is_loopback", "run", "serving"]

STATIC = Path(__file__).resolve().parent / "static"
MAX_TAG_CHARS = 1000
MAX_TAGS = 32
MAX_PALETTE_CHARS = 1 << 14  # a palette sent with a colouring: 256 named colours fit easily
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
T = TypeVar("T")

# The page loads only its own files: no CDN, no fonts from elsewhere, no inline script.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
                                 b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def host_name(header: str) -> str:
    """The name in a Host header, without its port: ``[::1]:7860`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):  # an IPv6 literal, bracketed
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class TrustedHosts:
    """ASGI middleware: refuse (400) requests whose Host header names none of ``allowed``.

    Starlette's ``TrustedHostMiddleware`` cuts the header at its first colon, so it refuses
    every request to ``[::1]``; this one reads bracketed IPv6 literals. It stops DNS
    rebinding: a page whose name was pointed at 127.0.0.1 still sends its own name.
    """

    def __init__(self, app, allowed: Sequence[str]):
        self.app = app
        self.allowed = {name.lower().strip("[]") for name in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            name = host_name(headers.get(b"host", b"").decode("latin-1"))
            if name not in self.allowed:
                response = JSONResponse({"error": f"Invalid host header {name!r}: this server answers only "
                                                  f"to {', '.join(sorted(self.allowed))}."}, status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware that adds :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB uint8 [H, W, 3] -> PNG file bytes."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok, "PNG encoding of a uint8 RGB array cannot fail"
    return buf.tobytes()


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


async def read_upload(request: Request, limit: int, timeout: float = UPLOAD_TIMEOUT,
                      arrived: Callable[[int], None] = lambda n: None) -> bytes:
    """The request body (the image file's bytes), refused past ``limit`` bytes before it is all
    read, and answered 408 when it has not all arrived within ``timeout`` seconds (a client
    that stalls holds its connection no longer). ``arrived(n)`` is told each chunk's size."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"The upload is {_megabytes(int(declared))}, over this server's "
                                 f"{_megabytes(limit)} limit. Upload a smaller image, or start the server "
                                 f"with a larger --max-upload-mb.")
    body = bytearray()
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                arrived(len(chunk))
                body += chunk
                if len(body) > limit:
                    raise HTTPException(413, f"The upload is over this server's {_megabytes(limit)} limit. Upload "
                                             f"a smaller image, or start the server with a larger --max-upload-mb.")
    except ClientDisconnect:  # closed by the client, or by the server to make room for another
        raise HTTPException(400, "The connection closed before the upload arrived.") from None
    except TimeoutError:
        expected = f"{int(declared):,}" if declared is not None and declared.isdigit() else "an unknown number of"
        raise HTTPException(408, f"The upload did not arrive in time: {len(body):,} of {expected} bytes in "
                                 f"{timeout:g} s, this server's limit (--upload-timeout). Check the connection "
                                 f"and send it again, or send a smaller image.",
                            headers={"Connection": "close"}) from None
    if not body:
        raise HTTPException(400, "The upload is empty (0 bytes). Send an image file's bytes as the request body "
                                 "(curl --data-binary @sketch.png).")
    return bytes(body)


def read_tags(request: Request) -> list[str]:
    """The ``tags`` query parameter ("a, b") as canonical tags, within the size limits."""
    text = request.query_params.get("tags", "")
    if len(text) > MAX_TAG_CHARS:
        raise HTTPException(400, f"The tags are {len(text)} characters long; at most {MAX_TAG_CHARS} are accepted.")
    tags = parse_tags(text)
    if len(tags) > MAX_TAGS:
        raise HTTPException(400, f"{len(tags)} tags given; at most {MAX_TAGS} are accepted.")
    return tags


def read_palette_param(request: Request) -> tuple[Palette | None, float]:
    """The ``palette`` query parameter (a hex list, as ``/api/palette`` returns it) and
    ``palette_max_de``; (None, default) without one."""
    text = request.query_params.get("palette", "")
    try:
        max_de = float(request.query_params.get("palette_max_de", DEFAULT_MAX_DE))
    except ValueError:
        raise HTTPException(400, "palette_max_de must be a number (CIEDE2000, e.g. 10).") from None
    if not 0 <= max_de <= 100:
        raise HTTPException(400, f"palette_max_de {max_de} is outside 0-100.")
    if not text.strip():
        return None, max_de
    if len(text) > MAX_PALETTE_CHARS:
        raise HTTPException(400, f"The palette is {len(text)} characters long; at most {MAX_PALETTE_CHARS} are "
                                 f"accepted.")
    try:
        return parse_palette(text, ".hex", "palette"), max_de
    except PaletteError as e:
        raise HTTPException(400, f"{e}.") from None


def palette_gpl(finished: Finished, name: str) -> str:
    """The palette of a flat colouring (its regions' colours, weighted by area) as GIMP palette text."""
    colours, area = painted_colours(finished)
    return FORMATS[".gpl"].write(cluster(colours, area.astype(np.float64), name=name, exact=True))


def create_app(colorizer: Colorizer, *, max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS,
               swap_pixels: int = SWAP_PIXELS, jobs: int = JOBS, queue: int = QUEUE,
               upload_timeout: float = UPLOAD_TIMEOUT,
               allowed_hosts: Sequence[str] | None = LOOPBACK_NAMES) -> Starlette:
    """The web app around ``colorizer`` (whose tags it makes private: see
    :meth:`Colorizer.keep_tags_private`). The limits are :mod:`colorize.serve.limits`'s;
    ``allowed_hosts``: Host header names accepted (None: any). ``app.state.gate`` is the
    :class:`~colorize.serve.limits.Gate` its heavy requests pass."""
    colorizer.keep_tags_private()  # no client's tags reach another through /api/info, memory or disk
    groups: dict[str, SwapGroup] = {g.pattern: g for g in swap_groups(colorizer.vocab)}
    source = Path(colorizer.source) if colorizer.source else None
    model_name = "" if source is None else source.parent.name if source.name == "export" else source.name
    model_lock = threading.Lock()  # one forward pass at a time: unknown tags grow the shared tag table
    gate = Gate(jobs, queue, max_upload_bytes=max_upload_bytes)  # at most `jobs` at once
    return_freed_memory()  # the limits assume a job's memory is given back when it ends
    if colorizer.device.type == "cpu":
        # Parallel requests come from the gate's jobs; torch's own OpenMP threads only spin
        # against them. A 12-tag swap's forward pass on 2 shared cores: 0.4-1.3 s, 0.04 s with one.
        torch.set_num_threads(1)

    def decode(body: bytes, content_type: str) -> np.ndarray:
        try:
            return colorizer.load(body, max_pixels=max_pixels)
        except ImageError as e:
            hint = ("Send the file's bytes as the body, not a form." if content_type.startswith("multipart/")
                    else "Upload a PNG, JPEG or WebP sketch.")
            raise HTTPException(400, f"This upload cannot be coloured: {e}. {hint}") from None

    def colour(rgb: np.ndarray, tag_sets: list[list[str]], finish: str = DEFAULT_FINISH,
               palette: tuple[Palette | None, float] = (None, DEFAULT_MAX_DE)) -> tuple[list[bytes], list[str]]:
        """What ``colorize_batch`` gives, as PNGs; only the forward pass holds the model's lock."""
        square, box = fit_square(rgb, colorizer.size)
        with model_lock:
            unknown = colorizer.unknown_tags([t for tags in tag_sets for t in tags])
            squares = colorizer.colour_squares([square] * len(tag_sets), tag_sets, compose=False)
        # one picture at full size at a time: a swap's row is never all in memory unencoded
        return [encode_png(colorizer.finish(s, rgb, box, how=finish, palette=palette[0], max_de=palette[1]))
                for s in squares], unknown

    def all_layers(rgb: np.ndarray, tags: list[str], palette: tuple[Palette | None, float] = (None, DEFAULT_MAX_DE)
                   ) -> tuple[Finished, list[str]]:
        """One forward pass, both finishes' layers (finishing runs outside the model's lock)."""
        square, box = fit_square(rgb, colorizer.size)
        with model_lock:
            unknown = colorizer.unknown_tags(tags)
            colour = colorizer.colour_squares([square], [tags], compose=False)[0]
        return finish_layers(colour, rgb, box, how="flat", regions=True, palette=palette[0],
                             max_de=palette[1]), unknown

    async def job(request: Request, work: Callable[[np.ndarray], T], alone: bool = False) -> T:
        """``work(the upload, decoded)`` in a worker thread, within the gate's limits: the upload
        is read (or 408, 413) and its header checked (or 413), and only then does it take a
        place in the queue (or 503), so an upload that arrives slowly keeps no one else out;
        decoding and the work wait for a free slot (``alone``: for all of them)."""
        try:
            with gate.receiving() as arrived:
                body = await read_upload(request, max_upload_bytes, upload_timeout, arrived)
            check_pixels(body, max_pixels)
            content_type = request.headers.get("content-type", "")
            with gate.admit():
                return await run_in_threadpool(lambda: gate.run(lambda: work(decode(body, content_type)), alone=alone))
        except Refused as e:
            raise HTTPException(e.status, e.message, headers=e.headers) from None

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def info(request: Request) -> Response:
        return JSONResponse({
            "model": model_name,
            "step": colorizer.step,
            "size": colorizer.size,
            "conditioning": colorizer.conditioning,
            "vocab": sorted(colorizer.vocab),
            "groups": [{"pattern": g.pattern, "name": g.name, "tags": list(g.tags), "values": list(g.values)}
                       for g in groups.values()],
            "max_upload_bytes": max_upload_bytes,
            "max_pixels": max_pixels,
            "swap_pixels": swap_pixels,
            "jobs": jobs,
            "queue": queue,
            "upload_timeout": upload_timeout,
        })

    def read_choice(request: Request, name: str, choices: Sequence[str], default: str) -> str:
        value = request.query_params.get(name, default)
        if value not in choices:
            raise HTTPException(400, f"Unknown {name} {value!r}; choose from {', '.join(choices)}.")
        return value

    async def colorize_one(request: Request) -> Response:
        tags = read_tags(request)
        finish = read_choice(request, "finish", FINISHES, DEFAULT_FINISH)
        palette = read_palette_param(request)

        def one(rgb: np.ndarray) -> tuple[bytes, list[str], float]:
            started = time.perf_counter()
            (png,), unknown = colour(rgb, [tags], finish, palette)
            return png, unknown, time.perf_counter() - started

        png, unknown, seconds = await job(request, one)
        return Response(png, media_type="image/png", headers={
            "x-tags": quote(", ".join(tags)),
            "x-unknown-tags": quote(", ".join(unknown)),
            "server-timing": f"colorize;dur={1000 * seconds:.1f}",
        })

    async def finishes(request: Request) -> Response:
        tags = read_tags(request)
        palette = read_palette_param(request)

        def both(rgb: np.ndarray) -> tuple[bytes, bytes, str | None, list[str], str, float]:
            started = time.perf_counter()
            done, unknown = all_layers(rgb, tags, palette)
            flat, soft = encode_png(done.result), encode_png(lay_lines(done.soft, done.sketch))
            gpl = palette_gpl(done, ", ".join(tags) or "no tags")
            return flat, soft, done.note, unknown, gpl, time.perf_counter() - started

        flat, soft, note, unknown, gpl, seconds = await job(request, both)
        return JSONResponse({
            "tags": tags,
            "unknown_tags": unknown,
            "flat": base64.b64encode(flat).decode("ascii"),
            "soft": base64.b64encode(soft).decode("ascii"),
            "note": note,
            "palette": gpl,
            "ms": round(1000 * seconds, 1),
        })

    async def palette_file(request: Request) -> Response:
        name = request.query_params.get("name", "palette.gpl")[:200]
        body = await read_upload(request, MAX_BYTES, upload_timeout)  # small and parsed at once: no job slot
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(400, f"{name}: not a text file (UTF-8): a palette is .gpl or a list of hex "
                                     f"colours.") from None
        try:
            palette = parse_palette(text, Path(name).suffix, name)
        except PaletteError as e:
            raise HTTPException(400, f"{e}.") from None
        return JSONResponse({
            "name": palette.name or Path(name).stem,
            "colours": [{"hex": s.hex, "name": s.name} for s in palette.swatches],
            "hex": FORMATS[".hex"].write(palette),
            "note": palette_note(palette, name),
        })

    async def layers(request: Request) -> Response:
        tags = read_tags(request)
        kind = read_choice(request, "format", LAYERED, "ora")
        palette = read_palette_param(request)

        def encode(rgb: np.ndarray) -> bytes:
            done, _ = all_layers(rgb, tags, palette)
            return WRITERS[kind].encode(done)

        data = await job(request, encode, alone=kind == "psd")  # psd-tools: ~150 bytes a pixel
        media = {"ora": "image/openraster", "psd": "image/vnd.adobe.photoshop"}[kind]
        return Response(data, media_type=media,
                        headers={"content-disposition": f'attachment; filename="colorized.{kind}"'})

    async def swap(request: Request) -> Response:
        tags = read_tags(request)
        pattern = request.query_params.get("group", "")
        if pattern not in groups:
            raise HTTPException(400, f"Unknown swap group {pattern!r}; GET /api/info lists this model's groups.")
        group = groups[pattern]
        tag_sets = group.apply(tags)
        palette = read_palette_param(request)
        pngs, unknown = await job(request, lambda rgb: colour(preview(rgb, swap_pixels), tag_sets, palette=palette))
        return JSONResponse({
            "group": group.name,
            "unknown_tags": unknown,
            "images": [{"value": value, "tags": tag_set, "png": base64.b64encode(png).decode("ascii")}
                       for value, tag_set, png in zip(group.values, tag_sets, pngs, strict=True)],
        })

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"The server failed while colouring ({type(exc).__name__}: {exc}). "
                                      f"Try another image; the server log has the details."}, status_code=500)

    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHosts, allowed=list(allowed_hosts)))
    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/colorize", colorize_one, methods=["POST"]),
        Route("/api/finishes", finishes, methods=["POST"]),
        Route("/api/layers", layers, methods=["POST"]),
        Route("/api/swap", swap, methods=["POST"]),
        Route("/api/palette", palette_file, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.gate = gate
    return app


# -- running it ----------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port); raises OSError when it is taken.

    It listens at once, so a client that connects as soon as the URL is printed waits in
    the backlog instead of being refused while the server starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server(app: Starlette, log_level: str, head_timeout: float = HEAD_TIMEOUT, connections: int = CONNECTIONS,
            per_client: int = CONNECTIONS_PER_CLIENT) -> uvicorn.Server:
    # No websockets, no lifespan, no Server header; keep-alive short so idle clients do not pin
    # sockets; h11 with a deadline for each request's head and caps on connections, in place of
    # limit_concurrency (colorize.serve.connections).
    config = uvicorn.Config(app, http=guarded(head_timeout, connections, per_client), ws="none", lifespan="off",
                            log_level=log_level, server_header=False, timeout_keep_alive=5)
    return uvicorn.Server(config)


def run(app: Starlette, sock: socket.socket, log_level: str = "info", **limits) -> None:
    """Serve ``app`` on the bound ``sock`` until Ctrl-C; ``limits``: ``head_timeout``,
    ``connections``, ``per_client`` (:mod:`colorize.serve.connections`)."""
    _server(app, log_level, **limits).run(sockets=[sock])


@contextmanager
def serving(app: Starlette, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
            **limits) -> Iterator[str]:
    """Run ``app`` in a background thread for the duration of the block; yields its base URL.
    ``limits`` as for :func:`run`."""
    sock = bind(host, port)
    server = _server(app, log_level, **limits)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="colorize-serve")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        yield f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
