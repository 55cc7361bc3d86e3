"""The shipped model: small enough for git, complete, and it colours the bundled samples."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.infer.colorizer import DEFAULT_MODEL, Colorizer
from tests.test_project import ROOT

SAMPLES = ROOT / "data" / "samples"


def test_shipped_model_is_small_complete_and_documented():
    weights = DEFAULT_MODEL / "model.safetensors"
    assert weights.stat().st_size <= 30e6
    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    assert config["model"]["conditioning"] == "tokens" and "dark skin tone" in config["vocab"]
    assert "dark skin tone on the right" in config["vocab"], "two-person emoji say which person has which tone"
    card = (DEFAULT_MODEL / "README.md").read_text()
    assert "CC BY-SA 4.0" in card and "variant accuracy" in card.lower()


def test_readme_main_job_colours_every_sample(tmp_path):
    sketches = sorted(SAMPLES.glob("*.png"))
    assert len(sketches) >= 6 and all(p.with_suffix(".txt").is_file() for p in sketches)
    result = CliRunner().invoke(main, ["run", str(SAMPLES), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for sketch in sketches:
        out = np.asarray(Image.open(tmp_path / sketch.name).convert("RGB"))
        assert out.shape[:2] == Image.open(sketch).size[::-1]
        assert out.std(axis=-1).mean() > 1.0  # coloured, not grey


def test_skin_tone_tags_change_the_colour():
    colorizer = Colorizer.from_pretrained()
    light = colorizer.colorize(SAMPLES / "ear.png", "ear, light skin tone").astype(float)
    dark = colorizer.colorize(SAMPLES / "ear.png", "ear, dark skin tone").astype(float)
    assert light.mean() - dark.mean() > 10  # the dark skin tone is darker


def test_every_shipped_model_loads_and_has_a_card_and_a_preset():
    from colorize.config import load_config

    for folder in sorted(DEFAULT_MODEL.parent.iterdir()):
        if not folder.is_dir():
            continue
        colorizer = Colorizer.from_pretrained(folder, device="cpu")
        assert colorizer.size == 64 and (folder / "README.md").is_file()
        assert (folder / "model.safetensors").stat().st_size < 25_000_000  # float16
    mixed = Colorizer.from_pretrained(DEFAULT_MODEL.parent / "openmoji-openclipart-64", device="cpu")
    assert {"woman", "red hair", "fruit", "animals"} <= set(mixed.vocab)
    config = load_config("openmoji-openclipart")
    assert config.data == ["data/openmoji", "data/openclipart:0.25"] and config.minutes == 50
