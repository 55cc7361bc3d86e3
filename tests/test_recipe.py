"""The training recipe: weighted colour loss, no-GAN steps, EMA, decay, budgets, checks, batch order."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from colorize.cli import main
from colorize.config import load_config
from colorize.data.dataset import PairDataset, variant_masks
from colorize.models.io import load_checkpoint, load_pretrained
from colorize.train.checkpoint import find_checkpoint
from colorize.train.sampler import BatchPlan
from colorize.train.trainer import Trainer


def recipe(dataset, runs, **extra):
    """The cpu preset (the recipe) at tiny widths; checks score the train split, which has variant groups."""
    settings = {"data": str(dataset), "runs_dir": str(runs), "model.ngf": 8, "model.ndf": 8, "batch_size": 4,
                "eval_split": "train", "eval_every": 2, "steps": 4, "log_every": 1, "ema": 0.5} | extra
    return load_config("cpu", settings)


def test_batch_plan_is_a_function_of_the_batch_number():
    drawings = [f"d{i // 3}" for i in range(30)]  # 10 drawings, 3 colourings each
    plan = BatchPlan(drawings, batch_size=6, seed=3)
    run = plan.batches()
    first = [next(run) for _ in range(12)]  # two epochs and more
    assert sorted(i for batch in first[:5] for i in batch) == list(range(30)), "an epoch is every index once"
    assert [next(plan.batches(start=7)) for _ in range(1)] == [first[7]], "a resumed run starts where it stopped"
    assert first[:5] != first[5:10], "each epoch is shuffled anew"
    halves = [BatchPlan(drawings, batch_size=6, seed=3, rank=r, world=2).batches(start=2) for r in (0, 1)]
    assert sorted(next(halves[0]) + next(halves[1])) == sorted(first[2]), "ranks share each global batch"


def test_grouped_batches_keep_colourings_of_a_drawing_together():
    drawings = [f"d{i // 4}" for i in range(40)]
    batch = next(BatchPlan(drawings, batch_size=8, seed=0, group=4).batches())
    assert sorted(len({drawings[i] for i in batch[k:k + 4]}) for k in (0, 4)) == [1, 1]


def test_variant_masks_mark_only_where_colourings_differ(dataset):
    data = PairDataset(dataset, split=None, size=64, cache=True)
    masks = variant_masks(data)
    rows = {r["id"]: r for r in data.rows}
    skin = rows["1F469-1F3FB-200D-1F9B0"]["drawing"]
    assert skin in masks and 0 < masks[skin].mean() < 0.5, "the skin, not the hair or the background"
    heart = rows["1F49A"]["drawing"]
    assert heart in masks
    data.differ = masks
    sample = data[[r["id"] for r in data.rows].index("1F469-1F3FB-200D-1F9B0")]
    assert sample["differ"].shape == (1, 64, 64) and torch.equal(sample["differ"][0].bool(), torch.from_numpy(masks[skin]).bool())


def test_recipe_run_checks_keeps_the_best_and_exports_its_ema(dataset, tmp_path):
    trainer = Trainer(recipe(dataset, tmp_path), progress=False)
    assert trainer.config.gan_lambda == 0 and trainer.config.variant_weight > 0
    d_before = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    trainer.train()
    run = trainer.run_dir
    assert all(torch.equal(d_before[k], v) for k, v in trainer.D.state_dict().items()), "no GAN: D is not trained"
    with (run / "eval.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(0 <= float(r["variant_accuracy"]) <= 1 and float(r["delta_e"]) > 0 for r in rows)
    best = json.loads((run / "best.json").read_text())
    assert best["variant_accuracy"] == max(float(r["variant_accuracy"]) for r in rows)
    state = load_checkpoint(run / "checkpoints" / "best.pt")
    assert state["step"] == best["step"] and state["G_ema"] is not None
    _, weights, _ = load_pretrained(run / "export")
    assert all(torch.equal(weights[k], v) for k, v in state["G_ema"].items()), "the export is the best check's EMA"
    assert not all(torch.equal(state["G_ema"][k], v) for k, v in state["G"].items()), "the EMA is its own average"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0}).Reload()
    assert {"Eval/variant_accuracy", "Eval/delta_e", "Loss/G_L1_differ", "LR/generator"} <= set(events.Tags()["scalars"])
    lrs = [e.value for e in events.Scalars("LR/generator")]
    assert lrs[0] > lrs[-1] >= 0, "cosine decay"


def test_a_minute_budget_stops_training_and_resume_continues_it(dataset, tmp_path):
    trainer = Trainer(recipe(dataset, tmp_path, steps=100000, minutes=0.05, eval_every=0), progress=False)
    trainer.train()
    assert 0 < trainer.step < 100000 and trainer.elapsed >= 3.0
    steps = trainer.step
    state = load_checkpoint(find_checkpoint("latest", tmp_path))
    assert state["elapsed"] == pytest.approx(trainer.elapsed)
    # the new budget is what the first run took plus 3 s, so a slow first step on a busy machine
    # cannot leave the resumed run out of time before it starts
    budget = trainer.elapsed / 60 + 0.05
    again = Trainer.resume("latest", runs_dir=tmp_path, minutes=budget, progress=False)
    assert again.step == steps and again.config.minutes == budget
    first_batch = next(iter(again._loader()))["id"]
    plan = BatchPlan([r.get("drawing") or r["id"] for r in again.dataset.rows], batch_size=4, seed=0)
    expected = [again.dataset.rows[i]["id"] for i in next(plan.batches(start=steps))]
    assert first_batch == expected, "the batch after the last step, not a fresh shuffle"
    again.train()
    assert again.step > steps and again.elapsed >= trainer.elapsed + 3.0


def test_cli_set_and_minutes(dataset, tmp_path):
    result = CliRunner().invoke(main, ["train", "--data", str(dataset), "--runs-dir", str(tmp_path), "--dry-run",
                                       "--minutes", "7", "--set", "variant_weight=2.5", "--set", "model.dropout=true",
                                       "--set", "lr_decay=none"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.output)
    assert (config["minutes"], config["variant_weight"], config["model"]["dropout"], config["lr_decay"]) == \
        (7, 2.5, True, "none")
    bad = CliRunner().invoke(main, ["train", "--data", str(dataset), "--dry-run", "--set", "varient_weight=2"])
    assert bad.exit_code != 0 and "varient_weight" in bad.output
    bad = CliRunner().invoke(main, ["train", "--data", str(dataset), "--dry-run", "--set", "lr_decay=linear"])
    assert bad.exit_code != 0 and "lr_decay" in bad.output


def test_the_probe_scores_redrawn_lines(dataset, encoder):
    from colorize.config import ModelConfig
    from colorize.models.build import build_generator
    from colorize.text.encoder import TagTable
    from colorize.train.watch import VariantProbe

    probe = VariantProbe(dataset, split="train", size=64, redraw="xdog")
    assert len(probe) >= 5
    assert not np.array_equal(probe.sketches[""][probe.rows[0]["id"]], probe.sketches["xdog"][probe.rows[0]["id"]])
    table = TagTable.build({t for r in probe.rows for t in r["tags"]}, encoder)
    G = build_generator(ModelConfig(size=64, ngf=8, ndf=8, conditioning="tokens", tag_dim=384))
    figures = probe(G, table)
    assert set(figures) == {"variant_accuracy", "delta_e", "l1", "xdog_variant_accuracy"}
    assert G.training, "the probe leaves the generator in the mode it found it"
