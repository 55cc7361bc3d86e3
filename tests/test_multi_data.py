"""Training on several datasets: `--data A --data B:WEIGHT`, one vocabulary, splits and masks kept
per dataset, batches mixed by weight, a check per dataset, and `evaluate` reporting each apart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from colorize.cli import main
from colorize.config import DataSource, TrainConfig, config_from_dict, load_config, parse_data_entry
from colorize.data.manifest import Manifest, write_manifest
from colorize.train.sampler import BatchPlan, MixedBatchPlan
from colorize.train.trainer import Trainer, append_rows, best_key, check_row

WOMAN = "17f55e489992cc5f"  # the drawing of the fixture's three skin tones


@pytest.fixture(scope="module")
def clipart(dataset, tmp_path_factory) -> Path:
    """A second dataset made from the first, shaped like an Openclipart import: every drawing
    coloured once (no variant groups), stored at 128 px instead of 64, a tag of its own, a val
    split. Its drawing ids are the first dataset's: nothing may mix them up."""
    out = tmp_path_factory.mktemp("multi") / "clipart"
    (out / "sketch").mkdir(parents=True)
    (out / "color").mkdir()
    rows, seen = [], set()
    for row in Manifest(dataset):
        if row["is_flag"] or row["drawing"] in seen:
            continue
        seen.add(row["drawing"])
        new = {**row, "id": f"clip-{row['id']}", "tags": [*row["tags"], "clipart"],
               "split": "val" if len(rows) % 3 == 1 else "train"}
        for key in ("sketch", "color"):
            image = cv2.imread(str(dataset / row[key]), cv2.IMREAD_COLOR)
            new[key] = f"{key}/{new['id']}.png"
            cv2.imwrite(str(out / new[key]), cv2.resize(image, (128, 128), interpolation=cv2.INTER_NEAREST))
        rows.append(new)
    write_manifest(out / "manifest.jsonl", rows)
    return out


# -- the entries ------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, path, weight", [
    ("data/openmoji", "data/openmoji", 1.0),
    ("data/openclipart:0.3", "data/openclipart", 0.3),
    ("data/art:2e-1", "data/art", 0.2),
    ("C:\\data\\art", "C:\\data\\art", 1.0),      # a drive letter's colon is no weight
    ("C:\\data\\art:2", "C:\\data\\art", 2.0),
    ("art:v2", "art:v2", 1.0),                      # not a number: part of the path
    ("art:2:1", "art:2", 1.0),                      # a folder named art:2, weight written after it
])
def test_entries_split_on_the_last_colon_only_before_a_number(entry, path, weight):
    assert parse_data_entry(entry) == DataSource(path, weight)


@pytest.mark.parametrize("entry, why", [
    ("data/openclipart:0", "positive"),
    ("data/openclipart:-1", "positive"),
    ("data/openclipart:nan", "positive"),
    ("data/openclipart:inf", "positive"),
    (":0.3", "no folder"),
    ("", "expected a dataset folder"),
])
def test_a_bad_entry_is_refused_by_name(entry, why):
    with pytest.raises(ValueError, match=why) as error:
        parse_data_entry(entry)
    assert repr(entry) in str(error.value)


def test_config_takes_one_folder_or_a_list_and_reads_old_configs():
    old = config_from_dict(TrainConfig, {"data": "data/openmoji"})  # a config.json written before lists
    assert old.data == "data/openmoji" and old.sources == [DataSource("data/openmoji")]
    config = load_config("cpu", {"data": ["data/openmoji", "data/openclipart:0.3"]})
    assert config.sources == [DataSource("data/openmoji"), DataSource("data/openclipart", 0.3)]
    assert config_from_dict(TrainConfig, json.loads(json.dumps(config.to_dict()))) == config, "JSON round trip"
    with pytest.raises(ValueError, match="name the same folder"):
        load_config("cpu", {"data": ["data/openmoji", "data/openmoji/:2"]})
    with pytest.raises(ValueError, match="'data/openclipart:0'"):
        load_config("cpu", {"data": ["data/openmoji", "data/openclipart:0"]})


def test_cli_data_repeats_and_dry_run_shows_the_list(dataset, clipart, tmp_path):
    run = CliRunner().invoke(main, ["train", "--data", str(dataset), "--data", f"{clipart}:0.3",
                                    "--runs-dir", str(tmp_path), "--dry-run"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["data"] == [str(dataset), f"{clipart}:0.3"]
    one = CliRunner().invoke(main, ["train", "--data", str(dataset), "--runs-dir", str(tmp_path), "--dry-run"])
    assert json.loads(one.output)["data"] == str(dataset), "one --data: a plain folder, as before"
    bad = CliRunner().invoke(main, ["train", "--data", str(dataset), "--data", f"{clipart}:-2", "--dry-run"])
    assert bad.exit_code != 0 and f"{clipart}:-2" in bad.output and "positive" in bad.output


# -- the mixture --------------------------------------------------------------------------------

def test_the_mixture_follows_the_weights_not_the_sizes():
    small, large = [f"s{i}" for i in range(10)], [f"l{i}" for i in range(100)]
    plan = MixedBatchPlan([small, large], [3, 1], batch_size=8, seed=1)
    run = plan.batches()
    batches = [next(run) for _ in range(1500)]
    from_small = [i < 10 for batch in batches for i in batch]
    assert sum(from_small) / len(from_small) == pytest.approx(0.75, abs=0.02), "3:1 by weight; by size it is 1:10"
    firsts = [i for b in batches for i in b if i < 10][:10]
    assert sorted(firsts) == list(range(10)), "each dataset: every index once an epoch"
    resumed = plan.batches(start=1200)  # also past a block of draws
    assert [next(resumed) for _ in range(300)] == batches[1200:], "batch n is the same batch whenever asked for"
    ranks = [MixedBatchPlan([small, large], [3, 1], batch_size=8, seed=1, rank=r, world=2).batches(start=5)
             for r in (0, 1)]
    assert sorted(next(ranks[0]) + next(ranks[1])) == sorted(batches[5]), "ranks share each global batch"


@pytest.mark.parametrize("entries, first_share", [
    (["a:1e308", "b:1e308"], 0.5),       # their sum overflows to inf
    (["a:1e308", "b:5e307"], 2 / 3),
])
def test_the_mixture_follows_huge_weights(entries, first_share):
    weights = [s.weight for s in load_config("cpu", {"data": entries}).sources]
    run = MixedBatchPlan([[f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]], weights, batch_size=8,
                         seed=1).batches()
    firsts = [i < 10 for _ in range(1500) for i in next(run)]
    assert sum(firsts) / len(firsts) == pytest.approx(first_share, abs=0.02)


def test_weights_too_far_apart_to_draw_the_smaller_are_refused():
    with pytest.raises(ValueError, match="'b:1e-300': its weight is too small beside 1e\\+300"):
        load_config("cpu", {"data": ["a:1e300", "b:1e-300"]})


def test_one_folder_by_two_names_is_refused(dataset, tmp_path, monkeypatch):
    (tmp_path / "link").symlink_to(dataset, target_is_directory=True)
    monkeypatch.chdir(dataset.parent)
    for other in (f"{dataset}:2", f"{tmp_path / 'link'}:2", f"./{dataset.name}/../{dataset.name}/"):
        with pytest.raises(ValueError, match="name the same folder") as error:
            load_config("cpu", {"data": [dataset.name, other]})
        assert repr(other) in str(error.value) and str(dataset.resolve()) in str(error.value)
    result = CliRunner().invoke(main, ["train", "--data", dataset.name, "--data", f"{dataset}:2", "--dry-run"])
    assert result.exit_code == 1 and "name the same folder" in result.output, result.output


def test_one_dataset_plans_exactly_as_before():
    drawings = [f"d{i // 3}" for i in range(30)]
    mixed = MixedBatchPlan([drawings], [0.5], batch_size=6, seed=3, group=3).batches(start=4)
    plain = BatchPlan(drawings, batch_size=6, seed=3, group=3).batches(start=4)
    assert [next(mixed) for _ in range(12)] == [next(plain) for _ in range(12)]


def test_groups_stay_together_within_their_own_dataset():
    # both datasets use the drawing ids d0, d1, ...: a group is never made across them
    a, b = [f"d{i // 4}" for i in range(40)], [f"d{i // 4}" for i in range(40)]
    plan = MixedBatchPlan([a, b], [1, 1], batch_size=8, seed=0, group=4)
    for batch in (next(plan.batches(start=n)) for n in range(20)):
        for unit in (batch[:4], batch[4:]):
            assert len({i < 40 for i in unit}) == 1, "a unit comes from one dataset"
            assert len({(i < 40, (a + b)[i]) for i in unit}) == 1, "and holds one drawing's colourings"


# -- a run on two datasets -------------------------------------------------------------------------

def tiny(data: list[str], runs: Path, **extra) -> TrainConfig:
    """The cpu preset at tiny widths; checks on the train split, where the first dataset has variant groups."""
    settings = {"data": data, "runs_dir": str(runs), "model.ngf": 8, "model.ndf": 8, "batch_size": 4,
                "eval_split": "train", "eval_every": 2, "steps": 4, "log_every": 1, "ema": 0.5} | extra
    return load_config("cpu", settings)


def ids_of(trainer: Trainer, indices: list[int]) -> list[str]:
    """Row ids of indices into the datasets laid end to end."""
    ends = np.cumsum([len(d) for d in trainer.datasets])
    out = []
    for i in indices:
        k = int(np.searchsorted(ends, i, side="right"))
        out.append(trainer.datasets[k].rows[i - (ends[k - 1] if k else 0)]["id"])
    return out


@pytest.fixture(scope="module")
def two(dataset, clipart, tmp_path_factory):
    """Four steps on both datasets (clipart weighted 3 to 1), then a resume to six."""
    runs = tmp_path_factory.mktemp("runs")
    trainer = Trainer(tiny([str(dataset), f"{clipart}:3"], runs), progress=False)
    plan = trainer.plan()
    trainer.train()
    resumed = Trainer.resume("latest", runs_dir=runs, steps=6, progress=False)
    first = next(iter(resumed._loader()))["id"]
    resumed.train()
    return trainer, plan, resumed, first


def test_vocabulary_is_the_union_and_splits_stay_apart(two, dataset, clipart):
    trainer = two[0]
    assert {"clipart", "woman", "red heart"} <= set(trainer.table.vocab)
    assert [len(d) for d in trainer.datasets] == [9, 4], "each dataset's own train split, flags left out"
    assert all(r["id"].startswith("clip-") for r in trainer.datasets[1].rows)
    assert trainer.names == [dataset.name, "clipart"]


def test_batches_follow_the_weights(two):
    trainer, plan = two[0], two[1]
    run = plan.batches()
    ids = [i for _ in range(1000) for i in next(run)]
    share = sum(i < len(trainer.datasets[0]) for i in ids) / len(ids)
    assert share == pytest.approx(0.25, abs=0.03), "1:3 by weight, although the first is twice the larger"


def test_variant_masks_are_kept_per_dataset(two):
    first, second = two[0].datasets
    assert WOMAN in first.differ and WOMAN not in second.differ, "one colouring of it in the second: no mask"
    woman = next(i for i, r in enumerate(second.rows) if r["drawing"] == WOMAN)
    assert not second[woman]["differ"].any(), "the first dataset's mask for the same drawing id is not used"
    assert second[woman]["target"].shape == (3, 64, 64), "128 px images are brought to the training size"


def test_resume_keeps_the_data_and_continues_the_plan(two, dataset, clipart):
    _, plan, resumed, first = two
    assert resumed.config.data == [str(dataset), f"{clipart}:3"]
    assert first == ids_of(resumed, next(plan.batches(start=4))), "the batch after the last step"
    assert resumed.step == 6


def test_each_dataset_is_checked_and_the_first_picks_the_best(two, dataset):
    run = two[2].run_dir
    with (run / "eval.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = (dataset.name, "clipart")
    assert [(int(r["step"]), r["dataset"]) for r in rows] == [(s, n) for s in (2, 4, 6) for n in names]
    for r in rows:
        assert float(r["delta_e"]) > 0 and float(r["l1"]) > 0
        assert (r["variant_accuracy"] != "") == (r["dataset"] == dataset.name), "no variant groups in clipart"
    best = json.loads((run / "best.json").read_text())
    assert best["dataset"] == dataset.name and set(best["datasets"]) == {dataset.name, "clipart"}
    assert best["variant_accuracy"] == max(float(r["variant_accuracy"]) for r in rows if r["dataset"] == dataset.name)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = set(EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0}).Reload().Tags()["scalars"])
    assert {f"Eval/{dataset.name}/variant_accuracy", "Eval/clipart/delta_e", "Eval/clipart/l1"} <= scalars
    assert "Eval/clipart/variant_accuracy" not in scalars


def test_eval_pick_mean_ranks_checks_by_every_dataset_not_the_first():
    when = {"step": 500, "minutes": 1.0}
    early = {"openmoji": {"variant_accuracy": 0.99, "traced_variant_accuracy": 0.50, "delta_e": 4.0},
             "noto": {"variant_accuracy": 0.40, "traced_variant_accuracy": 0.40, "delta_e": 9.0}}
    later = {"openmoji": {"variant_accuracy": 0.95, "traced_variant_accuracy": 0.80, "delta_e": 4.5},
             "noto": {"variant_accuracy": 0.80, "traced_variant_accuracy": None, "delta_e": 8.0},
             "fxemoji": {"delta_e": 7.0}}  # a set with no variant groups has no accuracy
    # by the reference alone, the early check is the better one
    assert best_key(check_row(when, early)) > best_key(check_row(when, later))
    assert "pick" not in check_row(when, early)
    # by the mean of every accuracy measured, the later one is
    row = check_row(when, later, "mean")
    assert row["pick"] == pytest.approx((0.95 + 0.80 + 0.80) / 3)
    assert row["dataset"] == "openmoji" and row["variant_accuracy"] == 0.95 and set(row["datasets"]) == set(later)
    assert best_key(row) > best_key(check_row(when, early, "mean"))


def test_eval_csv_of_an_older_run_widens_instead_of_misaligning(tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text("step,minutes,variant_accuracy,delta_e\n2,0.1,0.5,9.0\n", encoding="utf-8")  # before datasets
    append_rows(path, [{"step": 4, "minutes": 0.2, "dataset": "openmoji", "variant_accuracy": 0.6, "delta_e": 8.0,
                        "l1": 0.1}])
    append_rows(path, [{"step": 6, "minutes": 0.3, "dataset": "openmoji", "delta_e": 7.0, "l1": 0.1}])
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["dataset"], r["variant_accuracy"], r["delta_e"]) for r in rows] == \
        [("2", "", "0.5", "9.0"), ("4", "openmoji", "0.6", "8.0"), ("6", "openmoji", "", "7.0")]


def test_a_dataset_with_no_train_split_is_named(dataset, clipart, tmp_path):
    only_val = tmp_path / "only-val"
    only_val.mkdir()
    rows = [r for r in Manifest(clipart) if r["split"] == "val"]
    for r in rows:
        for key in ("sketch", "color"):
            (only_val / r[key]).parent.mkdir(exist_ok=True)
            (only_val / r[key]).write_bytes((clipart / r[key]).read_bytes())
    write_manifest(only_val / "manifest.jsonl", rows)
    with pytest.raises(ValueError, match=f"{only_val}: the train split is empty.*Drop it from --data"):
        Trainer(tiny([str(dataset), str(only_val)], tmp_path / "runs"), progress=False)


# -- evaluation -----------------------------------------------------------------------------------

def test_evaluate_reports_each_dataset_apart(tiny_model, dataset, clipart, tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", str(tiny_model), "--data", str(dataset), "--data", str(clipart),
                                       "--split", "train", "-o", str(out), "--no-baseline"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluation.json").read_text())
    assert list(report["datasets"]) == [dataset.name, "clipart"]
    assert report["datasets"][dataset.name]["conditions"]["tags"]["all"]["count"] == 9
    clip = report["datasets"]["clipart"]["conditions"]["tags"]["all"]
    assert clip["count"] == 4 and clip["variant"]["groups"] == 0 and clip["delta_e"] > 0
    text = (out / "evaluation.md").read_text()
    assert f"## {dataset.name}" in text and "## clipart" in text and text.count("| tags |") == 2
    # a split one of them lacks: that one says so, the other is scored
    val = CliRunner().invoke(main, ["evaluate", str(tiny_model), "--data", str(dataset), "--data", str(clipart),
                                    "-o", str(tmp_path / "val"), "--no-baseline"])
    assert val.exit_code == 0, val.output
    assert "has no `val` split" in val.output
    assert json.loads((tmp_path / "val" / "evaluation.json").read_text())["datasets"]["clipart"]["conditions"]
