"""Model files are checked when they are read and before an export is written: one clear error
naming the file and the field, never a torch or OpenCV traceback later, and nothing allocated
for a model that is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import colorize.models.build
import colorize.models.io
from colorize.cli import main
from colorize.config import ModelConfig, load_config, preset_names
from colorize.infer.colorizer import Colorizer
from colorize.models.io import ModelError, load_pretrained, save_pretrained


def edited(tiny_model: Path, tmp_path: Path, edit) -> Path:
    """A copy of the tiny model whose config.json went through ``edit(config)``."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def set_model(**fields):
    return lambda config: config["model"].update(fields)


def set_key(key, value):
    return lambda config: config.__setitem__(key, value)


# each edit, and the words the refusal must hold: the field and what is wrong with it
BAD = {
    "size 0": (set_model(size=0), "model.size must be a whole number from 4 to 4096, got 0"),
    "size -64": (set_model(size=-64), "model.size must be a whole number from 4 to 4096, got -64"),
    "ngf 8192": (set_model(ngf=8192), "model.ngf must be a whole number from 1 to 512, got 8192"),
    "ngf as text": (set_model(ngf="8"), "model.ngf must be a whole number"),
    "dropout 1": (set_model(dropout=1), "model.dropout must be true or false"),
    "unknown norm": (set_model(norm="layer"), "unknown norm 'layer'; choose from batch, instance"),
    "tag_dim off": (set_model(tag_dim=128), "the tag vectors are 384 wide, but model.tag_dim is 128"),
    "model a list": (set_key("model", [32]), "model must be a table of model settings"),
    "vocab of ints": (lambda c: c.__setitem__("vocab", list(range(len(c["vocab"])))), "vocab[0] is 0"),
    "vocab None": (set_key("vocab", None), "vocab must be a list of tags, got NoneType"),
    "vocab short": (lambda c: c["vocab"].pop(), "tags, but there are"),
    "vocab twice": (lambda c: c["vocab"].__setitem__(1, c["vocab"][0]), "holds the tag"),
    "encoder text": (set_key("encoder", "minilm"), "encoder must be a table"),
    "step text": (set_key("step", "ten"), "step must be a whole number"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_config_json_is_refused_by_file_and_field(case, tiny_model, tmp_path):
    edit, words = BAD[case]
    model = edited(tiny_model, tmp_path, edit)
    with pytest.raises(ModelError) as error:
        Colorizer.from_pretrained(model, device="cpu")
    assert str(model / "config.json") in str(error.value) and words in str(error.value)
    assert "colorize export" in str(error.value), "the message says what to do"
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", str(model), "-o", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # no traceback
    assert words in result.output and str(model / "config.json") in result.output
    assert not out.exists(), "a refused model writes nothing"


@pytest.mark.timeout(60)
def test_weights_that_do_not_fit_the_config_are_refused_before_anything_is_allocated(tiny_model, tmp_path,
                                                                                        monkeypatch):
    """ngf 128 is in range, but the weights are 8 wide: the real network (about 0.3 G
    parameters) must never be built; only the meta-device one that gives the shapes."""
    model = edited(tiny_model, tmp_path, set_model(ngf=128))
    devices = []
    real = colorize.models.build.build_generator

    def spy(config):
        devices.append(torch.empty(0).device.type)  # the default device the network is built on
        return real(config)

    monkeypatch.setattr(colorize.models.build, "build_generator", spy)
    monkeypatch.setattr(colorize.models.io, "build_generator", spy)
    with pytest.raises(ModelError, match="the generator weights do not fit the model config") as error:
        Colorizer.from_pretrained(model, device="cpu")
    assert "down.1.1.weight is (16, 8, 4, 4), expected (256, 128, 4, 4)" in str(error.value)
    assert devices == ["meta"]


def test_a_checkpoint_whose_vocab_is_short_is_named(tiny_model, tmp_path):
    config, weights, vectors = load_pretrained(tiny_model)
    model = ModelConfig(**config["model"])
    from colorize.models.build import build_discriminator
    from colorize.models.io import save_checkpoint

    state = {"config": load_config("cpu", {f"model.{k}": v for k, v in config["model"].items()}).to_dict(),
             "G": weights, "G_ema": None, "D": build_discriminator(model).state_dict(),
             "vocab": config["vocab"][:-2], "vectors": vectors, "encoder": config["encoder"]}
    path = save_checkpoint(tmp_path / "run" / "checkpoints", 3, state)
    result = CliRunner().invoke(main, ["export", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"{path}: vocab has {len(config['vocab']) - 2} tags, but there are {len(config['vocab'])} tag vectors" \
           in result.output


def test_an_export_that_could_not_be_read_back_is_never_written(tiny_model, tmp_path):
    config, weights, vectors = load_pretrained(tiny_model)
    with pytest.raises(ModelError, match="vocab has"):
        save_pretrained(tmp_path, weights, config["model"], config["vocab"][1:], vectors, config["encoder"], step=0)
    with pytest.raises(ModelError, match="NaN or infinite"):
        save_pretrained(tmp_path, weights, config["model"], config["vocab"], vectors * float("nan"),
                        config["encoder"], step=0)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_is_well_inside_the_bounds(preset):
    """The bounds refuse absurd models, not real ones: each preset at 8x its widths still passes."""
    model = load_config(preset).model
    ModelConfig(**{**model.__dict__, "ngf": model.ngf * 8, "ndf": model.ndf * 8, "levels": None})
