"""Benchmark: the full OpenMoji build (target: 90 s or less at 256 px on 2 cores).

Prints the wall time of a fresh build, of a re-run (everything reused), and the peak RSS
of the builder and its worker processes.

    python benchmarks/openmoji_build.py [--size 256] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from colorize.data.openmoji import build_openmoji


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "openmoji"
        start = time.perf_counter()
        report = build_openmoji(out, size=args.size, workers=args.workers, progress=False)
        fresh = time.perf_counter() - start
        start = time.perf_counter()
        build_openmoji(out, size=args.size, workers=args.workers, progress=False)
        rerun = time.perf_counter() - start
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"cores: {os.cpu_count()}  workers: {args.workers or os.cpu_count()}  size: {args.size}px")
    print(f"pairs: {report.rows}  splits: {report.splits}  failed: {len(report.failed)}")
    print(f"fresh build: {fresh:.1f} s ({report.rows / fresh:.0f} emoji/s)")
    print(f"re-run (all reused): {rerun:.1f} s")
    print(f"peak RSS: main {main_mb:.0f} MB, largest worker {child_mb:.0f} MB")


if __name__ == "__main__":
    main()
