"""Metrics on known inputs, variant accuracy with an oracle and a constant colourizer, the
evaluate / ablate / ablate-train commands on a tiny real dataset and model, and the tag measures
(evaluate's baseline and ceiling, ablate's conditions) on a model whose tag effect is known."""

from __future__ import annotations

import json
import math
import random
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from colorize.cli import main
from colorize.colour import delta_e
from colorize.eval.ablate import ablate, swap_colour
from colorize.eval.evaluate import evaluate, load_split, to_markdown
from colorize.eval.metrics import chroma, image_metrics, psnr_ceiling, variant_groups, variant_hits
from colorize.infer.colorizer import Colorizer
from colorize.infer.swap import swap_groups
from colorize.train.trainer import desaturate_some
from tests.conftest import PAINT_BASE, PAINTS


def test_identical_images_score_perfectly():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    scores = image_metrics(image, image.copy())
    assert scores["delta_e"] == 0.0 and scores["l1"] == 0.0 and scores["ssim"] == 1.0
    # capped, not infinite, so that one identical image cannot make a split's mean PSNR infinite;
    # the cap is above any pair that differs, even by a single level in a single value
    one_off = image.copy()
    one_off[0, 0, 0] = image[0, 0, 0] ^ 1
    assert math.isfinite(scores["psnr"]) and scores["psnr"] == pytest.approx(psnr_ceiling(image.shape))
    assert image_metrics(one_off, image)["psnr"] == pytest.approx(scores["psnr"])
    assert image_metrics(np.clip(image.astype(int) + 1, 0, 255).astype(np.uint8), image)["psnr"] < scores["psnr"]


def test_metrics_on_known_differences():
    black, white = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8)
    scores = image_metrics(black, white)
    assert scores["l1"] == pytest.approx(1.0)
    assert scores["psnr"] == pytest.approx(0.0, abs=1e-6)       # MSE = 255^2
    assert scores["delta_e"] == pytest.approx(100.0, abs=0.01)   # L* 0 against 100
    grey = np.full((16, 16, 3), 100, np.uint8)
    assert image_metrics(grey, grey + 10)["psnr"] == pytest.approx(10 * math.log10(255 ** 2 / 100))
    assert chroma(grey) < 0.01  # D65 white point rounding leaves a trace
    assert chroma(np.full((4, 4, 3), (255, 0, 0), np.uint8)) > 100


def test_variant_hits_compare_only_where_the_colourings_differ():
    base = np.full((8, 8, 3), 255, np.uint8)
    red, blue = base.copy(), base.copy()
    red[:2], blue[:2] = (255, 0, 0), (0, 0, 255)
    assert variant_hits([red, blue], [red, blue]) == [True, True]
    assert variant_hits([blue, red], [red, blue]) == [False, False]
    assert variant_hits([base, base], [base, base]) is None  # nothing tells them apart


class _Model:
    """What evaluate needs of a colorizer when the colouring itself is passed in."""

    size, source, step = 64, "test", 0


@pytest.fixture(scope="module")
def split(dataset):
    return load_split(dataset, None, 64)


def test_oracle_scores_one_and_constant_scores_chance(dataset, split):
    rows, sketches, colours = split
    assert variant_groups(rows, colours), "the test dataset must hold a drawing in several colourings"
    by_tags = {tuple(r["tags"]): colours[r["id"]] for r in rows}

    def oracle(images, tag_sets):
        return [by_tags.get(tuple(t), image) for image, t in zip(images, tag_sets, strict=True)]

    def constant(images, tag_sets):
        return [np.full_like(image, 128) for image in images]

    right = evaluate(_Model(), dataset, split=None, colour=oracle, progress=False)
    variant = right["conditions"]["tags"]["all"]["variant"]
    assert variant["accuracy"] == 1.0 and variant["groups"] >= 2
    assert right["conditions"]["tags"]["all"]["psnr"] == pytest.approx(psnr_ceiling(colours[rows[0]["id"]].shape))
    flat = evaluate(_Model(), dataset, split=None, colour=constant, progress=False, baseline=False)
    variant = flat["conditions"]["tags"]["all"]["variant"]
    assert variant["accuracy"] == pytest.approx(variant["chance"]) and variant["chance"] < 0.6
    assert "no_tags" not in flat["conditions"]


def test_flags_are_scored_separately(dataset):
    results = evaluate(_Model(), dataset, split=None, progress=False, baseline=False,
                       colour=lambda images, tags: images)
    parts = results["conditions"]["tags"]
    assert parts["flags"]["count"] == 3 and parts["all"]["count"] == 9
    assert "(flags)" in to_markdown(results)


def test_evaluate_command_writes_json_and_markdown(tiny_model, dataset, tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", str(tiny_model), "--data", str(dataset), "--split", "train",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluation.json").read_text())
    # the split holds variant groups, so they are scored once more on traced lines, for the hands table
    assert set(report["conditions"]) == {"tags", "no_tags", "tags, traced lines"} and report["size"] == 32
    assert set(report["hands"]) == {"own", "traced", "no_tags"}
    markdown = (out / "evaluation.md").read_text()
    assert "| tags |" in markdown and f"| {dataset.name} | " in markdown and f"| {dataset.name} | " in result.output
    again = CliRunner().invoke(main, ["evaluate", str(tiny_model), "--data", str(dataset), "-o", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_swap_changes_one_colour_word_within_the_vocabulary():
    groups = swap_groups(["red heart", "blue heart", "woman", "light skin tone", "medium-light skin tone",
                         "dark skin tone"])
    tags, old, new = swap_colour(["red heart"], groups, random.Random(0))
    assert (tags, old, new) == (["blue heart"], "red heart", "blue heart")
    tags, old, new = swap_colour(["woman", "medium-light skin tone"], groups, random.Random(0))
    assert old == "medium-light skin tone" and new in {"light skin tone", "dark skin tone"} and tags[0] == "woman"
    assert swap_colour(["woman"], groups, random.Random(0)) is None


def test_ablate_writes_every_promised_file(tiny_model, dataset, tmp_path):
    out = tmp_path / "ablation"
    result = CliRunner().invoke(main, ["ablate", str(tiny_model), "--data", str(dataset), "--split", "train",
                                       "-o", str(out), "--maps", "2"])
    assert result.exit_code == 0, result.output
    for name in ("metrics.csv", "metrics.md", "ablation.json", "influence.csv", "sheets/sheet-01.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "influence").glob("*.png"))) >= 1
    report = json.loads((out / "ablation.json").read_text())
    assert {"full", "no tags", "shuffled", "leave-one-out"} <= set(report["conditions"])
    assert report["conditions"]["full"]["change"] == 0.0
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("condition,samples,l1,psnr,ssim,delta_e")


def test_monochrome_targets_turn_grey_and_get_the_tag():
    target = torch.rand(4, 3, 8, 8) * 2 - 1
    grey, tags = desaturate_some(target, [["a"], ["b"], [], ["c"]], share=1.0, rng=random.Random(0))
    assert all(t[-1] == "monochrome" for t in tags)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    same, untouched = desaturate_some(target, [["a"]] * 4, share=0.0, rng=random.Random(0))
    assert same is target and untouched == [["a"]] * 4


def test_ablate_train_compares_modes_and_resumes(dataset, tmp_path):
    out = tmp_path / "sweep"
    args = ["ablate-train", "--data", str(dataset), "-o", str(out), "--modes", "none,film", "--steps", "2",
            "--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--monochrome", "0.5", "--eval-split", "train"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    for name in ("comparison.md", "comparison.csv", "comparison.json", "comparison.png"):
        assert (out / name).is_file(), name
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [r["run"] for r in runs] == ["none", "film"]
    # each run is also scored with lines in another hand (traced), beside its own
    assert all(0 <= r["variant_accuracy_traced"] <= 1 and r["delta_e_traced"] > 0 for r in runs)
    assert "| traced lines |" in (out / "comparison.md").read_text()
    assert (out / "runs" / "film" / "evaluation.json").is_file()
    assert "monochrome" in json.loads((out / "runs" / "film" / "export" / "config.json").read_text())["vocab"]
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and second.output.count("skipped") == 2, second.output


def test_ablate_train_with_minutes_variants_and_curves(dataset, tmp_path):
    out = tmp_path / "study"
    args = ["ablate-train", "--data", str(dataset), "-o", str(out), "--modes", "film,tokens", "--minutes", "0.03",
            "--steps", "1000", "--ngf", "8", "--ndf", "8", "--batch-size", "4", "--eval-every", "2",
            "--eval-split", "train", "--variant", "gan: gan_lambda=1", "--variant", "channel-128: model.conditioning=\"channel\", model.size=128",
            "--set", "ema=0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [r["run"] for r in runs] == ["gan-film", "gan-tokens", "channel-128"]
    for r in runs:
        config = json.loads((out / "runs" / r["run"] / "config.json").read_text())
        assert config["minutes"] == 0.03 and 0 < r["steps"] < 1000, "the minutes stopped each run"
        assert r["best_check_variant_accuracy"] is not None and r["images_per_minute"] > 0
    assert config["model"]["size"] == 128 and config["model"]["levels"] == 7 and config["gan_lambda"] == 0
    assert json.loads((out / "runs" / "gan-film" / "config.json").read_text())["gan_lambda"] == 1
    assert "images / min" in (out / "comparison.md").read_text()
    bad = CliRunner().invoke(main, [*args[:5], "--variant", "oops gan_lambda=0"])
    assert bad.exit_code != 0 and "NAME: KEY=VALUE" in bad.output



# -- the tag measures against a model whose tag effect is known (conftest.painter_model) -----------

GREY = (128, 128, 128)  # tanh(0) at uint8


def painted(tags) -> np.ndarray:
    """What painter_model gives a 32 px sketch with ``tags``, by its construction."""
    paints = [PAINTS[t] for t in tags if t in PAINTS]
    assert len(paints) <= 1, "the fixture's rows carry at most one paint tag"
    colour = GREY if "monochrome" in tags else paints[0] if paints else PAINT_BASE
    return np.full((32, 32, 3), colour, np.uint8)


@pytest.fixture(scope="module")
def painter(painter_model):
    return Colorizer.from_pretrained(painter_model, device="cpu")


def test_the_painter_paints_what_its_tags_say(painter, split):
    rows, sketches, _ = split
    sets = [[], ["woman", "red hair"], ["woman", "light skin tone", "red hair"], ["blue heart", "flag"],
            ["dark skin tone", "monochrome"]]
    outputs = painter.colorize_batch([sketches[rows[0]["id"]][::2, ::2]] * len(sets), sets, keep_lines=False)
    for tags, output in zip(sets, outputs, strict=True):
        assert np.abs(output.astype(int) - painted(tags)).max() <= 1, tags


def mean_metric(key: str, rows, colours, tags_of) -> float:
    return float(np.mean([image_metrics(painted(tags_of(r)), colours[r["id"]])[key] for r in rows]))


def test_evaluate_with_tags_scores_one_and_without_them_chance(painter, dataset):
    """The painter gets every variant right from its tags alone (each woman her skin, each heart
    its colour), and without tags paints them all alike, which is chance: one right per group."""
    results = evaluate(painter, dataset, split="train", progress=False)
    rows, _, colours = load_split(dataset, "train", 32)
    chance = (3 * (1 / 3) + 2 * (1 / 2)) / 5  # the woman in three skin tones, two hearts
    variant = results["conditions"]["tags"]["all"]["variant"]
    assert variant == {"accuracy": 1.0, "chance": pytest.approx(chance), "ceiling": 1.0, "groups": 2, "members": 5}
    baseline = results["conditions"]["no_tags"]["all"]["variant"]
    assert baseline["accuracy"] == pytest.approx(chance) and baseline["chance"] == pytest.approx(chance)
    for condition, tags_of in (("tags", lambda r: r["tags"]), ("no_tags", lambda r: [])):
        for key in ("delta_e", "l1"):
            assert results["conditions"][condition]["all"][key] == pytest.approx(
                mean_metric(key, rows, colours, tags_of), abs=0.02), (condition, key)


def test_evaluate_ceiling_counts_members_that_share_a_tag_set(painter, dataset, tmp_path):
    """With the dark-skinned woman tagged as the light-skinned one, two of three members get the
    same input: the ceiling is 2/3 on that group, and the painter, giving both the light skin,
    reaches it exactly."""
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    lines = (data / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    light = next(r["tags"] for r in rows if r["id"] == "1F469-1F3FB-200D-1F9B0")
    rows = [r | {"tags": light} if r["id"] == "1F469-1F3FF-200D-1F9B0" else r for r in rows]
    (data / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    results = evaluate(painter, data, split="train", progress=False)
    ceiling = (3 * (2 / 3) + 2 * 1) / 5
    variant = results["conditions"]["tags"]["all"]["variant"]
    assert variant["ceiling"] == pytest.approx(ceiling) and variant["accuracy"] == pytest.approx(ceiling)
    assert results["conditions"]["no_tags"]["all"]["variant"]["ceiling"] == pytest.approx(ceiling)
    assert results["conditions"]["no_tags"]["all"]["variant"]["accuracy"] == pytest.approx(2 / 5)


def test_ablate_conditions_move_the_painter_as_its_tags_say(painter, dataset, tmp_path):
    results = ablate(painter, dataset, tmp_path / "ablation", split="train", progress=False, maps=2)
    rows, _, _ = load_split(dataset, "train", 32)
    assert results["samples"] == len(rows) == 9
    table = results["conditions"]
    full_chroma = float(np.mean([chroma(painted(r["tags"])) for r in rows]))
    assert table["full"]["change"] == 0.0 and table["full"]["chroma"] == pytest.approx(full_chroma, abs=0.5)

    # no tags: every sketch gets the base colour
    base = painted([])
    assert table["no tags"]["samples"] == 9
    assert table["no tags"]["chroma"] == pytest.approx(chroma(base), abs=0.5)
    assert table["no tags"]["change"] == pytest.approx(
        np.mean([delta_e(base, painted(r["tags"])).mean() for r in rows]), abs=0.5)

    # shuffled: the same tag sets handed round, so the same colours in another order; nobody keeps
    # their own, and only one row paints light skin, so that row at least changes colour
    assert table["shuffled"]["samples"] == 9
    assert table["shuffled"]["chroma"] == pytest.approx(full_chroma, abs=0.5) and table["shuffled"]["change"] > 1

    # colour swap: the two skin tones and the three hearts each trade their colour for another
    paints = [np.full((1, 1, 3), c, np.uint8) for c in PAINTS.values()]
    closest = min(float(delta_e(a, b).mean()) for i, a in enumerate(paints) for b in paints[i + 1:])
    assert table["colour swap"]["samples"] == 5 and table["colour swap"]["change"] >= closest - 0.5

    # monochrome: every output grey
    assert table["monochrome"]["samples"] == 9 and table["monochrome"]["chroma"] < 1
    assert results["monochrome"]["switches_colour_off"] and results["monochrome"]["drop"] > 0.95

    # leave-one-out: only a paint tag moves the picture, from its colour back to the base
    assert table["leave-one-out"]["samples"] == sum(len(r["tags"]) for r in rows) == 13
    influence = {r["tag"]: r["mean_delta_e"] for r in results["influence"]}
    assert set(influence) == {t for r in rows for t in r["tags"]}
    for tag, value in influence.items():
        expected = delta_e(painted([tag]), base).mean() if tag in PAINTS else 0.0
        assert value == pytest.approx(expected, abs=0.5), tag
