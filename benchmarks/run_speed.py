"""Benchmark: ``colorize run`` images/s against a plain reference pix2pix, cold start and peak RSS.

1. Throughput. Copies --count 256x256 OpenMoji sketches into a temporary folder and
   colours them with ``colorize run``'s code path (``colour_files``: threads decode ahead
   and write behind, batched forward, results at full size with the lines laid over), in
   this process. The yardstick is the reference pix2pix U-Net
   (benchmarks/reference_pix2pix.py) of the same shape as the model (size, ngf, levels,
   a 4th input plane for channel conditioning), run one image at a time the plain way:
   PIL load, resize to the model's size, forward, resize back, PIL save as PNG. Both run
   in eval mode without autograd, one after the other per round, on the same files.
   With --palette-cost, each round also colours the folder with a palette (``--palette``,
   eight colours) and with ``--consistent``, one after the other with the plain run, and
   prints what each costs against it.
2. Cold start. ``colorize run one.png -o tmp`` as a subprocess: wall time from launch to
   exit (Python start-up, imports, model load, one image), and the child's peak RSS
   (``ru_maxrss`` from ``os.wait4``, that process alone). The same for the whole folder.

    python benchmarks/run_speed.py [--model checkpoints/00000-openmoji] [--count 200] [--batch-size 8] [--palette-cost]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_pix2pix import unet  # noqa: E402

from colorize.infer.colorizer import DEFAULT_MODEL, Colorizer  # noqa: E402
from colorize.finish import DEFAULT_FINISH, FINISHES  # noqa: E402
from colorize.infer.folder import colour_files  # noqa: E402
from colorize.palette import Palette, Swatch  # noqa: E402


def make_sketches(data: Path, folder: Path, count: int) -> list[Path]:
    sources = sorted((data / "sketch").glob("*.png"))
    if not sources:
        sys.exit(f"{data}/sketch has no PNGs; build the dataset with `colorize data openmoji` or pass --data.")
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        source = sources[(i * 7919) % len(sources)]  # a spread of drawings, not the first few
        target = folder / f"{i:04d}-{source.name}"
        with Image.open(source) as im:
            if im.size == (256, 256):
                shutil.copyfile(source, target)
            else:
                im.convert("RGB").resize((256, 256), Image.Resampling.BICUBIC).save(target)
        paths.append(target)
    return paths


def reference_run(G: torch.nn.Module, input_nc: int, size: int, paths: list[Path], out: Path) -> None:
    """The plain way: one image at a time, PIL in and out."""
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        with Image.open(path) as im:
            im = im.convert("RGB")
        x = torch.from_numpy(np.array(im.resize((size, size), Image.Resampling.BICUBIC))).permute(2, 0, 1)
        x = x.float().div(127.5).sub(1).unsqueeze(0)
        if input_nc == 4:
            x = torch.cat([x, torch.zeros(1, 1, size, size)], 1)
        with torch.no_grad():
            y = G(x)[0]
        rgb = y.add(1).mul(127.5).clamp(0, 255).byte().permute(1, 2, 0).numpy()
        Image.fromarray(rgb).resize(im.size, Image.Resampling.BICUBIC).save(out / path.name)


def child(args: list[str]) -> tuple[float, float]:
    """Run ``args``; return (wall seconds, peak RSS in MB) of that process alone."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)  # that child's own rusage, unlike RUSAGE_CHILDREN
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            sys.exit(f"{' '.join(args)} failed:\n{errors.read().decode()}")
    return wall, usage.ru_maxrss / 1024


PALETTE = [(220, 40, 40), (250, 218, 186), (60, 120, 220), (40, 160, 60), (250, 200, 40), (120, 80, 40),
           (30, 30, 30), (240, 240, 240)]


def palette_cost(colorizer: Colorizer, tmp: Path, tags: str, args: argparse.Namespace) -> None:
    """The plain run, with --palette and with --consistent, in turn each round: img/s and cost."""
    palette = Palette(tuple(Swatch(rgb, f"colour {i}") for i, rgb in enumerate(PALETTE)))
    modes = {"plain": {}, "--palette": {"palette": palette}, "--consistent": {"consistent": True}}
    seconds = {mode: [] for mode in modes}
    for r in range(max(3, args.rounds)):
        for mode, extra in modes.items():
            start = time.perf_counter()
            report = colour_files(colorizer, [tmp / "in"], tmp / f"{mode.strip('-')}-{r}", tags=tags,
                                  batch_size=args.batch_size, progress=False, finish=args.finish, **extra)
            seconds[mode].append(time.perf_counter() - start)
            assert report.coloured == args.count, report.failed
    plain = statistics.median(seconds["plain"])
    for mode, times in seconds.items():
        middle = statistics.median(times)
        print(f"{mode:13s} median of {len(times)} rounds: {args.count / middle:6.2f} img/s"
              + ("" if mode == "plain" else f", {middle / plain - 1:+.0%} against plain"))


def main() -> None:
    parser = argparse.ArgumentParser(description="colorize run benchmark")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"model to benchmark (default: the shipped {DEFAULT_MODEL.name}; before it ships, "
                             f"checkpoints/00000-openmoji)")
    parser.add_argument("--data", type=Path, default=Path("data/openmoji"))
    parser.add_argument("--count", type=int, default=200, help="256x256 sketches in the folder")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds of each side")
    parser.add_argument("--finish", choices=FINISHES, default=DEFAULT_FINISH,
                        help="how `colorize run` finishes each picture (the reference only runs the network)")
    parser.add_argument("--palette-cost", action="store_true",
                        help="also time --palette and --consistent runs against the plain one, round by round")
    args = parser.parse_args()
    model = args.model or DEFAULT_MODEL
    if not model.exists():
        sys.exit(f"{model}: no model there yet. Pass --model, e.g. --model checkpoints/00000-openmoji.")

    colorizer = Colorizer.from_pretrained(model, device="cpu")
    m = colorizer.G
    ngf, levels, input_nc = m.down[0].out_channels, m.levels, m.down[0].in_channels
    G = unet(input_nc, ngf, levels).eval()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, threads {torch.get_num_threads()}; model {model} "
          f"({colorizer.size}px, ngf {ngf}, levels {levels}, {colorizer.conditioning}); {args.count} sketches 256x256")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_sketches(args.data, tmp / "in", args.count)
        tags = "red heart"  # in the OpenMoji vocabulary: no encoder load inside the timing
        ours = reference = 0.0
        colour_files(colorizer, paths[:args.batch_size], tmp / "warm", tags=tags, batch_size=args.batch_size,
                     progress=False, finish=args.finish)
        reference_run(G, input_nc, colorizer.size, paths[:2], tmp / "warm-ref")
        for r in range(args.rounds):
            start = time.perf_counter()
            report = colour_files(colorizer, [tmp / "in"], tmp / f"ours-{r}", tags=tags, batch_size=args.batch_size,
                                  progress=False, finish=args.finish)
            ours += time.perf_counter() - start
            assert report.coloured == args.count, report.failed
            start = time.perf_counter()
            reference_run(G, input_nc, colorizer.size, paths, tmp / f"ref-{r}")
            reference += time.perf_counter() - start
        n = args.count * args.rounds
        print(f"colorize run (batch {args.batch_size}, threaded I/O, {args.finish} finish): {n / ours:6.2f} img/s | reference pix2pix "
              f"one at a time: {n / reference:6.2f} img/s | ratio {reference / ours:.2f}x")
        if args.palette_cost:
            palette_cost(colorizer, tmp, tags, args)

        one = tmp / "one.png"
        shutil.copyfile(paths[0], one)
        command = [sys.executable, "-m", "colorize", "run", "--model", str(model), "--tags", tags, "--no-progress",
                   "--finish", args.finish]
        wall, rss = child([*command, str(one), "-o", str(tmp / "cold")])
        print(f"cold start, `colorize run one.png -o tmp` as a subprocess: {wall:.2f} s wall, peak RSS {rss:.0f} MB")
        wall, rss = child([*command, "--batch-size", str(args.batch_size), str(tmp / "in"), "-o", str(tmp / "cold-all")])
        print(f"`colorize run` on the {args.count}-sketch folder as a subprocess: {wall:.2f} s wall "
              f"({args.count / wall:.2f} img/s with start-up), peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
