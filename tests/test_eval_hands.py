"""The per-hand measures of ``evaluate`` on real OpenMoji drawings whose right answers are known:
lines redrawn from a drawing's reference member, tone order, named-colour and two-person accuracy,
the traced-lines condition and the hands table."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from colorize.data.extract import get_extractor
from colorize.data.images import load_rgb
from colorize.data.manifest import Manifest, reference_rows
from colorize.data.openmoji import build_openmoji, openmoji_svg_dir
from colorize.eval.evaluate import load_split, redraw_sketches

# A waving hand in its five skin tones and toneless; people holding hands, toneless, light with
# light, and light and dark both ways round; three hearts of one drawing and two squares of
# another, which differ by a colour word; a face alone; a flag.
FIVE_TONES = ["1F44B", "1F44B-1F3FB", "1F44B-1F3FC", "1F44B-1F3FD", "1F44B-1F3FE", "1F44B-1F3FF"]
HOLDING_HANDS = ["1F9D1-200D-1F91D-200D-1F9D1", "1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FB",
                 "1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF", "1F9D1-1F3FF-200D-1F91D-200D-1F9D1-1F3FB"]
TWO_TONES = HOLDING_HANDS[2:]
HEARTS, SQUARES = ["1F499", "1F49A", "1F49B"], ["1F7E5", "1F7E6"]
HAND_IDS = [*FIVE_TONES, *HOLDING_HANDS, *HEARTS, *SQUARES, "1F600", "1F1E8-1F1ED"]


@pytest.fixture(scope="module")
def hands_data(tmp_path_factory):
    """The drawings above, built at 64 px as `colorize data openmoji` builds them."""
    svgs = tmp_path_factory.mktemp("hand-svgs")
    for emoji_id in HAND_IDS:
        shutil.copy(openmoji_svg_dir() / f"{emoji_id}.svg", svgs)
    out = tmp_path_factory.mktemp("hands")
    build_openmoji(out, size=64, svg_dir=svgs, workers=1, progress=False)
    return out


def test_the_reference_member_is_the_plainest_of_its_drawing():
    rows = [{"id": "1f44b-1f3fd", "tags": ["waving hand", "medium skin tone"], "drawing": "1f44b"},
            {"id": "1f44b", "tags": ["waving hand"], "drawing": "1f44b"},
            {"id": "1f44b-1f3fb", "tags": ["waving hand", "light skin tone"], "drawing": "1f44b"},
            {"id": "1f49a", "tags": ["green heart"], "drawing": "heart"},  # a tie: the smaller id
            {"id": "1f499", "tags": ["blue heart"], "drawing": "heart"},
            {"id": "1f600", "tags": ["grinning face"]},  # no drawing: a drawing of its own
            # the toneless pair sorts after a toned one by id: fewer tags come first
            {"id": "1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3ff", "drawing": "pair",
             "tags": ["people holding hands", "light skin tone on the left", "dark skin tone on the right"]},
            {"id": "1f9d1-200d-1f91d-200d-1f9d1", "tags": ["people holding hands"], "drawing": "pair"}]
    assert reference_rows(rows) == {"1f44b-1f3fd": "1f44b", "1f44b": "1f44b", "1f44b-1f3fb": "1f44b",
                                    "1f49a": "1f499", "1f499": "1f499", "1f600": "1f600",
                                    "1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3ff": "1f9d1-200d-1f91d-200d-1f9d1",
                                    "1f9d1-200d-1f91d-200d-1f9d1": "1f9d1-200d-1f91d-200d-1f9d1"}
    # only the rows given count: without the toneless hand, the light one is the plainest by id
    assert reference_rows(r for r in rows if r["id"] != "1f44b")["1f44b-1f3fd"] == "1f44b-1f3fb"


def test_redrawn_lines_come_from_the_reference_member_alike_for_every_member(hands_data):
    rows = list(Manifest(hands_data))
    drawing = {r["id"]: r["drawing"] for r in rows}
    for group in (FIVE_TONES, HOLDING_HANDS, HEARTS):
        assert len({drawing[i] for i in group}) == 1, f"{group} must be one drawing in the fixture"
    lines = redraw_sketches(hands_data, rows, 32, "traced")
    assert set(lines) == {r["id"] for r in rows}
    for group, reference in ((FIVE_TONES, "1F44B"), (HOLDING_HANDS, "1F9D1-200D-1F91D-200D-1F9D1"),
                             (HEARTS, "1F499")):
        expected = cv2.resize(get_extractor("traced")(load_rgb(hands_data / "color" / f"{reference}.png")), (32, 32),
                              interpolation=cv2.INTER_AREA)
        for member in group:
            assert np.array_equal(lines[member], expected), member
    # drawn from each member's own colours, the dark hand's lines would differ from the toneless one's
    own = [get_extractor("traced")(load_rgb(hands_data / "color" / f"{i}.png")) for i in ("1F44B", "1F44B-1F3FF")]
    assert not np.array_equal(*own), "the fixture must show a tone leaking through the lines"
