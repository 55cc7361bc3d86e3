"""The fuzz suite at length: every property of tests/test_fuzz.py with many more examples.

CI runs each property on a few dozen examples; this runs the "long" Hypothesis profile
(3,000 examples a property; the whole-run property gets --run-examples) and prints how
long each took. A failure prints the smallest input that breaks the property; add it to
the tests as a plain case once fixed.

    python benchmarks/fuzz.py [--examples 3000] [--run-examples 200] [-k manifest]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000, help="Examples per property.")
    parser.add_argument("--run-examples", type=int, default=200, help="Examples of the whole-run property.")
    parser.add_argument("-k", default=None, help="Only properties whose names match (pytest -k).")
    args = parser.parse_args()
    profile = ROOT / "tests" / "test_fuzz.py"
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "FUZZ_EXAMPLES": str(args.examples),
           "FUZZ_RUN_EXAMPLES": str(args.run_examples)}
    command = [sys.executable, "-m", "pytest", str(profile), "-q", "-p", "no:cacheprovider", "--durations=0",
               "--hypothesis-show-statistics"] + (["-k", args.k] if args.k else [])
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env)
    print(f"\nfuzz: {args.examples} examples a property ({args.run_examples} for whole runs), "
          f"{time.perf_counter() - start:.0f} s, {'all held' if result.returncode == 0 else 'FAILURES above'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
