"""`colorize train` end to end at 64 px: run folders, TensorBoard, checkpoints, resume, Ctrl-C, crashes, DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from colorize.cli import main
from colorize.config import ModelConfig, load_config
from colorize.models.build import build_generator
from colorize.models.io import load_checkpoint, load_pretrained, save_checkpoint
from colorize.train.checkpoint import find_checkpoint
from colorize.train.sampler import BatchPlan, MixedBatchPlan
from colorize.train.trainer import Trainer

# The cpu preset at tiny widths, with the GAN term on (the preset trains without one), so the
# whole pix2pix step is exercised; no EMA and no checks, so the export is the last weights.
# tests/test_recipe.py covers the recipe's own parts.
TINY = ["--size", "64", "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--workers", "0",
        "--log-every", "1", "--image-every", "2", "--set", "gan_lambda=1", "--set", "ema=0", "--eval-every", "0"]


def train_args(dataset: Path, runs: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(dataset), "--runs-dir", str(runs), *TINY, *extra]


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """Four steps through the CLI, then a resume to six."""
    runs = tmp_path_factory.mktemp("runs")
    first = CliRunner().invoke(main, train_args(dataset, runs, "--steps", "4", "--save-every", "2"))
    assert first.exit_code == 0, first.output
    resumed = CliRunner().invoke(main, ["train", "--resume", "latest", "--runs-dir", str(runs), "--steps", "6"])
    assert resumed.exit_code == 0, resumed.output
    return runs


def test_run_folder_has_config_tensorboard_checkpoints_and_export(trained):
    runs = sorted(trained.iterdir())
    assert [p.name for p in runs] == ["00000-cpu"], "resuming continues the same run folder"
    run = runs[0]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["size"] == 64 and config["steps"] == 6
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "export" / "model.safetensors").is_file() and (run / "export" / "config.json").is_file()


def test_resume_continues_the_step_count(trained):
    run = trained / "00000-cpu"
    steps = sorted(p.name for p in (run / "checkpoints").glob("step-*.pt"))
    assert steps == ["step-0000002.pt", "step-0000004.pt", "step-0000006.pt"]
    state = load_checkpoint(find_checkpoint("latest", trained))
    assert state["step"] == 6


def test_tensorboard_has_namespaced_scalars_and_images(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained / "00000-cpu" / "tb"), size_guidance={"images": 0, "scalars": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"Loss/D", "Loss/G_GAN", "Loss/G_L1", "Speed/images_per_s"} <= scalars
    assert events.Scalars("Loss/G_L1")[-1].step == 6
    assert "Samples/sketch_output_target" in events.Tags()["images"]


def test_checkpoint_is_complete_and_round_trips(trained, dataset):
    path = find_checkpoint("latest", trained)
    state = load_checkpoint(path)
    for key in ("G", "D", "opt_g", "opt_d", "scaler", "step", "config", "encoder", "vocab", "vectors", "version"):
        assert key in state, key
    assert state["encoder"]["name"] == "all-MiniLM-L6-v2" and len(state["vocab"]) == state["vectors"].shape[0]
    trainer = Trainer.resume(path, progress=False)
    for name, tensor in state["G"].items():
        assert torch.equal(trainer.G.state_dict()[name], tensor), name
    assert trainer.opt_d.state_dict()["state"][0]["exp_avg"].equal(state["opt_d"]["state"][0]["exp_avg"])
    assert trainer.step == 6


def test_export_loads_without_code_and_matches_the_checkpoint(trained):
    run = trained / "00000-cpu"
    config, weights, vectors = load_pretrained(run / "export")
    G = build_generator(ModelConfig(**config["model"]))
    G.load_state_dict(weights)
    state = load_checkpoint(find_checkpoint("latest", trained))
    assert all(torch.equal(weights[k], v) for k, v in state["G"].items())
    assert vectors.shape == (len(config["vocab"]), 384) and config["encoder"]["name"] == "all-MiniLM-L6-v2"


def copy_run(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run (steps 2, 4 and 6 on disk) that a test may change."""
    shutil.copytree(trained, tmp_path / "runs")
    return tmp_path / "runs" / "00000-cpu"


def exported(run: Path, out: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """`colorize export RUN -o OUT`: its output line, and the generator weights written."""
    result = CliRunner().invoke(main, ["export", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, load_pretrained(out)[1]


def test_a_run_without_export_exports_its_newest_checkpoint(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    shutil.rmtree(run / "export")  # as a run stopped before its first export leaves it
    output, weights = exported(run, tmp_path / "out")
    newest = run / "checkpoints" / "step-0000006.pt"
    assert f"from {newest} (step 6)" in output
    assert all(torch.equal(weights[k], v) for k, v in load_checkpoint(newest)["G"].items())


def test_a_run_without_export_exports_its_best_checkpoint_first(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    shutil.rmtree(run / "export")
    older = run / "checkpoints" / "step-0000004.pt"
    shutil.copy(older, run / "checkpoints" / "best.pt")  # the best check was at step 4
    output, weights = exported(run, tmp_path / "out")
    assert f"from {run / 'checkpoints' / 'best.pt'} (step 4)" in output
    assert all(torch.equal(weights[k], v) for k, v in load_checkpoint(older)["G"].items())
    assert not all(torch.equal(weights[k], v) for k, v in load_checkpoint(run / "checkpoints" / "step-0000006.pt")
                   ["G"].items()), "steps 4 and 6 differ, so the test tells them apart"


def test_a_run_with_nothing_saved_yet_says_so(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    shutil.rmtree(run / "export")
    for path in sorted((run / "checkpoints").iterdir()):
        path.unlink()
    result = CliRunner().invoke(main, ["export", str(run), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "this run has no export/ and no checkpoint yet" in result.output


@pytest.mark.parametrize("section, key, value, words", [
    ("train", "gan_loss", "wasserstein", "unknown gan_loss 'wasserstein'"),
    ("model", "ngf", 0, "model.ngf must be a whole number from 1 to 512, got 0"),
])
def test_resuming_a_checkpoint_with_a_bad_setting_names_the_file(trained, tmp_path, section, key, value, words):
    run = copy_run(trained, tmp_path)
    path = run / "checkpoints" / "step-0000006.pt"
    state = torch.load(path, weights_only=True)
    (state["config"] if section == "train" else state["config"]["model"])[key] = value
    torch.save(state, path)
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--steps", "7"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"{path}: {words}" in result.output


# Starts writing a checkpoint as save_checkpoint does, then waits to be killed outright.
KILLED_SAVE = """
import sys, time
from colorize.fileio import atomic_open
with atomic_open(sys.argv[1], "wb") as f:
    f.write(b"x" * 1_000_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


@pytest.mark.timeout(180)
def test_a_resume_removes_what_killed_saves_left_and_nothing_else(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    killed = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(run / "checkpoints" / "step-0000008.pt")],
                              stdout=subprocess.PIPE, text=True, env=_child_env())
    assert killed.stdout.readline() == "writing\n"
    killed.kill()  # SIGKILL: no chance to remove its temporary file
    killed.wait(timeout=60)
    left = sorted(p.name for p in (run / "checkpoints").glob(".*.tmp"))
    assert len(left) == 1 and left[0].startswith(".step-0000008.pt."), left
    (run / "checkpoints" / ".best.pt.k3j2x9_a.tmp").write_bytes(b"x" * 1000)
    (run / "export" / ".model.safetensors.q8w7e6r5.tmp").write_bytes(b"x" * 1000)
    kept = [run / "checkpoints" / ".notes.txt.k3j2x9_a.tmp",  # not a file a save writes
            run / "checkpoints" / "step-0000008.pt.tmp",  # not atomic_open's temporary name
            run / ".step-0000008.pt.k3j2x9_a.tmp",  # outside checkpoints/ and export/
            run / "tb" / ".step-0000008.pt.k3j2x9_a.tmp"]
    for path in kept:
        path.write_bytes(b"mine")
    Trainer.resume(run, steps=7, progress=False)
    assert not list((run / "checkpoints").glob(".step-*.tmp")) and not list((run / "checkpoints").glob(".best*.tmp"))
    assert not list((run / "export").glob(".*.tmp"))
    assert all(path.read_bytes() == b"mine" for path in kept)
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == [
        "step-0000002.pt", "step-0000004.pt", "step-0000006.pt"], "finished checkpoints stay"
    assert "Removed 3 unfinished file(s), 1 MB, left by saves that were killed" in capsys.readouterr().err


def test_checkpoints_rotate_and_a_damaged_one_is_named(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, {"x": torch.tensor(step)}, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0000004.pt", "step-0000005.pt"]
    (tmp_path / "step-0000005.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="step-0000005.pt"):
        load_checkpoint(tmp_path / "step-0000005.pt")


def test_dry_run_prints_the_resolved_config(dataset, tmp_path):
    result = CliRunner().invoke(main, train_args(dataset, tmp_path, "--dry-run", "--conditioning", "channel"))
    assert result.exit_code == 0, result.output
    config = json.loads(result.output)
    assert config["model"]["conditioning"] == "channel" and config["model"]["levels"] == 6
    assert not list(tmp_path.iterdir()), "a dry run writes nothing"


def test_resume_refuses_config_changes_and_missing_runs(tmp_path):
    result = CliRunner().invoke(main, ["train", "--resume", "latest", "--runs-dir", str(tmp_path)])
    assert result.exit_code != 0 and "no run with a checkpoint" in result.output
    result = CliRunner().invoke(main, ["train", "--resume", "latest", "--runs-dir", str(tmp_path), "--size", "32"])
    assert result.exit_code != 0 and "--size" in result.output


def test_runs_never_overwrite_each_other(dataset, tmp_path):
    for _ in range(2):
        trainer = Trainer(load_config("cpu", {"data": str(dataset), "runs_dir": str(tmp_path), "steps": 1,
                                              "model.size": 64, "model.ngf": 8, "model.ndf": 8, "workers": 0,
                                              "batch_size": 2, "eval_every": 0}), progress=False)
        trainer.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000-cpu", "00001-cpu"]


def tiny_trainer(data: Path, runs: Path, steps: int) -> Trainer:
    """The tiny model on ``data``, images read from disk at every step (no cache)."""
    return Trainer(load_config("cpu", {"data": str(data), "runs_dir": str(runs), "steps": steps, "model.size": 64,
                                       "model.ngf": 8, "model.ndf": 8, "workers": 0, "batch_size": 2,
                                       "eval_every": 0, "cache": False, "save_every": 1000}), progress=False)


def break_colour_images(data: Path) -> None:
    for image in (data / "color").iterdir():
        image.write_bytes(b"not a png")


def test_a_malformed_manifest_fails_before_training_with_its_line(dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    lines = (data / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    lines[3] = json.dumps(json.loads(lines[3]) | {"split": "vall"})
    (data / "manifest.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = CliRunner().invoke(main, train_args(data, tmp_path / "runs", "--steps", "2"))
    assert result.exit_code == 1
    assert f"{data / 'manifest.jsonl'}, line 4: split is a string (\"vall\")" in result.output
    assert "Fix line 4 or rebuild the dataset." in result.output
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir()), "no run folder, no step"


def test_a_crash_mid_training_saves_a_resumable_checkpoint_and_is_raised(dataset, tmp_path, capsys):
    data, runs = tmp_path / "data", tmp_path / "runs"
    shutil.copytree(dataset, data)
    trainer = tiny_trainer(data, runs, steps=10)
    step = trainer.train_step

    def step_then_break_the_images(batch):
        out = step(batch)
        if trainer.step == 1:  # the second step: no colour image decodes from the next batch on
            break_colour_images(data)
        return out

    trainer.train_step = step_then_break_the_images
    with pytest.raises(OSError, match="unreadable color image"):
        trainer.train()
    checkpoint = find_checkpoint("latest", runs)
    assert checkpoint.name == "step-0000002.pt"
    assert (f"Training stopped at step 2 by OSError; saved {checkpoint}. Fix the cause (below), "
            f"then resume with --resume latest.") in capsys.readouterr().err
    shutil.rmtree(data)
    shutil.copytree(dataset, data)  # the images repaired, the run goes on from the checkpoint
    resumed = Trainer.resume(checkpoint, steps=3, progress=False)
    assert resumed.step == 2
    assert resumed.train() == checkpoint.parent / "step-0000003.pt"


def test_a_crash_before_the_first_step_saves_nothing(dataset, tmp_path, capsys):
    data, runs = tmp_path / "data", tmp_path / "runs"
    shutil.copytree(dataset, data)
    trainer = tiny_trainer(data, runs, steps=10)
    break_colour_images(data)
    with pytest.raises(OSError, match="unreadable color image"):
        trainer.train()
    assert not list(runs.glob("*/checkpoints/*.pt"))
    assert "Training stopped at step 0 by OSError; no step since the start, so nothing was saved." in \
        capsys.readouterr().err


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_ctrl_c_saves_a_valid_checkpoint(dataset, tmp_path):
    cmd = [sys.executable, "-m", "colorize", *train_args(dataset, tmp_path, "--steps", "100000", "--save-every", "100000")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env())
    deadline = time.time() + 120
    events = []
    while time.time() < deadline and not events:  # wait until training is under way
        time.sleep(0.5)
        events = list(tmp_path.glob("*/tb/events.*"))
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "saving a checkpoint" in err and "Resume with --resume latest" in err
    state = load_checkpoint(find_checkpoint("latest", tmp_path))
    assert 0 < state["step"] < 100000


def test_ddp_with_two_processes_on_gloo(dataset, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "colorize", *train_args(dataset, tmp_path, "--steps", "3")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_child_env())
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1, "only rank 0 makes a run folder"
    state = load_checkpoint(find_checkpoint("latest", tmp_path))
    assert state["step"] == 3
    config = json.loads((runs[0] / "config.json").read_text())
    assert config["batch_size"] == 2


def same_state(a, b, where: str = "state") -> None:
    """Assert that two (nested) state dicts hold the same values, tensors compared exactly."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            same_state(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_resume_restores_the_whole_training_state(dataset, tmp_path):
    """A resumed trainer holds exactly what the run had when it saved: both optimisers, the EMA
    (and its update count, which sets its warm-up), the time trained, the best check, the step
    and the place in the batch plan. Each part is checked against the live trainer that saved
    it, so a part left out of the checkpoint is caught as well as one not read back."""
    config = load_config("cpu", {"data": str(dataset), "runs_dir": str(tmp_path), "steps": 3, "model.size": 64,
                                 "model.ngf": 8, "model.ndf": 8, "workers": 0, "batch_size": 2, "gan_lambda": 1,
                                 "ema": 0.5, "eval_every": 2, "eval_split": "train", "save_every": 1000})
    first = Trainer(config, progress=False)
    path = first.train()
    again = Trainer.resume(path, progress=False)

    assert first.step == again.step == 3
    for name in ("opt_g", "opt_d"):
        saved = getattr(first, name).state_dict()
        assert saved["state"], f"{name} has moments to lose"
        same_state(getattr(again, name).state_dict(), saved, name)
    ema = first.ema.state_dict()
    assert any(not torch.equal(v, first.G.state_dict()[k]) for k, v in ema.items() if v.is_floating_point()), \
        "the EMA has drifted from G, so a resume that rebuilt it from G would show"
    same_state(again.ema.state_dict(), ema, "G_ema")
    assert again.ema.updates == first.ema.updates == 3
    assert first.elapsed > 0 and again.elapsed == first.elapsed
    assert first.best is not None and first.best["step"] in (2, 3)
    assert again.best == first.best

    plan = first.plan()
    assert next(plan.batches(start=0)) != next(plan.batches(start=3)), "batch 3 tells a restart from batch 0"
    resumed_batch = next(iter(again._loader()))["id"]
    assert resumed_batch == [again.dataset.rows[i]["id"] for i in next(plan.batches(start=3))]


def take(batches, count: int) -> list[list[int]]:
    return [next(batches) for _ in range(count)]


@pytest.mark.timeout(60)  # a plan with no batch in an epoch would loop for ever without yielding
@pytest.mark.parametrize("make", [
    lambda drawings, **kw: BatchPlan(drawings, **kw),
    lambda drawings, **kw: MixedBatchPlan([drawings], [1.0], **kw),  # what the trainer uses
], ids=["BatchPlan", "MixedBatchPlan"])
@pytest.mark.parametrize("size, batch_size, per_epoch", [(10, 4, 2), (8, 4, 2), (3, 4, 1)])
def test_an_epochs_last_partial_batch_is_dropped(make, size, batch_size, per_epoch):
    """Every step gets a full batch: an epoch's last ``size % batch_size`` indices are left out,
    and the next epoch starts a fresh shuffle. So batch n is one fixed slice of one epoch (a
    resume finds it from n alone), BatchNorm never sees a batch of one, and under DDP no rank is
    left without samples. Only a dataset smaller than one batch gives a short batch: all of it."""
    plan = make([f"d{i}" for i in range(size)], batch_size=batch_size, seed=5)
    batches = take(plan.batches(), 3 * per_epoch)
    one = BatchPlan([f"d{i}" for i in range(size)], batch_size=batch_size, seed=5)  # the epochs' orders
    for n, batch in enumerate(batches):
        epoch, within = divmod(n, per_epoch)
        assert batch == one.epoch(epoch)[within * batch_size:(within + 1) * batch_size], f"batch {n}"
        assert len(batch) == min(size, batch_size), f"batch {n} is full"
    left_out = set(range(size)) - {i for batch in batches[:per_epoch] for i in batch}
    assert len(left_out) == size % batch_size if size >= batch_size else not left_out
    assert take(plan.batches(start=1), 2) == batches[1:3], "a resume starts at the batch it names"
    ranks = [take(make([f"d{i}" for i in range(size)], batch_size=batch_size, seed=5, rank=r, world=2).batches(),
                  3 * per_epoch) for r in (0, 1)]
    for n, batch in enumerate(batches):  # each rank gets its half of every full batch, none goes without
        assert sorted(ranks[0][n] + ranks[1][n]) == sorted(batch) and ranks[0][n] and ranks[1][n], f"batch {n}"


def test_init_starts_from_a_model_and_refuses_one_of_another_shape(trained, dataset, tmp_path):
    """--init (fine-tuning): the new run's generator starts as the model's, and a model whose
    networks differ from the run's settings is refused, by folder and field."""
    export = trained / "00000-cpu" / "export"
    _, weights, _ = load_pretrained(export)
    config = load_config("cpu", {"data": str(dataset), "model.size": 64, "model.ngf": 8, "model.ndf": 8,
                                 "workers": 0, "eval_every": 0, "runs_dir": str(tmp_path), "init": str(export)})
    started = Trainer(config, progress=False).G.state_dict()
    assert started.keys() == weights.keys()
    for key, value in weights.items():
        assert torch.equal(started[key].float(), value), key
    fresh = Trainer(dataclasses.replace(config, init=""), progress=False).G.state_dict()
    assert any(not torch.equal(fresh[k].float(), weights[k]) for k in weights), "without init the weights are new"

    wider = CliRunner().invoke(main, train_args(dataset, tmp_path, "--steps", "1", "--ngf", "16", "--init", str(export)))
    assert wider.exit_code != 0
    assert str(export) in wider.output and "model.ngf is 8 there, 16 here" in wider.output
