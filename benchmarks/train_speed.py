"""Benchmark: training images/s against a plain reference pix2pix, and peak RSS vs dataset size.

1. Speed. For each preset (seed: 256 px, ngf 64, batch 1, channel; cpu: the default),
   times colorize's full training step (tag tokens, G forward, D step when the preset has
   a GAN term, G step, EMA) and the
   reference pix2pix step of identical shape (benchmarks/reference_pix2pix.py) on the
   same real batches, alternating rounds in one process. PRESET:none rows take the tags
   out, so both sides are the same network and the ratio is the code's alone. Data loading is left out of
   both, so the ratio compares the training step itself. The reference always trains its
   GAN; the cpu preset trains without one (gan_lambda 0), so its ratio is the recipe's
   saving, not the code's.
2. Memory. Trains the default preset for --rss-steps steps (real DataLoader) on the
   OpenMoji manifest and on one 10x longer (its rows repeated under new ids), each in a
   fresh process, and prints each one's peak RSS.

    python benchmarks/train_speed.py --data data/openmoji [--steps 10] [--rss-steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_pix2pix import ReferencePix2Pix  # noqa: E402

from colorize.config import load_config  # noqa: E402
from colorize.data.dataset import collate_pairs  # noqa: E402
from colorize.train.trainer import Trainer  # noqa: E402

RSS_CHILD = """
import resource, sys
from colorize.config import load_config
from colorize.train.trainer import Trainer
data, runs, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = load_config("cpu", {"data": data, "runs_dir": runs, "steps": steps, "save_every": 10**9, "image_every": 10**9})
Trainer(cfg, progress=False).train()
# VmHWM is this process's own peak; ru_maxrss would carry the launching process's peak across exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def time_steps(fn, batches, steps: int) -> float:
    fn(batches[0])  # warm-up
    start = time.perf_counter()
    for i in range(steps):
        fn(batches[i % len(batches)])
    return time.perf_counter() - start


def speed(variant: str, data: str, steps: int, rounds: int, device: str) -> None:
    preset, _, conditioning = variant.partition(":")
    with tempfile.TemporaryDirectory() as runs:
        cfg = load_config(preset, {"data": data, "runs_dir": runs, "device": device, "workers": 0,
                                   "model.conditioning": conditioning or None})
        trainer = Trainer(cfg, progress=False)
        m = cfg.model
        ds = trainer.dataset  # the preset's own samples: its augmentation, its variant masks
        batches = [collate_pairs([ds[(i * cfg.batch_size + j) % len(ds)] for j in range(cfg.batch_size)]) for i in range(4)]
        input_nc = 4 if m.conditioning == "channel" else 3
        ref = ReferencePix2Pix(input_nc, m.ngf, m.ndf, m.levels)
        ref.G.to(trainer.device), ref.D.to(trainer.device)
        extra = torch.zeros(cfg.batch_size, input_nc - 3, m.size, m.size, device=trainer.device)

        def ours(batch):
            trainer.train_step(batch)

        def reference(batch):
            ref.step(torch.cat([batch["sketch"].to(trainer.device), extra], 1), batch["target"].to(trainer.device))

        ours_t, ref_t = 0.0, 0.0
        for _ in range(rounds):
            ours_t += time_steps(ours, batches, steps)
            ref_t += time_steps(reference, batches, steps)
        n = rounds * steps * cfg.batch_size
        gan = "GAN" if cfg.gan_lambda > 0 else "no GAN"
        print(f"{preset:>5}: {m.size}px ngf {m.ngf} batch {cfg.batch_size} {m.conditioning:>7} {gan:>6} | colorize "
              f"{n / ours_t:6.2f} img/s | reference pix2pix {n / ref_t:6.2f} img/s | ratio {ref_t / ours_t:.2f}x")


def rss(data: str, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        big.mkdir()
        root = Path(data).resolve()
        with open(root / "manifest.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        with open(big / "manifest.jsonl", "w", encoding="utf-8") as out:
            for copy in range(10):
                for row in rows:
                    out.write(json.dumps({**row, "id": f"{row['id']}~{copy}", "sketch": str(root / row["sketch"]),
                                          "color": str(root / row["color"])}) + "\n")
        for label, path in (("openmoji", str(root)), ("10x manifest", str(big))):
            result = subprocess.run([sys.executable, "-c", RSS_CHILD, path, str(Path(tmp) / "runs"), str(steps)],
                                    capture_output=True, text=True, check=True)
            main_mb, child_mb = map(float, result.stdout.split()[-2:])
            print(f"peak RSS, {label:>13} ({len(rows) * (10 if label != 'openmoji' else 1)} rows): "
                  f"trainer {main_mb:.0f} MB, DataLoader worker {child_mb:.0f} MB (pages shared at fork counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description="colorize training benchmark")
    parser.add_argument("--data", default="data/openmoji")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rss-steps", type=int, default=30)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=["seed", "seed:none", "cpu", "cpu:none"],
                        help="PRESET or PRESET:CONDITIONING; skip: memory only")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, threads {torch.get_num_threads()}, device {args.device}")
    for preset in args.presets if args.presets != ["skip"] else []:
        speed(preset, args.data, args.steps, args.rounds, args.device)
    if args.rss_steps:
        rss(args.data, args.rss_steps)


if __name__ == "__main__":
    main()
