"""Line styles: every style deterministic under a seed, drawing nothing outside the picture;
the styler's shares and fallbacks; lines drawn from the toneless colouring, so no tone leaks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from colorize.config import TrainConfig
from colorize.data.augment import geometric
from colorize.data.dataset import PairDataset, to_image
from colorize.data.linestyles import STYLES, LineStyler
from colorize.data.manifest import Manifest, has_artist_lines, reference_rows

LINES = sorted(n for n, s in STYLES.items() if s.kind == "lines")
LOOKS = sorted(n for n, s in STYLES.items() if s.kind == "look")


@pytest.fixture(scope="module")
def picture() -> tuple[np.ndarray, np.ndarray]:
    """A coloured face in the middle of a 96-px page, and its artist's line art: black
    outlines the colour picture has too. The outer 20 px are blank paper in both."""
    colour = np.full((96, 96, 3), 255, np.uint8)
    cv2.circle(colour, (48, 48), 24, (250, 200, 60), -1)
    cv2.circle(colour, (48, 48), 24, (0, 0, 0), 3)
    cv2.circle(colour, (40, 44), 4, (60, 40, 30), -1)
    cv2.rectangle(colour, (40, 56), (56, 60), (200, 40, 40), -1)
    lines = np.full_like(colour, 255)
    cv2.circle(lines, (48, 48), 24, (0, 0, 0), 3)
    cv2.circle(lines, (40, 44), 4, (0, 0, 0), 1)
    return colour, lines


def _blank_margin(image: np.ndarray, margin: int = 14) -> np.ndarray:
    """The pixels within ``margin`` of the border: blank paper in the fixture."""
    keep = np.ones(image.shape[:2], bool)
    keep[margin:-margin, margin:-margin] = False
    return image[keep]


@pytest.mark.parametrize("name", LINES)
def test_each_lines_style_is_deterministic_and_draws_only_on_the_picture(name, picture):
    colour, lines = picture
    draw = STYLES[name].draw
    first = draw(lines, colour, True, np.random.default_rng(7))
    again = draw(lines, colour, True, np.random.default_rng(7))
    assert first.shape == colour.shape and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert (first < 128).any(), f"{name} drew no lines at all"
    assert (_blank_margin(first) == 255).all(), f"{name} drew on the blank paper around the picture"


@pytest.mark.parametrize("name", LOOKS)
def test_each_look_is_deterministic_changes_the_lines_and_inks_nothing_away_from_them(name, picture):
    _, lines = picture
    draw = STYLES[name].draw
    first = draw(lines, np.random.default_rng(3))
    assert first.shape == lines.shape and first.dtype == np.uint8
    assert np.array_equal(first, draw(lines, np.random.default_rng(3)))
    assert not np.array_equal(first, lines), f"{name} left the lines as they were"
    # a scan tints the paper and adds grain, but nothing dark appears away from the drawing
    assert _blank_margin(first).min() >= 150, f"{name} put ink on the blank paper"


def test_seeds_differ(picture):
    _, lines = picture
    for name in ("broken", "wobbly", "pencil", "scan"):
        a = STYLES[name].draw(lines, np.random.default_rng(1))
        b = STYLES[name].draw(lines, np.random.default_rng(2))
        assert not np.array_equal(a, b), name


def test_thin_never_erases_a_one_pixel_line():
    lines = np.full((32, 32, 3), 255, np.uint8)
    lines[10, 4:28] = 0
    thinned = STYLES["thin"].draw(lines, np.random.default_rng(0))
    assert (thinned[10, 4:28] == 0).all()


def test_styler_draws_by_share_and_falls_back_where_a_row_has_no_artist_lines(picture):
    colour, lines = picture
    traced = STYLES["traced"].draw(None, colour, False, None)
    styler = LineStyler({"artist": 3, "traced": 1}, {})
    rng = np.random.default_rng(0)
    drawn = [styler.lines(lines, colour, True, rng) for _ in range(400)]
    share = np.mean([np.array_equal(d, lines) for d in drawn])
    assert 0.68 < share < 0.82  # 3 : 1
    # a row without the artist's lines: always traced, never its stored (extractor's) sketch
    stored = STYLES["xdog"].draw(None, colour, False, None)
    assert all(np.array_equal(styler.lines(stored, colour, False, rng), traced) for _ in range(20))
    # only the artist configured: such a row keeps its stored sketch
    assert np.array_equal(LineStyler({"artist": 1}, {}).lines(stored, colour, False, rng), stored)


def test_bad_shares_are_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="line_styles: unknown lines style 'crayon'; choose from .*traced"):
        LineStyler({"crayon": 1})
    with pytest.raises(ValueError, match="line_looks: unknown look style 'traced'"):
        LineStyler({"artist": 1}, {"traced": 0.5})
    with pytest.raises(ValueError, match=r"line_looks.scan must be a chance from 0 to 1, got 2"):
        LineStyler({"artist": 1}, {"scan": 2})
    with pytest.raises(ValueError, match="every share is 0"):
        LineStyler({"artist": 0})
    with pytest.raises(ValueError, match=r"line_styles.traced must be a share, 0 or more"):
        TrainConfig(data="x", line_styles={"traced": -1})


def test_the_reference_member_is_the_toneless_colouring(dataset):
    rows = list(Manifest(dataset, split=None))
    reference = reference_rows(rows)
    toned = [r for r in rows if "skin tone" in " ".join(r["tags"])]
    assert toned
    for row in toned:
        ref = next(r for r in rows if r["id"] == reference[row["id"]])
        assert ref["drawing"] == row["drawing"]
        assert not any("skin tone" in t for t in ref["tags"]), (row["id"], ref["id"])
    assert all(has_artist_lines(r) for r in rows)  # OpenMoji's line layer


def test_lines_drawn_in_training_are_the_same_for_every_colouring_of_a_drawing(dataset):
    """With traced lines, all skin-tone colourings of one drawing get the very same sketch,
    while their targets differ: only the tags can tell them apart."""
    ds = PairDataset(dataset, split=None, augment=True, line_styles=LineStyler({"traced": 1}, {}))
    ds._geometric = geometric(p=0.0)
    by_drawing: dict[str, list[int]] = {}
    for i, row in enumerate(ds.rows):
        by_drawing.setdefault(row["drawing"], []).append(i)
    group = max(by_drawing.values(), key=len)
    assert len(group) >= 3
    samples = [ds[i] for i in group]
    for sample in samples[1:]:
        assert torch.equal(sample["sketch"], samples[0]["sketch"])
        assert not torch.equal(sample["target"], samples[0]["target"])
    assert not torch.equal(samples[0]["sketch"], PairDataset(dataset, split=None)[group[0]]["sketch"])


def test_training_styles_follow_the_seed(dataset):
    styler = LineStyler({"artist": 1, "traced": 1, "solid": 1}, {"broken": 0.5, "wobbly": 0.5, "scan": 0.5})
    sketches = []
    for seed in (5, 5, 6):
        ds = PairDataset(dataset, split=None, augment=True, line_styles=styler, seed=seed)
        ds._geometric = geometric(p=0.0)
        sketches.append([to_image(ds[i]["sketch"]) for i in range(len(ds))])
    assert all(np.array_equal(a, b) for a, b in zip(sketches[0], sketches[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(sketches[0], sketches[2], strict=True))
