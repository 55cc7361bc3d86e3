"""Line extractors make dark lines on white where the illustration has edges."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from colorize.data.extract import EXTRACTORS, MIXED, get_extractor, mixed
from colorize.data.images import load_rgb


@pytest.fixture(scope="module")
def pair(dataset):
    """A real colour image and the artist's own line art for it."""
    emoji_id = "1F469-1F3FB-200D-1F9B0"
    return load_rgb(dataset / "color" / f"{emoji_id}.png"), load_rgb(dataset / "sketch" / f"{emoji_id}.png")


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_extractor_draws_dark_lines_on_white_along_the_real_lines(pair, name):
    color, line = pair
    sketch = get_extractor(name)(color)
    assert sketch.shape == color.shape and sketch.dtype == np.uint8
    assert (sketch.max(-1) == sketch.min(-1)).all(), "grey only"
    ink = sketch[..., 0] < 128
    assert 0.01 < ink.mean() < 0.3, "some lines, mostly white"
    truth = (line[..., 0] < 128).astype(np.uint8)
    near_truth = cv2.dilate(truth, np.ones((5, 5), np.uint8)) > 0
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert near_truth[ink].mean() > 0.85, "lines fall where the drawing's edges are"
    assert near_ink[truth > 0].mean() > 0.8, "most of the drawing's lines are found"


def test_flat_colour_gives_no_lines():
    flat = np.full((32, 32, 3), (200, 80, 40), np.uint8)
    for extract in EXTRACTORS.values():
        assert (extract(flat) == 255).all()


def test_mixed_picks_every_extractor_in_turn(pair):
    color, _ = pair
    outputs = {name: EXTRACTORS[name](color).tobytes() for name in MIXED}
    rng = random.Random(0)
    chosen = set()
    for _ in range(30):
        out = mixed(color, rng).tobytes()
        chosen.add(next(name for name, expected in outputs.items() if expected == out))
    assert chosen == set(MIXED)


def test_unknown_extractor_names_the_choices():
    with pytest.raises(ValueError, match="adaptive, dilate, solid, traced, xdog, mixed"):
        get_extractor("canny")


def test_traced_draws_a_filled_outline_as_a_double_line():
    """A 9-px black ring on white, filled red: traced marks both of the ring's edges, not its inside."""
    picture = np.full((96, 96, 3), 255, np.uint8)
    cv2.circle(picture, (48, 48), 30, (220, 30, 30), -1)
    cv2.circle(picture, (48, 48), 30, (0, 0, 0), 9)
    lines = get_extractor("traced")(picture)[..., 0] == 0
    row = lines[48]  # through the centre: ring from x = 14 to 22 (left side)
    ink = np.flatnonzero(row[:48])
    assert ink.min() <= 15 and ink.max() >= 21, ink  # both edges of the ring
    assert not row[17:20].any()  # its middle stays paper: two lines, not one
    assert not lines[40:56, 40:56].any()  # the flat red inside has none
    solid = get_extractor("solid")(picture)[..., 0] == 0
    assert solid[48, 14:23].all()  # the black ring is filled black


def test_traced_marks_a_colour_edge_that_grey_hides():
    """Two colours of the same grey: xdog and its kin see nothing, traced sees the edge."""
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[:, :32] = (200, 60, 60)
    picture[:, 32:] = cv2.cvtColor(cv2.cvtColor(picture[:, :32], cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    lines = get_extractor("traced")(picture)[..., 0] == 0
    assert lines[:, 30:34].all(axis=0).any() and not lines[:, :28].any() and not lines[:, 36:].any()
