"""Line extractors make dark lines on white where the illustration has edges."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from colorize.data.extract import EXTRACTORS, get_extractor, mixed
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
    outputs = {name: f(color).tobytes() for name, f in EXTRACTORS.items()}
    rng = random.Random(0)
    chosen = set()
    for _ in range(30):
        out = mixed(color, rng).tobytes()
        chosen.add(next(name for name, expected in outputs.items() if expected == out))
    assert chosen == set(EXTRACTORS)


def test_unknown_extractor_names_the_choices():
    with pytest.raises(ValueError, match="adaptive, dilate, mixed, xdog|adaptive, dilate, xdog, mixed"):
        get_extractor("canny")
