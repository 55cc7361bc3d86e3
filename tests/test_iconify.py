"""`colorize data iconify`: emoji sets in Iconify JSON, from tiny packages the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from colorize.cli import main
from colorize.data.emojiset import build_emoji_set
from colorize.data.iconify import IconifyError, extract_emoji, icon_svg
from colorize.data.svgart import read_svg, render

# A hand in two colours, a heart, an arrow drawn once and aliased flipped, and a non-emoji icon.
ICONS = {
    "prefix": "test", "width": 36, "height": 36,
    "icons": {
        "waving-hand": {"body": '<path fill="#ffcc4d" d="M0 0h36v36H0z"/>'},
        "waving-hand-dark-skin-tone": {"body": '<path fill="#7c533e" d="M0 0h36v36H0z"/>'},
        "red-heart": {"body": '<circle fill="#dd2e44" cx="18" cy="18" r="14"/>', "width": 40, "left": -2},
        "right-arrow": {"body": '<path fill="#3b88c3" d="M0 0h18v36H0z"/>'},  # blue on its left half
        "logo": {"body": '<path d="M0 0h1v1H0z"/>'},
    },
    "aliases": {"left-arrow": {"parent": "right-arrow", "hFlip": True}, "circular-alias": {"parent": "circular-alias"}},
}
CHARS = {"1f44b": "waving-hand", "1f44b-1f3ff": "waving-hand-dark-skin-tone", "2764": "red-heart",
         "27a1": "right-arrow", "2b05": "left-arrow"}


@pytest.fixture(params=["chars.json", "names"])
def package(request, tmp_path) -> Path:
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "icons.json").write_text(json.dumps(ICONS))
    if request.param == "chars.json":
        (folder / "chars.json").write_text(json.dumps(CHARS))
    return folder


def rgb(svg: str) -> np.ndarray:
    art = read_svg(svg.encode())
    return render(art.svg, 36, art.width, art.height)


def test_every_emoji_is_written_by_its_code_points_with_or_without_chars_json(package, tmp_path):
    report = extract_emoji(package, tmp_path / "svgs")
    names = sorted(p.name for p in (tmp_path / "svgs").iterdir())
    assert names == ["1f44b-1f3ff.svg", "1f44b.svg", "2764.svg", "27a1.svg", "2b05.svg"]
    assert report.written == 5
    if (package / "chars.json").exists():
        assert report.matched_by == "chars.json"
    else:
        assert report.matched_by == "names" and report.unmatched == ["circular-alias", "logo"]
    dark = rgb((tmp_path / "svgs" / "1f44b-1f3ff.svg").read_text())
    assert np.abs(dark[18, 18].astype(int) - [0x7C, 0x53, 0x3E]).max() <= 2, "the icon's own colours"


def test_an_alias_is_drawn_with_its_flip_and_an_icon_with_its_own_box():
    right, left = rgb(icon_svg(ICONS, "right-arrow")), rgb(icon_svg(ICONS, "left-arrow"))
    blue = np.array([0x3B, 0x88, 0xC3])
    assert np.abs(right[18, 4].astype(int) - blue).max() <= 2 and right[18, 31].min() > 240
    assert np.abs(left[18, 31].astype(int) - blue).max() <= 2 and left[18, 4].min() > 240, "hFlip mirrors it"
    assert 'viewBox="-2 0 40 36"' in icon_svg(ICONS, "red-heart")
    assert icon_svg(ICONS, "circular-alias") is None and icon_svg(ICONS, "missing") is None


def test_the_written_set_builds_as_an_emoji_test_set(package, tmp_path):
    extract_emoji(package, tmp_path / "svgs")
    report = build_emoji_set(tmp_path / "svgs", tmp_path / "data", name="test", size=32, workers=1, progress=False)
    assert report.failed == [] and report.rows == 5 and report.groups == 1


@pytest.mark.parametrize("content, message", [
    (None, "no icons.json here"),
    ("{not json", "cannot be read as JSON"),
    ('{"prefix": "x"}', "no 'icons' object"),
])
def test_a_folder_that_is_no_iconify_set_is_refused_saying_why(tmp_path, content, message):
    folder = tmp_path / "package"
    folder.mkdir()
    if content is not None:
        (folder / "icons.json").write_text(content)
    with pytest.raises(IconifyError, match=message):
        extract_emoji(folder, tmp_path / "svgs")
    result = CliRunner().invoke(main, ["data", "iconify", str(folder), "--out", str(tmp_path / "svgs")])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "svgs").exists()


def test_the_cli_says_what_it_wrote(tmp_path):
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "icons.json").write_text(json.dumps(ICONS))
    (folder / "chars.json").write_text(json.dumps(CHARS))
    result = CliRunner().invoke(main, ["data", "iconify", str(folder), "--out", str(tmp_path / "svgs")])
    assert result.exit_code == 0, result.output
    assert "5 emoji SVGs (matched by chars.json)" in result.output
    assert (tmp_path / "svgs" / "2764.svg").read_text().startswith("<svg ")


def test_an_empty_chars_json_and_old_or_numbered_names_are_matched_by_name(tmp_path):
    """noto-v1 ships an empty chars.json; Firefox OS names icons by the character's Unicode name
    run together (blackheartsuit); Streamline numbers its versions (cloud-1, cloud-2)."""
    folder = tmp_path / "package"
    folder.mkdir()
    body = '<path fill="#dd2e44" d="M0 0h36v36H0z"/>'
    icons = {"width": 36, "height": 36, "icons": {
        "blackheartsuit": {"body": body}, "cloud-2": {"body": body}, "cloud-1": {"body": body},
        "clinking-glasses-3": {"body": body}, "company-logo-7": {"body": body}}}
    (folder / "icons.json").write_text(json.dumps(icons))
    (folder / "chars.json").write_text("{}")
    report = extract_emoji(folder, tmp_path / "svgs")
    assert report.matched_by == "names" and report.unmatched == ["company-logo-7"]
    assert sorted(p.stem for p in (tmp_path / "svgs").glob("*.svg")) == ["1f942", "2601", "2665"]


def test_the_sets_licence_goes_beside_the_svgs_and_into_the_dataset(package, tmp_path):
    (package / "info.json").write_text(json.dumps({
        "name": "Test Emoji", "author": {"name": "A. Artist"},
        "license": {"title": "CC BY 4.0", "spdx": "CC-BY-4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}}))
    extract_emoji(package, tmp_path / "svgs")
    info = json.loads((tmp_path / "svgs" / "iconify.json").read_text())
    assert info["license"] == "CC-BY-4.0" and info["attribution"].startswith("Test Emoji by A. Artist, CC-BY-4.0")
    build_emoji_set(tmp_path / "svgs", tmp_path / "data", name="test", size=32, workers=1, progress=False)
    built = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert built["license"] == "CC-BY-4.0" and built["attribution"] == info["attribution"]
