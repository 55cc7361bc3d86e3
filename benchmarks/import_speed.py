"""Benchmark: `colorize data import` speed and peak memory (targets: >= 40 images/s at 256 px
on 2 cores; memory flat in the size of the collection).

It makes a collection of real illustrations first: OpenMoji colour images rendered at
--source-size as JPEG (quality 90) with a .txt sidecar each. Larger collections re-use
those images under new names with a few bytes appended after the JPEG end marker, so
every file is distinct (the import dedupes identical bytes) while decoding the same.
Each import runs in a fresh process, which prints its own peak RSS and its largest
worker's.

    python benchmarks/import_speed.py --counts 2000 20000 [--extractor mixed] [--source-size 768]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from colorize.data.openmoji import _render, openmoji_svg_dir

CHILD = """
import resource, sys, time
from pathlib import Path
from colorize.data.importer import import_folder
src, out, extractor, at = sys.argv[1:5]
start = time.perf_counter()
report = import_folder(Path(src), Path(out), size=256, extractor=extractor, extract_at=at, progress=False)
took = time.perf_counter() - start
# VmHWM is this process's own peak; ru_maxrss would carry the launching process's peak across exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(report.imported, report.failed, took, hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def make_collection(folder: Path, count: int, unique: int, size: int) -> None:
    svgs = sorted(p for p in openmoji_svg_dir().iterdir() if p.suffix == ".svg")[:unique]
    bases = []
    for svg in svgs:
        rgb = _render(svg.read_text(encoding="utf-8"), size)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        bases.append((buf.tobytes(), svg.stem))
    for i in range(count):
        data, name = bases[i % len(bases)]
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        suffix = b"" if i < len(bases) else f"copy{i}".encode()
        (sub / f"{i:06d}.jpg").write_bytes(data + suffix)
        (sub / f"{i:06d}.txt").write_text(f"emoji {name.lower()}, copy {i % 7}")


def main() -> None:
    parser = argparse.ArgumentParser(description="colorize data import benchmark")
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--unique", type=int, default=500, help="distinct pictures to render")
    parser.add_argument("--source-size", type=int, default=768)
    parser.add_argument("--extractor", default="mixed")
    parser.add_argument("--extract-at", default="import")
    args = parser.parse_args()
    print(f"source: {args.unique} OpenMoji renders at {args.source_size} px as JPEG; import at 256 px, "
          f"extractor {args.extractor}, extract at {args.extract_at}")
    for count in args.counts:
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "src", Path(tmp) / "out"
            start = time.perf_counter()
            make_collection(src, count, min(args.unique, count), args.source_size)
            made = time.perf_counter() - start
            result = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out), args.extractor, args.extract_at],
                                    capture_output=True, text=True, check=True)
            imported, failed, took, main_mb, worker_mb = result.stdout.split()
            rate = int(imported) / float(took)
            print(f"{count:>6} images (made in {made:.0f} s): imported {imported}, failed {failed}, "
                  f"{float(took):.1f} s = {rate:.0f} images/s; peak RSS main {float(main_mb):.0f} MB, "
                  f"largest worker {float(worker_mb):.0f} MB")


if __name__ == "__main__":
    main()
