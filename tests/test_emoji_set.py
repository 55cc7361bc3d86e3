"""`colorize data emoji`: another emoji set as a test set, from files the tests write.

The emoji are small SVGs and PNGs named by code points as Twemoji and Noto name theirs:
a waving hand in the default yellow and five skin tones, a heart twice under two names,
a flag, and files that must fail alone (a name that is no code point, broken XML).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.data.emojiset import build_emoji_set, codepoints_from_name, drawing_of
from colorize.data.extract import get_extractor
from colorize.data.manifest import Manifest

TONES = {"": "#ffcc4d", "-1f3fb": "#f7dece", "-1f3fc": "#f3d2a2", "-1f3fd": "#d4ab88", "-1f3fe": "#af7e57",
         "-1f3ff": "#7c533e"}


def hand(fill: str) -> str:
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 36 36">'
            f'<path fill="{fill}" d="M6 30 L10 6 L26 6 L30 30 Z"/><circle fill="#5dadec" cx="31" cy="5" r="3"/></svg>')


def read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture
def emoji_dir(tmp_path: Path) -> Path:
    src = tmp_path / "twemoji"
    src.mkdir()
    for suffix, fill in TONES.items():
        (src / f"1f44b{suffix}.svg").write_text(hand(fill))
    heart = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 36 36">'
             '<circle fill="#dd2e44" cx="18" cy="18" r="14"/></svg>')
    (src / "2764.svg").write_text(heart)
    (src / "2764-fe0f.svg").write_text(heart)  # the same emoji with its variation selector
    (src / "1f1fa-1f1f8.svg").write_text(heart.replace("#dd2e44", "#3c3b6e"))  # a flag
    Image.new("RGB", (72, 72), (120, 180, 60)).save(src / "emoji_u1f438.png")  # Noto's naming, a PNG
    (src / "1f600.svg").write_text("<svg")  # broken XML
    (src / "readme.svg").write_text(heart)  # not named by code points
    (src / "notes.txt").write_text("not an emoji")
    return src


def test_names_spell_code_points():
    assert codepoints_from_name("1f44b-1f3fd") == [0x1F44B, 0x1F3FD]
    assert codepoints_from_name("emoji_u1f44b_1f3fd") == [0x1F44B, 0x1F3FD]
    assert codepoints_from_name("2764-FE0F") == [0x2764]
    assert codepoints_from_name("a9") == [0xA9] and codepoints_from_name("23-20e3") == [0x23, 0x20E3]  # ©, keycap #
    for bad in ("readme", "1f44b-", "110000", "d800", "fe0f", "", "cafe", "bad", "e50a"):  # hex, but no emoji
        assert codepoints_from_name(bad) is None, bad
    assert drawing_of([0x1F469, 0x1F3FF, 0x200D, 0x1F9B0]) == "1f469-200d-1f9b0"
    assert drawing_of([0x1F3FB]) == drawing_of([0x1F3FF]) == "skin-tones"  # the swatches: one drawing, a real name


def test_build_groups_skin_tones_under_one_sketch(emoji_dir: Path, tmp_path: Path):
    out = tmp_path / "data"
    report = build_emoji_set(emoji_dir, out, name="twemoji", size=64, workers=1, progress=False)
    failed = {Path(f).name: e for f, e in report.failed}
    assert set(failed) == {"1f600.svg", "readme.svg"}
    assert "not well-formed XML" in failed["1f600.svg"] and "code points" in failed["readme.svg"]
    assert [(Path(f).name, Path(k).name) for f, k in report.duplicates] == [("2764.svg", "2764-fe0f.svg")]
    rows = {row["id"]: row for row in Manifest(out)}
    assert set(rows) == {"1f44b", *(f"1f44b{t}" for t in TONES if t), "2764", "1f1fa-1f1f8", "1f438"}
    assert report.rows == 9 and report.groups == 1 and report.splits == {"val": 8, "excluded": 1}
    assert rows["1f1fa-1f1f8"]["split"] == "excluded" and rows["1f1fa-1f1f8"]["is_flag"]
    assert rows["1f44b-1f3ff"]["tags"] == ["waving hand", "dark skin tone"] and rows["1f44b"]["tags"] == ["waving hand"]
    assert rows["2764"]["tags"] == ["red heart"] and rows["1f438"]["source"] == "twemoji"

    hands = [row for row in rows.values() if row["drawing"] == "1f44b"]
    assert len(hands) == 6 and {row["sketch"] for row in hands} == {"sketch/1f44b.xdog.png"}
    # the one sketch is the extractor's lines of the toneless (yellow) picture, so it says nothing of the tone
    assert np.array_equal(read(out / "sketch/1f44b.xdog.png"), get_extractor("xdog")(read(out / "color/1f44b.png")))
    colours = {row["id"]: read(out / row["color"])[32, 24] for row in hands}
    assert len({tuple(c) for c in colours.values()}) == 6  # yet each colour target is its own tone
    assert tuple(colours["1f44b-1f3ff"]) == (0x7C, 0x53, 0x3E)
    ink = read(out / "sketch/1f44b.xdog.png").min(axis=-1) < 128
    assert 0.005 < ink.mean() < 0.3, "xdog should draw the hand's outline"
    info = json.loads((out / "dataset.json").read_text())
    assert info["source"] == "twemoji" and info["builder"] == "emoji" and info["test_only"] and info["variant_groups"] == 1

    again = build_emoji_set(emoji_dir, out, name="twemoji", size=64, workers=1, progress=False)
    assert again.reused == 9 and again.made == 0 and again.rows == 9
    other = build_emoji_set(emoji_dir, out, name="twemoji", size=64, extractor="adaptive", workers=1, progress=False)
    assert other.reused == 9 and Manifest(out)[0]["line_art"] == "adaptive"  # the colours are kept, the lines redrawn
    assert np.array_equal(read(out / "sketch/1f44b.adaptive.png"),
                          get_extractor("adaptive")(read(out / "color/1f44b.png")))
    with pytest.raises(ValueError, match="64-px"):
        build_emoji_set(emoji_dir, out, name="twemoji", size=32, workers=1, progress=False)


def test_build_never_writes_over_another_dataset(emoji_dir: Path, tmp_path: Path):
    other = tmp_path / "openmoji"
    other.mkdir()
    (other / "dataset.json").write_text(json.dumps({"source": "openmoji", "size": 64}))
    (other / "manifest.jsonl").write_text("keep me\n")
    with pytest.raises(ValueError, match="did not build"):
        build_emoji_set(emoji_dir, other, name="openmoji", size=64, workers=1, progress=False)
    assert (other / "manifest.jsonl").read_text() == "keep me\n" and not (other / "color").exists()
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        build_emoji_set(emoji_dir, stray, size=64, workers=1, progress=False)

    out = tmp_path / "built"
    build_emoji_set(emoji_dir, out, name="twemoji", size=64, workers=1, progress=False)
    with pytest.raises(ValueError, match="--name twemoji"):
        build_emoji_set(emoji_dir, out, name="noto", size=64, workers=1, progress=False)
    newer = tmp_path / "twemoji-16"
    shutil.copytree(emoji_dir, newer)
    (newer / "1f44b.svg").write_text(hand("#00ff00"))
    with pytest.raises(ValueError, match="--force"):
        build_emoji_set(newer, out, name="twemoji", size=64, workers=1, progress=False)
    build_emoji_set(newer, out, name="twemoji", size=64, workers=1, progress=False, force=True)
    assert tuple(read(out / "color/1f44b.png")[32, 24]) == (0, 255, 0)  # rebuilt from the new folder


def test_line_art_that_cannot_be_written_fails_its_group_only(emoji_dir: Path, tmp_path: Path):
    out = tmp_path / "data"
    build_emoji_set(emoji_dir, out, size=64, workers=1, progress=False)
    (out / "sketch" / "1f44b.xdog.png").unlink()
    (out / "sketch" / "1f44b.xdog.png").mkdir()  # a folder where the hands' line art must go
    report = build_emoji_set(emoji_dir, out, size=64, workers=1, progress=False)
    broken = sorted(Path(f).name for f, e in report.failed if "line art cannot be written" in e)
    assert broken == sorted(f"1f44b{t}.svg" for t in TONES), "each of the group's source files is named"
    assert report.rows == 3 and report.groups == 0 and report.made == 0
    assert {row["id"] for row in Manifest(out)} == {"2764", "1f1fa-1f1f8", "1f438"}  # the rest goes on


def test_cli_builds_and_evaluate_scores_it(emoji_dir: Path, tmp_path: Path, tiny_model):
    out = tmp_path / "data"
    runner = CliRunner()
    result = runner.invoke(main, ["data", "emoji", str(emoji_dir), "--out", str(out), "--name", "twemoji",
                                  "--size", "64", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "9 pairs (1 excluded, 8 val), 1 drawing in several colourings" in result.output
    assert "duplicates skipped 1, failed 2." in result.output and "2 file(s) failed" in result.output
    result = runner.invoke(main, ["evaluate", str(tiny_model), "--data", str(out), "-o", str(tmp_path / "ev"),
                                  "--device", "cpu"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    variant = scores["conditions"]["tags"]["all"]["variant"]
    assert variant["groups"] == 1 and variant["members"] == 6 and variant["chance"] == pytest.approx(1 / 6)
    # the set's lower-case code-point names are read as skin tones: one drawing in the five tones
    assert scores["hands"]["own"]["tone_order"]["drawings"] == 1 and "tags, traced lines" in scores["conditions"]

    refused = runner.invoke(main, ["train", "--data", str(out), "--steps", "1", "--runs-dir", str(tmp_path / "runs"),
                                   "--device", "cpu"])
    assert refused.exit_code == 1 and "a test set" in refused.output and "never trained on" in refused.output, \
        refused.output

    missing = runner.invoke(main, ["data", "emoji", str(tmp_path / "empty"), "--out", str(out)])
    assert missing.exit_code != 0
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(main, ["data", "emoji", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert empty.exit_code == 1 and "no .svg or .png files" in empty.output


@pytest.mark.timeout(60)
def test_a_file_over_the_time_limit_is_stopped_and_the_rest_are_built(tmp_path):
    src = tmp_path / "set"
    src.mkdir()
    # a dilation this wide over the whole canvas takes resvg minutes at 256 px
    (src / "1f600.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
                                   '<filter id="f"><feMorphology operator="dilate" radius="150"/></filter>'
                                   '<rect width="200" height="200" fill="#d42020" filter="url(#f)"/></svg>')
    (src / "1f44b.svg").write_text(hand(TONES[""]))
    report = build_emoji_set(src, tmp_path / "out", size=256, workers=1, progress=False, time_limit=1.5)
    assert [(Path(file).name, error) for file, error in report.failed] == [
        ("1f600.svg", "took over 1.5 s (--timeout), so it was stopped. Raise --timeout if files this slow are wanted")]
    assert [row["id"] for row in Manifest(tmp_path / "out")] == ["1f44b"]


def test_a_training_build_splits_by_drawing_and_takes_the_artists_lines(emoji_dir: Path, tmp_path: Path, dataset):
    """--train: every colouring of a drawing in one split, train and val both used; a drawing
    whose toneless member is in --lines takes that line drawing as its sketch; and the set can be
    trained on, where a test set is refused."""
    from colorize.data.manifest import has_artist_lines

    lines = tmp_path / "monotone"
    lines.mkdir()
    outline = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 36 36"><path fill="none" stroke="#000" '
               'stroke-width="2" d="M6 30 L10 6 L26 6 L30 30 Z"/></svg>')
    (lines / "1f44b.svg").write_text(outline)
    src = tmp_path / "many"
    src.mkdir()
    for path in emoji_dir.iterdir():
        (src / path.name).write_bytes(path.read_bytes())
    for i in range(30):  # thirty single drawings: animals, named by code points
        (src / f"{0x1F400 + i:x}.svg").write_text(hand(f"#{40 + i * 6:02x}8040"))
    out = tmp_path / "train-set"
    report = build_emoji_set(src, out, name="noto", size=32, workers=1, progress=False, role="train",
                             val_fraction=0.3, lines_src=lines)
    rows = list(Manifest(out))
    splits = {}
    for row in rows:
        splits.setdefault(row["drawing"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits.values()), "a drawing's colourings split apart"
    assert {"train", "val"} <= {row["split"] for row in rows} and report.artist_lines == 1
    hands = [row for row in rows if row["drawing"] == "1f44b"]
    assert {row["line_art"] for row in hands} == {"artist"} and all(has_artist_lines(row) for row in hands)
    assert not any(has_artist_lines(row) for row in rows if row["drawing"] != "1f44b")
    drawn = read(out / hands[0]["sketch"]).min(axis=-1) < 128
    assert drawn[16, 3:8].any() and not drawn[20, 12:20].any()  # the outline, not a filled hand
    info = json.loads((out / "dataset.json").read_text())
    assert info["role"] == "train" and not info["test_only"] and info["artist_lines"] == 1

    from colorize.config import load_config
    from colorize.train.trainer import Trainer

    config = load_config(None, {"data": [str(out)], "steps": 1, "batch_size": 2, "runs_dir": str(tmp_path / "runs"),
                                "model.size": 32, "model.ngf": 8, "model.ndf": 8, "device": "cpu",
                                "line_styles": {"artist": 1, "traced": 1}})
    Trainer(config, progress=False).train()
    test_set = tmp_path / "test-set"
    build_emoji_set(emoji_dir, test_set, name="twemoji", size=32, workers=1, progress=False)
    with pytest.raises(ValueError, match="a test set .* never trained on"):
        Trainer(with_data(config, [str(dataset), str(test_set)]), progress=False)


def with_data(config, data):
    from colorize.config import with_overrides

    return with_overrides(config, {"data": data})
