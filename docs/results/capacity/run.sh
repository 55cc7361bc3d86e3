#!/bin/bash
# Width or resolution? Three shapes of the hands-finetune recipe, from scratch, at equal CPU time
# (one thread each), scored on OpenMoji val and the first 1,200 Twemoji val samples.
# Run from the repository root with the training sets built (docs/datasets.md).
set -e
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
common="--config hands-finetune --eval-every 1000000 --seed 1"

# 1. CPU seconds per step of each shape: (CPU at 160 steps - CPU at 60 steps) / 100
for arm in "64:--size 64 --ngf 32" "64w:--size 64 --ngf 64" "128:--size 128 --ngf 32"; do
  for steps in 60 160; do
    /usr/bin/time -f "calib-${arm%%:*} $steps %U %S %e" -a -o calib.txt \
      colorize train $common ${arm#*:} --steps $steps --minutes 0 --save-every 1000000 \
      --name calib-${arm%%:*} --runs-dir /tmp/calib-runs > /dev/null 2>&1
  done
done

# 2. The baseline shape for 22 minutes of wall clock (it got 4,174 steps, about 1,339 CPU seconds
#    with start-up), then the other two for the steps that CPU time buys them (from calib.txt)
colorize train $common --size 64 --ngf 32 --minutes 22 --name study-64
colorize train $common --size 64 --ngf 64 --steps 1340 --minutes 0 --name study-64w
colorize train $common --size 128 --ngf 32 --steps 1863 --minutes 0 --name study-128

# 3. Score each (and the shipped model, on the same samples)
for name in study-64 study-64w study-128; do
  run=$(ls -d checkpoints/*-$name | tail -1)
  colorize export $run -o models/$name --half
  colorize evaluate models/$name --data data/openmoji --data data/twemoji --limit 1200 --no-baseline \
    -o docs/results/capacity/$name --overwrite
done
colorize evaluate colorize/pretrained/hands-64 --data data/openmoji --data data/twemoji --limit 1200 \
  --no-baseline -o docs/results/capacity/hands-64 --overwrite
