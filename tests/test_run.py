"""`colorize run` on sketches the tests make: every image mode and shape, tags, bad files, output trees.

The model is the session's tiny untrained one: its colours are noise, but shapes, tags and
file handling are real, and the CLI must give what the Python API gives, to float rounding.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.infer.colorizer import Colorizer

SKETCH = "1F469-200D-1F9B0"  # woman: red hair, from the test dataset


def sketch(dataset: Path, emoji_id: str = SKETCH) -> Image.Image:
    """A real line drawing (64 px, black on white) from the built test dataset."""
    with Image.open(dataset / "sketch" / f"{emoji_id}.png") as im:
        return im.convert("L")


def run(*args: str | Path):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def make_modes(dataset: Path, folder: Path) -> dict[str, tuple[int, int]]:
    """One file per image mode and odd shape; returns file -> (width, height) as the user sees it."""
    lines = sketch(dataset)
    grey = np.asarray(lines)
    folder.mkdir(parents=True)
    alpha = Image.fromarray(255 - grey)
    rgba = Image.merge("RGBA", [Image.new("L", lines.size, 0)] * 3 + [alpha])  # black lines on transparency
    rgba.save(folder / "rgba.png")
    lines.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "palette.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "grey16.png")
    lines.save(folder / "grey.png")
    lines.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    wide = lines.crop((0, 10, 64, 42))  # 64x32, stored lying on its side with an EXIF rotation
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    wide.transpose(Image.Transpose.ROTATE_90).save(folder / "exif.jpg", exif=exif, quality=95)
    strip = np.full((7, 900), 255, np.uint8)
    strip[3, 10:890] = 0
    Image.fromarray(strip).save(folder / "wide.png")
    (folder / "sub").mkdir()
    Image.fromarray(strip.T.copy()).save(folder / "sub" / "tall.png")
    lines.resize((33, 17)).save(folder / "sub" / "odd.png")
    return {"rgba.png": (64, 64), "palette.png": (64, 64), "grey16.png": (64, 64), "grey.png": (64, 64),
            "cmyk.jpg": (64, 64), "exif.jpg": (64, 32), "wide.png": (900, 7), "sub/tall.png": (7, 900),
            "sub/odd.png": (33, 17)}


@pytest.fixture(scope="module")
def film_model(tmp_path_factory, tiny_model) -> Path:
    """The tiny model with non-zero FiLM heads, as training leaves them (they start at zero).

    Then tags change the colours, and a batched run must give what the API gives through
    the tag MLPs too, where BLAS sums differently for different batch sizes.
    """
    import torch

    from colorize.models.io import load_pretrained, save_pretrained

    config, state, vectors = load_pretrained(tiny_model)
    noise = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=noise) * 0.05 if k.startswith("cond.film.") else v for k, v in state.items()}
    return save_pretrained(tmp_path_factory.mktemp("film-model"), state, config["model"], config["vocab"], vectors,
                           config["encoder"], step=0)


@pytest.fixture(scope="module")
def modes_run(tmp_path_factory, dataset, film_model):
    """Every mode and shape coloured by one CLI run, in batches of 3 so that sizes mix in a batch."""
    root = tmp_path_factory.mktemp("modes")
    sizes = make_modes(dataset, root / "in")
    (root / "in" / "rgba.txt").write_text("woman, red hair\n", encoding="utf-8")
    result = run(root / "in", "-o", root / "out", "--model", film_model, "--batch-size", 3, "-v", "--no-progress")
    return root, sizes, result


def test_run_colours_every_mode_and_shape(modes_run):
    root, sizes, result = modes_run
    assert result.exit_code == 0, result.output
    assert f"{len(sizes)} coloured, 0 failed, 0 skipped" in result.output


@pytest.mark.parametrize("name", ["rgba.png", "palette.png", "grey16.png", "grey.png", "cmyk.jpg", "exif.jpg",
                                  "wide.png", "sub/tall.png", "sub/odd.png"])
def test_result_has_the_sketch_size_its_lines_and_what_the_api_gives(modes_run, film_model, name):
    root, sizes, _ = modes_run
    out = root / "out" / Path(name).with_suffix(".png")
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size == sizes[name]
        result = np.asarray(im)
    original = Colorizer.load(root / "in" / name)
    assert (result <= original).all(), "the result is the colour multiplied by the sketch's own lines"
    assert (result[original.max(axis=2) < 8] < 8).all(), "dark lines stay dark"
    tags = "woman, red hair" if name == "rgba.png" else None
    api = Colorizer.from_pretrained(film_model).colorize(root / "in" / name, tags)
    # The run batches, the API colours one at a time: the same picture, to float rounding.
    assert_same_to_rounding(result, api)


def assert_same_to_rounding(batched: np.ndarray, alone: np.ndarray) -> None:
    """What the README promises of batching: one level of 255 at most, in a few values."""
    assert batched.shape == alone.shape
    diff = np.abs(batched.astype(int) - alone.astype(int))
    assert diff.max() <= 1, f"a batch moved a value by {diff.max()} levels"
    assert (diff > 0).mean() <= 0.01, f"a batch moved {(diff > 0).mean():.1%} of the values"


# Float rounding: batching moves a value by about 1e-7 on some CPUs (the kernels BLAS picks by
# batch size); a sketch given another's tags or padding moves it by far more than this.
ROUNDING = 1e-4


def test_a_batch_gives_each_sketch_the_floats_it_gets_alone(film_model):
    import torch

    colorizer = Colorizer.from_pretrained(film_model)
    sketches = torch.rand(8, 3, colorizer.size, colorizer.size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    tokens, mask = colorizer.embed([colorizer.vocab[i:i + 1 + i % 3] for i in range(8)])
    together = colorizer.predict(sketches, (tokens, mask))
    alone = torch.cat([colorizer.predict(sketches[i:i + 1], (tokens[i:i + 1], mask[i:i + 1])) for i in range(8)])
    assert torch.allclose(together, alone, rtol=0, atol=ROUNDING)


@pytest.fixture(scope="module")
def tokens_colorizer(tmp_path_factory, encoder, dataset):
    """A 32-px cross-attention model with random (not zero) heads, so tags move its colours."""
    import torch

    from colorize.config import ModelConfig
    from colorize.data.manifest import Manifest
    from colorize.models.build import build_generator
    from colorize.models.io import save_pretrained
    from colorize.text.encoder import TagTable

    torch.manual_seed(0)
    table = TagTable.build({t for row in Manifest(dataset) for t in row["tags"]}, encoder)
    config = ModelConfig(size=32, ngf=8, ndf=8, conditioning="tokens", tag_dim=table.dim)
    G = build_generator(config)
    with torch.no_grad():  # the zero-initialised heads would make every tag set look alike
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    folder = tmp_path_factory.mktemp("tokens-model")
    save_pretrained(folder, G.state_dict(), config.__dict__, table.vocab, table.vectors, table.identity, step=0)
    return Colorizer.from_pretrained(folder)


@pytest.mark.parametrize("batch", [2, 3, 6, 8])
def test_a_tokens_model_gives_each_sketch_what_it_gets_alone(tokens_colorizer, batch):
    """The same for cross-attention over tag tokens, sets of any length in one batch, at any
    batch size: the floats to rounding, and the images `run` writes to one level."""
    import torch

    colorizer = tokens_colorizer
    sketches = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch)) * 2 - 1
    tokens, mask = colorizer.embed([colorizer.vocab[i:i + 1 + i % 3] for i in range(batch)])
    together = colorizer.predict(sketches, (tokens, mask))
    alone = torch.cat([colorizer.predict(sketches[i:i + 1], (tokens[i:i + 1], mask[i:i + 1]))
                       for i in range(batch)])
    assert torch.allclose(together, alone, rtol=0, atol=ROUNDING)
    untagged = colorizer.predict(sketches[:1], colorizer.embed([[]]))[0]
    assert (together[0] - untagged).abs().max() > 100 * ROUNDING, "the tags must matter for this test to mean anything"

    images = [(s.permute(1, 2, 0).add(1).mul(127.5).round().byte().numpy()) for s in sketches]
    tag_sets = [colorizer.vocab[i:i + 1 + i % 3] for i in range(batch)]
    batched = colorizer.colorize_batch(images, tag_sets)
    for image, tags, result in zip(images, tag_sets, batched, strict=True):
        assert_same_to_rounding(result, colorizer.colorize(image, tags))


def test_tags_change_the_colours(modes_run, film_model):
    root, _, _ = modes_run
    colorizer = Colorizer.from_pretrained(film_model)
    assert not np.array_equal(colorizer.colorize(root / "in" / "rgba.png", "woman, red hair"),
                              colorizer.colorize(root / "in" / "rgba.png"))


def test_log_says_which_tags_each_sketch_got(modes_run):
    _, _, result = modes_run
    line = next(line for line in result.output.splitlines() if "rgba.png ->" in line)
    assert "tags: woman, red hair (sidecar rgba.txt)" in line
    assert "grey.png ->" in result.output and "no tags" in result.output


def test_tags_from_a_csv_and_sidecars(tmp_path, dataset, tiny_model, encoder):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png", "c.png", "d.png", "e.png", "sub/f.png"):
        sketch(dataset).save(src / name)
    (src / "c.txt").write_text("red heart", encoding="utf-8")
    (src / "d.png.json").write_text(json.dumps({"tag_string_general": "blue_heart"}), encoding="utf-8")
    encoder.embed(["purple hair"])  # in the tests' embedding cache, so the run needs not load the encoder
    table = tmp_path / "tags.csv"
    table.write_text("path,tags\na.png,\"woman, red hair\"\nsub/b.png,green heart\ne.png,purple hair\n"
                     "gone.png,blue heart\nf.png,red heart\n", encoding="utf-8")
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--tags-file", table, "-v", "--no-progress")
    assert result.exit_code == 0, result.output
    said = {line.split(" -> ")[0].removeprefix(str(src) + "/"): line.split("  ", 1)[1]
            for line in result.output.splitlines() if " -> " in line}
    assert said == {
        "a.png": "tags: woman, red hair (tags.csv row 'a.png')",
        "sub/b.png": "tags: green heart (tags.csv row 'sub/b.png')",
        "c.png": "tags: red heart (sidecar c.txt)",
        "d.png": "tags: blue heart (sidecar d.png.json)",
        "e.png": "tags: purple hair (tags.csv row 'e.png')",
        "sub/f.png": "tags: red heart (tags.csv row 'f.png')",  # a bare file name matches in any folder
    }
    assert "1 row(s) of" in result.output and "gone.png" in result.output
    assert "Embedded 1 tag(s) outside the model's vocabulary: purple hair" in result.output
    assert "6 coloured, 0 failed, 0 skipped" in result.output


def test_same_tags_for_all(tmp_path, dataset, tiny_model):
    sketch(dataset).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("blue heart", encoding="utf-8")
    result = run(tmp_path / "a.png", "-o", tmp_path / "out", "--model", tiny_model, "--tags", "Green_Heart", "-v")
    assert result.exit_code == 0, result.output
    assert "tags: green heart (--tags)" in result.output
    both = run(tmp_path / "a.png", "-o", tmp_path / "o2", "--model", tiny_model, "--tags", "x",
               "--tags-file", tmp_path / "a.txt")
    assert both.exit_code != 0 and "not both" in both.output


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_bad_files_are_reported_the_rest_coloured_nothing_overwritten(tmp_path, dataset, tiny_model):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    good = png_bytes(sketch(dataset))
    (src / "good.png").write_bytes(good)
    (src / "kept.png").write_bytes(good)
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("not a picture", encoding="utf-8")
    (src / "truncated.png").write_bytes(png_bytes(sketch(dataset, "1F49A").convert("RGB"))[:300])
    (src / "big.png").write_bytes(png_bytes(Image.new("L", (80, 80), 255)))
    (src / "dot.png").write_bytes(png_bytes(Image.new("L", (1, 1), 0)))
    out.mkdir()
    (out / "kept.png").write_bytes(b"the user's file")

    result = run(src, "-o", out, "--model", tiny_model, "--max-pixels", 5000, "--batch-size", 2)
    assert result.exit_code == 1, result.output
    problems = {
        "empty.png": "empty file (0 bytes)",
        "text.png": "not an image",
        "truncated.png": "corrupt or truncated",
        "big.png": "raise --max-pixels",
        "dot.png": "1x1 is too small to colour",
    }
    for name, problem in problems.items():
        line = next((line for line in result.output.splitlines() if f"{src / name}:" in line), "")
        assert problem in line, (name, result.output)
        assert not (out / name).exists()
    assert "1 coloured, 5 failed, 1 skipped" in result.output
    assert "--overwrite" in result.output
    assert (out / "good.png").is_file()
    assert (out / "kept.png").read_bytes() == b"the user's file"

    again = run(src, "-o", out, "--model", tiny_model, "--overwrite")
    assert again.exit_code == 1 and "3 coloured, 4 failed, 0 skipped" in again.output  # big.png is fine now
    assert (out / "kept.png").read_bytes()[:4] == b"\x89PNG"


def test_output_tree_mirrors_inputs_and_names_never_collide(tmp_path, dataset, tiny_model):
    src = tmp_path / "in"
    for name in ("a.png", "deep/er/b.jpg", "deep/c.png", "deep/c.webp", ".hidden/x.png"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        sketch(dataset).convert("RGB").save(src / name)
    (tmp_path / "loose").mkdir()
    shutil.copy(src / "a.png", tmp_path / "loose" / "a.png")  # same name as in/a.png
    sketch(dataset).save(tmp_path / "loose" / "z.png")
    out = tmp_path / "out"
    result = run(src, tmp_path / "loose" / "a.png", f"{tmp_path}/loose/*.png", "-o", out, "--model", tiny_model,
                 "--side-by-side")
    assert result.exit_code == 1, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "a.side.png", "deep/c.png", "deep/c.side.png", "deep/er/b.png",
                       "deep/er/b.side.png", "z.png", "z.side.png"]
    assert f"{src / 'deep' / 'c.webp'}: its output {out / 'deep' / 'c.png'} is also the output of" in result.output
    assert f"{tmp_path / 'loose' / 'a.png'}: its output {out / 'a.png'} is also the output of" in result.output
    assert "4 coloured, 2 failed, 0 skipped" in result.output
    with Image.open(out / "a.side.png") as side, Image.open(out / "a.png") as alone:
        assert side.size == (2 * alone.width, alone.height)


OUTPUT_OPTIONS = {  # each extra file a picture can get, and the options that ask for it
    ".side.png": ["--side-by-side"],
    ".ora": ["--layers"],
    ".psd": ["--layers", "--layers-format", "psd"],
    ".regions.png": ["--layers"],
}


@pytest.fixture(scope="module")
def every_output(tmp_path_factory, dataset, tiny_model) -> Path:
    """in/a.png coloured once into out/ with every output file: what a fresh run writes."""
    root = tmp_path_factory.mktemp("every-output")
    (root / "in").mkdir()
    sketch(dataset).save(root / "in" / "a.png")
    result = run(root / "in", "-o", root / "out", "--model", tiny_model, "--side-by-side", "--layers",
                 "--layers-format", "both")
    assert result.exit_code == 0, result.output
    return root


def _content(path: Path) -> bytes | dict[str, bytes]:
    """A file's content: its bytes, or an ORA's members (the zip stamps each with the time of writing)."""
    if path.suffix == ".ora":
        with zipfile.ZipFile(path) as ora:
            return {name: ora.read(name) for name in ora.namelist()}
    return path.read_bytes()


@pytest.mark.parametrize("suffix", list(OUTPUT_OPTIONS))
def test_an_existing_output_of_any_kind_is_kept_without_overwrite_and_replaced_with_it(tmp_path, every_output,
                                                                                      tiny_model, suffix):
    """Any file a picture would get, not only its PNG: without --overwrite an existing one is
    kept as it is, the picture is skipped with a line naming that file, and none of its
    other files are written (a picture's files go together); with --overwrite it is replaced
    by what a fresh run writes."""
    src, out = every_output / "in", tmp_path / "out"
    out.mkdir()
    mine = out / f"a{suffix}"
    mine.write_bytes(b"the user's file")
    kept = run(src, "-o", out, "--model", tiny_model, *OUTPUT_OPTIONS[suffix])
    assert kept.exit_code == 0, kept.output
    assert "0 coloured, 0 failed, 1 skipped" in kept.output and "--overwrite" in kept.output
    assert f"{mine.name} exists" in kept.output, "the summary names the file that exists, not the PNG"
    assert mine.read_bytes() == b"the user's file"
    assert [p.name for p in out.iterdir()] == [mine.name], "no file of a skipped picture is written"

    replaced = run(src, "-o", out, "--model", tiny_model, *OUTPUT_OPTIONS[suffix], "--overwrite")
    assert replaced.exit_code == 0 and "1 coloured, 0 failed, 0 skipped" in replaced.output, replaced.output
    written = sorted(p.name for p in out.iterdir())
    assert mine.name in written and "a.png" in written
    for name in written:
        assert _content(out / name) == _content(every_output / "out" / name), name


@pytest.mark.parametrize("where", ["in/out", "in", "in/sub/out"])
def test_refuses_to_write_inside_an_input_folder(tmp_path, dataset, tiny_model, where):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    sketch(dataset).save(tmp_path / "in" / "sub" / "a.png")
    result = run(tmp_path / "in", "-o", tmp_path / where, "--model", tiny_model)
    assert result.exit_code != 0 and "--allow-inside-input" in result.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["in", "in/sub", "in/sub/a.png"]


def test_inside_input_when_allowed_never_colours_its_own_results(tmp_path, dataset, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    sketch(dataset).save(src / "a.png")
    for _ in range(2):
        result = run(src, "-o", src / "out", "--model", tiny_model, "--allow-inside-input", "--overwrite")
        assert result.exit_code == 0 and "1 coloured, 0 failed" in result.output, result.output
    loose = run(src / "a.png", "-o", src, "--model", tiny_model)
    assert loose.exit_code != 0 and "beside its input" in loose.output
    replace = run(src / "a.png", "-o", src, "--model", tiny_model, "--allow-inside-input", "--overwrite")
    assert replace.exit_code == 1 and "would replace an input sketch" in replace.output


@pytest.mark.parametrize("args, message", [
    (["nowhere/"], "no such file or folder"),
    (["nowhere/*.png"], "matches no image files"),
])
def test_missing_inputs_are_refused(tmp_path, tiny_model, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args, "-o", "out", "--model", tiny_model)
    assert result.exit_code != 0 and message in result.output


def test_missing_model_is_a_clear_error(tmp_path, dataset):
    sketch(dataset).save(tmp_path / "a.png")
    result = run(tmp_path / "a.png", "-o", tmp_path / "out", "--model", tmp_path / "no-model")
    assert result.exit_code != 0 and "no such model" in result.output


def test_help_reads():
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0 and "--side-by-side" in result.output and "INPUT..." in result.output


def test_a_sidecar_nested_100000_deep_fails_its_sketch_only(tmp_path, dataset, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    sketch = dataset / "sketch" / f"{SKETCH}.png"
    shutil.copy(sketch, src / "a.png")
    shutil.copy(sketch, src / "b.png")
    (src / "a.png.json").write_text('{"tags": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = CliRunner().invoke(main, ["run", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
                                       "--no-progress"])
    assert result.exit_code == 1
    assert "a.png.json: JSON nested too deeply" in result.output
    assert (tmp_path / "out" / "b.png").exists() and not (tmp_path / "out" / "a.png").exists()


def test_a_symlink_loop_among_the_inputs_fails_that_file_only(tmp_path, dataset, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(dataset / "sketch" / f"{SKETCH}.png", src / "b.png")
    (src / "loop.png").symlink_to(src / "loop.png")
    result = CliRunner().invoke(main, ["run", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
                                       "--no-progress"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "loop.png" in line]
    assert lines and "symbolic links" in lines[0], result.output
    assert (tmp_path / "out" / "b.png").exists()


def test_symlinked_folders_are_followed_once_and_unreadable_ones_fail(tmp_path, dataset, tiny_model, locked_folders):
    src, elsewhere, out = tmp_path / "in", tmp_path / "elsewhere", tmp_path / "out"
    (src / "locked").mkdir(parents=True)
    elsewhere.mkdir()
    sketch(dataset).save(src / "a.png")
    sketch(dataset).save(src / "locked" / "hidden-from-us.png")
    sketch(dataset).save(elsewhere / "b.png")
    (src / "linked").symlink_to(elsewhere, target_is_directory=True)
    (src / "again").symlink_to(src, target_is_directory=True)  # a loop back to the input folder
    locked_folders.add("locked")
    result = run(src, "-o", out, "--model", tiny_model, "--no-progress")
    assert result.exit_code == 1, result.output
    assert (out / "a.png").is_file() and (out / "linked" / "b.png").is_file(), (result.output, result.exc_info)
    assert not (out / "again").exists()
    line = next(line for line in result.output.splitlines() if "locked" in line)
    assert line.startswith(f"{src / 'locked'}: cannot read this folder (Permission denied)"), result.output
    assert f"{src / 'again'}: is {src}, searched already" in result.output
    assert "2 coloured, 1 failed, 0 skipped" in result.output


def test_an_unreadable_file_says_it_cannot_be_read(tmp_path, dataset, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    sketch(dataset).save(src / "a.png")
    (src / "gone.png").symlink_to(tmp_path / "moved-away.png")  # the tests run as root: chmod 000 would not stop them
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--no-progress")
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "gone.png:" in line)
    assert "cannot be read: No such file or directory" in line and "corrupt" not in line, result.output
    assert "Check that it exists and that you may read it" in line


@pytest.mark.parametrize("output", ["art/out", "art/deep/out"])
def test_refuses_to_write_inside_a_patterns_folder(tmp_path, dataset, tiny_model, monkeypatch, output):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "art" / "deep").mkdir(parents=True)
    sketch(dataset).save(tmp_path / "art" / "deep" / "a.png")
    result = run("art/**/*.png", "-o", output, "--model", tiny_model)
    assert result.exit_code != 0 and "the folder the pattern art/**/*.png searches" in result.output, result.output
    assert not (tmp_path / output).exists()
    allowed = run("art/**/*.png", "-o", output, "--model", tiny_model, "--allow-inside-input", "--no-progress")
    assert allowed.exit_code == 0, allowed.output


def test_an_image_too_wide_for_png_is_refused_by_its_real_cause(tmp_path, dataset, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    sketch(dataset).save(src / "a.png")
    strip = Image.new("L", (1_000_001, 2), 255)
    strip.save(src / "strip.png")  # 2 megapixels: under --max-pixels, over what libpng will write
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--no-progress")
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "strip.png:" in line)
    assert "over 1,000,000 pixels, the most a PNG may have" in line and "writable" not in line, result.output
    assert (tmp_path / "out" / "a.png").is_file()


def test_a_very_long_strip_is_finished_quickly(tmp_path, tiny_model):
    """A 400,000 x 8 strip once got a gap ball and a colour margin thousands of pixels wide (minutes)."""
    strip = np.full((8, 400_000), 255, np.uint8)
    strip[3, ::40] = 0
    strip[:, ::2000] = 0
    Image.fromarray(strip).save(tmp_path / "strip.png")
    result = run(tmp_path / "strip.png", "-o", tmp_path / "out", "--model", tiny_model, "--no-progress")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "strip.png") as im:
        assert im.size == (400_000, 8)


def test_a_newline_in_a_file_name_stays_on_its_line(tmp_path, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    (src / "evil\nname.png").write_bytes(b"not a picture")
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--no-progress")
    assert result.exit_code != 0
    line = next(line for line in result.output.splitlines() if "evil" in line)
    assert "evil\\nname.png: not an image" in line, result.output


@pytest.mark.parametrize("args, message", [
    (["--device", "mps"], "--device mps: Apple's MPS is not available here"),
    (["--model", "MODEL/model.safetensors"], "cannot load the model"),
])
def test_model_and_device_problems_read_the_same_in_every_command(tmp_path, tiny_model, args, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "model.safetensors").write_bytes(b"garbage")
    args = [a.replace("MODEL", str(model)) for a in args]
    for command in (["run", str(tmp_path), "-o", str(tmp_path / "out")], ["evaluate", "--data", str(tmp_path)],
                    ["serve", "--port", "0"], ["export", str(model), "-o", str(tmp_path / "x")]):
        if command[0] == "export" and args[0] == "--device":
            continue
        extra = args if command[0] != "export" else []
        if command[0] == "evaluate" and args[0] == "--model":
            extra = [args[1]]  # evaluate takes MODEL as its argument
        result = CliRunner().invoke(main, command + extra)
        assert result.exit_code == 1 and message in result.output, (command, result.output)
        assert "Traceback" not in result.output


@pytest.mark.timeout(120, method="thread")  # a reader blocked in open() ignores the signal method
def test_a_fifo_named_like_an_image_is_skipped_with_a_line_not_waited_on(tmp_path, dataset, tiny_model, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    sketch(dataset).save(src / "a.png")
    sketch(dataset).save(tmp_path / "real.png")
    (src / "linked.png").symlink_to(tmp_path / "real.png")  # a symlink to a regular file is still an input
    os.mkfifo(src / "pipe.png")  # open() on it would wait for a writer forever
    os.mkfifo(src / "sub" / "pipe.png")
    monkeypatch.chdir(tmp_path)
    result = run("in", "in/sub/*.png", "-o", "out", "--model", tiny_model, "--no-progress")
    assert result.exit_code == 0, result.output
    for name in ("in/pipe.png", "in/sub/pipe.png"):
        lines = [line for line in result.output.splitlines() if name in line]
        assert len(lines) == 1 and "is a FIFO (named pipe), not an image file; skipped" in lines[0], result.output
    assert (out / "a.png").is_file() and (out / "linked.png").is_file()
    assert not (out / "pipe.png").exists() and not (out / "sub").exists()
    assert "2 coloured, 0 failed, 0 skipped" in result.output
    named = run(src / "pipe.png", src / "a.png", "-o", tmp_path / "out2", "--model", tiny_model, "--no-progress")
    assert named.exit_code == 0 and f"{src / 'pipe.png'}: is a FIFO" in named.output, named.output
    assert (tmp_path / "out2" / "a.png").is_file()


@pytest.mark.timeout(60, method="thread")  # a reader blocked in open() ignores the signal method
def test_a_fifo_that_replaces_a_sketch_after_discovery_is_refused_not_waited_on(tmp_path):
    """Between finding a file and reading it, a FIFO can take its name: the read itself checks."""
    from colorize.data.images import UnreadableFile

    os.mkfifo(tmp_path / "a.png")
    with pytest.raises(UnreadableFile, match="FIFO"):
        Colorizer.load(tmp_path / "a.png")


def test_a_flat_run_leaves_the_writer_threads_a_core_and_gives_torch_its_threads_back(tmp_path, dataset, tiny_model):
    """The writer threads finish flat pictures beside the model on the same cores, where
    torch's own threads would spin waiting for them: a run of several batches gives torch
    half the cores (at least one) while it lasts, and its threads back afterwards; a soft
    run, and a run of one batch, leave them alone."""
    import torch

    from colorize.infer.folder import colour_files

    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        sketch(dataset).save(src / f"{i}.png")
    colorizer = Colorizer.from_pretrained(tiny_model)
    seen = []
    colour_squares = colorizer.colour_squares
    colorizer.colour_squares = lambda *a, **k: seen.append(torch.get_num_threads()) or colour_squares(*a, **k)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        cores = os.cpu_count() or 1
        for finish, batch_size, out in [("flat", 2, "a"), ("soft", 2, "b"), ("flat", 8, "c")]:
            seen.clear()
            colour_files(colorizer, [src], tmp_path / out, tags="red heart", batch_size=batch_size, progress=False,
                         finish=finish)
            expected = max(1, min(4, cores // 2)) if (finish, batch_size) == ("flat", 2) else 4
            assert set(seen) == {expected}, (finish, batch_size, seen)
            assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
