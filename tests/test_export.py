"""`colorize export`: a model folder from a run or model, optionally in float16."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from colorize.cli import main
from colorize.infer.colorizer import Colorizer


def test_half_export_is_smaller_and_colours_alike(tiny_model, tmp_path):
    out = tmp_path / "half"
    result = CliRunner().invoke(main, ["export", str(tiny_model), "-o", str(out), "--half"])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").stat().st_size < 0.6 * (tiny_model / "model.safetensors").stat().st_size
    sketch = np.full((40, 30, 3), 255, np.uint8)
    sketch[10:30, 5:25] = 0
    full = Colorizer.from_pretrained(tiny_model).colorize(sketch, "woman", keep_lines=False)
    half = Colorizer.from_pretrained(out).colorize(sketch, "woman", keep_lines=False)
    assert np.abs(full.astype(int) - half).max() <= 3
    again = CliRunner().invoke(main, ["export", str(tiny_model), "-o", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_export_never_replaces_a_config_or_model_without_overwrite(tiny_model, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text('{"mine": true}\n')
    refused = CliRunner().invoke(main, ["export", str(tiny_model), "-o", str(out)])
    assert refused.exit_code != 0 and "config.json already exists" in refused.output
    assert (out / "config.json").read_text() == '{"mine": true}\n' and not (out / "model.safetensors").exists()
    done = CliRunner().invoke(main, ["export", str(tiny_model), "-o", str(out), "--overwrite"])
    assert done.exit_code == 0, done.output
    assert Colorizer.from_pretrained(out).vocab == Colorizer.from_pretrained(tiny_model).vocab
