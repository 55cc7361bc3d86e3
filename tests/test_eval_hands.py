"""The per-hand measures of ``evaluate`` on real OpenMoji drawings whose right answers are known:
lines redrawn from a drawing's reference member, tone order, named-colour and two-person accuracy,
the traced-lines condition and the hands table."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from colorize.data.extract import get_extractor
from colorize.data.images import load_rgb
from colorize.data.manifest import Manifest, reference_rows
from colorize.data.openmoji import build_openmoji, openmoji_svg_dir
from colorize.eval.evaluate import evaluate, evaluate_datasets, load_split, redraw_sketches, to_markdown
from colorize.eval.hands import (colour_families, codepoints, five_tone_groups, named_colour_groups, skin_tones, tone_of, tone_order,
                                 two_tone_members)

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


# -- which rows each measure takes, on hand-built rows ----------------------------------------------

def test_each_measure_picks_exactly_its_rows():
    groups = [
        ["1f44b", "1f44b-1f3fb", "1f44b-1f3fc", "1f44b-1f3fd", "1f44b-1f3fe", "1f44b-1f3ff"],  # five tones, toneless
        ["1f9b5-1f3fb", "1f9b5-1f3fc", "1f9b5-1f3fd", "1f9b5-1f3fe", "1f9b5-1f3ff"],           # five tones alone
        ["1f44d-1f3fb", "1f44d-1f3fc", "1f44d-1f3fd", "1f44d-1f3fe"],                          # four: not five
        ["1f9d1-200d-1f91d-200d-1f9d1", "1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3fb",              # the same tone twice
         "1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3ff", "1f9d1-1f3ff-200d-1f91d-200d-1f9d1-1f3fb",  # two tones, both ways
         "1f9d1-1f3fc-200d-1f91d-200d-1f9d1-1f3fd", "1f9d1-1f3fd-200d-1f91d-200d-1f9d1-1f3fd"],
        ["1f499", "1f49a"],                                                                    # blue, green heart
        ["1f469-200d-1f9b0", "1f469-1f3fb-200d-1f9b0"],                                        # red hair both: no
        ["cat-1", "cat-2"],                                                                    # imported: no code points
    ]
    tags = {"1f499": ["blue heart"], "1f49a": ["green heart"], "1f469-200d-1f9b0": ["woman", "red hair"],
            "1f469-1f3fb-200d-1f9b0": ["woman", "light skin tone", "red hair"], "cat-1": ["cat"], "cat-2": ["cat", "gray"],
            **{i: ["x", "dark skin tone"] for g in groups[:4] for i in g}}
    five = five_tone_groups(groups)
    assert five == [[*groups[0][1:], groups[0][0]], groups[1]], "light to dark, then the toneless one"
    assert named_colour_groups(groups, tags) == [groups[4], groups[6]]  # "gray" is grey, a colour word
    assert [two_tone_members(g) for g in groups] == [[], [], [], groups[3][2:5], [], [], []]
    assert skin_tones("1F9D1-1F3FF-200D-1F91D-200D-1F9D1-1F3FB") == [5, 1] and tone_of("1f44b") == 0
    assert codepoints("cat-1") == [] and tone_of("cat-1") == 0
    # a group's members out of order are put in order
    assert five_tone_groups([list(reversed(groups[1]))]) == [groups[1]]


def test_tone_order_asks_for_darker_with_every_step():
    colours = {f"t{k}": np.full((4, 4, 3), 250 - 40 * k, np.uint8) for k in range(1, 6)}
    ordered = [f"t{k}" for k in range(1, 6)]
    assert tone_order([ordered], colours, colours) == [True]
    assert tone_order([ordered], {**colours, "t4": colours["t5"]}, colours) == [False], "a tie is no step darker"
    assert tone_order([ordered], {**colours, "t1": colours["t2"], "t2": colours["t1"]}, colours) == [False]


def test_tone_order_reads_the_skin_not_the_hair():
    """As in Twemoji, the hair changes with the skin tone, and outweighs the skin: over all the
    pixels that change the colour images themselves are out of order. Over the skin, the pixels
    that darken with every tone, they are in order, and so is a colouring that copies them."""
    colours = {}
    for k, hair in zip(range(1, 6), (200, 30, 220, 40, 230), strict=True):
        image = np.full((8, 8, 3), 250 - 40 * k, np.uint8)  # skin: darker with every step
        image[:, 2:] = hair                                    # hair, three quarters: darker, then lighter
        colours[f"t{k}"] = image
    ordered = [f"t{k}" for k in range(1, 6)]
    assert tone_order([ordered], colours, colours) == [True]
    flat = {i: np.full_like(c, 128) for i, c in colours.items()}
    assert tone_order([ordered], {**flat, "t1": colours["t1"]}, colours) == [False]
    # colour images that never darken step by step have no skin to read: no score
    assert tone_order([ordered], colours, {i: colours["t3"] for i in colours}) == []


# -- evaluate's hands figures, with colourings whose answers are known ---------------------------------

class _Model:
    """What evaluate needs of a colorizer when the colouring itself is passed in."""

    size, source, step = 64, "test", 0


@pytest.fixture(scope="module")
def hands_split(hands_data):
    return load_split(hands_data, None, 64)


def colouring(split, swap: dict[str, str] | None = None, calls: list | None = None):
    """A colouring that gives each row's tags the colour image of ``swap.get(row, row)``: with no
    swap, the oracle. Rows are told apart by their tag sets, which differ in the fixture.
    ``calls`` collects the number of images of each call."""
    rows, _, colours = split
    by_tags = {tuple(r["tags"]): r["id"] for r in rows}
    assert len(by_tags) == len(rows)
    swap = swap or {}

    def colour(images, tag_sets):
        if calls is not None:
            calls.append(len(images))
        out = []
        for image, tags in zip(images, tag_sets, strict=True):
            row = by_tags.get(tuple(tags))
            out.append(image if row is None else colours[swap.get(row, row)])
        return out

    return colour


MEMBERS, GROUPS = 15, 4  # the hand, the pairs, the hearts, the squares
CHANCE = (1 + 1 + 1 + 1) / MEMBERS  # one member of each group right


def test_the_oracle_scores_one_on_every_figure_with_both_lines(hands_data, hands_split):
    calls = []
    results = evaluate(_Model(), hands_data, split=None, colour=colouring(hands_split, calls=calls), progress=False)
    hands = results["hands"]
    for lines in ("own", "traced"):
        assert hands[lines] == {"variant": {"accuracy": 1.0, "groups": GROUPS, "members": MEMBERS},
                                "tone_order": {"share": 1.0, "drawings": 1},
                                "named_colour": {"accuracy": 1.0, "groups": 2, "members": 5},
                                "two_person": {"accuracy": 1.0, "groups": 1, "members": 2}}, lines
    # no tags: every member of a group gets the same picture, one right per group
    assert hands["no_tags"] == {"accuracy": pytest.approx(CHANCE), "chance": pytest.approx(CHANCE),
                                "groups": GROUPS, "members": MEMBERS}
    # with tags, no tags and traced lines: the split is coloured three times, and no more
    rows = len(hands_split[0])
    assert sum(calls) == 3 * rows and set(results["conditions"]) == {"tags", "no_tags", "tags, traced lines"}


def test_a_colouring_that_reverses_the_tones_orders_none(hands_data, hands_split):
    reverse = dict(zip(FIVE_TONES[1:], reversed(FIVE_TONES[1:]), strict=True))  # light gets dark's colours...
    results = evaluate(_Model(), hands_data, split=None, colour=colouring(hands_split, reverse), progress=False,
                       baseline=False)
    for lines in ("own", "traced"):
        figures = results["hands"][lines]
        assert figures["tone_order"] == {"share": 0.0, "drawings": 1}
        # the toneless and the medium hand keep their own; the four others are wrong
        assert figures["variant"]["accuracy"] == pytest.approx((MEMBERS - 4) / MEMBERS)
        assert figures["named_colour"]["accuracy"] == figures["two_person"]["accuracy"] == 1.0
    assert results["hands"]["no_tags"]["accuracy"] is None and "no_tags" not in results["conditions"]


def test_which_person_counts_the_two_tone_pairs_only(hands_data, hands_split):
    left, right = TWO_TONES
    results = evaluate(_Model(), hands_data, split=None, colour=colouring(hands_split, {left: right, right: left}),
                       progress=False, baseline=False)
    figures = results["hands"]["own"]
    assert figures["two_person"] == {"accuracy": 0.0, "groups": 1, "members": 2}
    assert figures["variant"]["accuracy"] == pytest.approx((MEMBERS - 2) / MEMBERS)
    assert figures["tone_order"]["share"] == figures["named_colour"]["accuracy"] == 1.0


def test_a_constant_colouring_scores_chance(hands_data):
    def grey(images, tag_sets):
        return [np.full_like(image, 128) for image in images]

    results = evaluate(_Model(), hands_data, split=None, colour=grey, progress=False)
    hands = results["hands"]
    for lines in ("own", "traced"):
        assert hands[lines]["variant"]["accuracy"] == pytest.approx(CHANCE) == pytest.approx(hands["no_tags"]["chance"])
        assert hands[lines]["named_colour"]["accuracy"] == pytest.approx(2 / 5)  # one heart, one square
        assert hands[lines]["tone_order"]["share"] == 0.0, "five equal lightnesses are no order"


def test_traced_figures_come_from_the_traced_lines(hands_data, hands_split):
    """A colouring that is right only on the dataset's own lines: perfect with them, and with
    the traced lines, which are another drawing, it paints every member alike."""
    rows, sketches, colours = hands_split
    own = {r["id"]: sketches[r["id"]] for r in rows}
    oracle = colouring(hands_split)

    def own_lines_only(images, tag_sets):
        right = oracle(images, tag_sets)
        return [out if any(np.array_equal(image, s) for s in own.values()) else np.full_like(image, 128)
                for image, out in zip(images, right, strict=True)]

    results = evaluate(_Model(), hands_data, split=None, colour=own_lines_only, progress=False, baseline=False)
    assert results["hands"]["own"]["variant"]["accuracy"] == 1.0
    assert results["hands"]["traced"]["variant"]["accuracy"] == pytest.approx(CHANCE)
    # asking for the traced lines again does not colour them twice
    calls = []
    again = evaluate(_Model(), hands_data, split=None, colour=colouring(hands_split, calls=calls), progress=False,
                     baseline=False, redraw=("traced", "xdog"))
    assert sum(calls) == 3 * len(rows) and list(again["conditions"]) == ["tags", "tags, traced lines", "tags, xdog lines"]


def test_hands_table_has_a_row_per_dataset_and_dashes_where_a_category_is_empty(hands_data, dataset, hands_split):
    """The conftest dataset has variant groups (a woman in three tones, two hearts) but no drawing
    in five tones and no two people: its tone order and which-person figures are no score."""
    rows, _, colours = load_split(dataset, None, 64)
    by_tags = {tuple(r["tags"]): colours[r["id"]] for r in rows}
    known = colouring(hands_split)

    def oracle(images, tag_sets):
        out = known(images, tag_sets)
        return [by_tags.get(tuple(t), o) for o, t in zip(out, tag_sets, strict=True)]

    results = evaluate_datasets(_Model(), [hands_data, dataset], split=None, colour=oracle, progress=False)
    other = results["datasets"][dataset.name]["hands"]["own"]
    assert other["tone_order"] == {"share": None, "drawings": 0}
    assert other["two_person"] == {"accuracy": None, "groups": 0, "members": 0}
    # the blue and green hearts share a drawing; the red heart is drawn apart, a colour family with them
    assert other["named_colour"] == {"accuracy": 1.0, "groups": 2, "members": 4}
    table = [line for line in to_markdown(results).splitlines() if line.startswith("| ")]
    assert table[0].startswith("| hand |") and len(table) > 3
    ours = next(line for line in table if line.startswith(f"| {hands_data.name} |"))
    theirs = next(line for line in table if line.startswith(f"| {dataset.name} |"))
    cells = [c.strip() for c in theirs.strip("|").split("|")]
    assert cells[4:6] == ["– / –", "0"] and cells[8:10] == ["– / –", "0"]
    assert cells[2] == "1.000 / 1.000" and cells[6:8] == ["1.000 / 1.000", "2 (4)"]
    cells = [c.strip() for c in ours.strip("|").split("|")]
    assert cells[1:] == ["16", "1.000 / 1.000", f"{GROUPS} ({MEMBERS})", "1.000 / 1.000", "1", "1.000 / 1.000",
                         "2 (5)", "1.000 / 1.000", "2", f"{CHANCE:.3f} / {CHANCE:.3f}"]


def test_no_hands_without_variant_groups(hands_data, tmp_path):
    """A split with no drawing in several colourings has no hands figures, and no traced pass."""
    data = tmp_path / "data"
    shutil.copytree(hands_data, data)
    manifest = data / "manifest.jsonl"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    keep = [line for line in lines if '"1F600"' in line or '"1F499"' in line]
    manifest.write_text("\n".join(keep) + "\n", encoding="utf-8")
    calls = []

    def colour(images, tag_sets):
        calls.append(len(images))
        return images

    results = evaluate(_Model(), data, split=None, colour=colour, progress=False)
    assert "hands" not in results and sum(calls) == 2 * 2 and "| hand |" not in to_markdown(results)


def test_colour_families_are_rows_of_different_drawings_that_differ_only_by_colour():
    rows = [{"id": "1f499", "tags": ["blue heart"], "drawing": "1f499"},
            {"id": "1f49a", "tags": ["green heart"], "drawing": "1f49a"},
            {"id": "2764", "tags": ["red heart"], "drawing": "2764"},
            {"id": "2764-x", "tags": ["red heart"], "drawing": "2764"},  # the same drawing again: one member
            {"id": "1f494", "tags": ["broken heart"], "drawing": "1f494"},  # no colour word
            {"id": "1f4d7", "tags": ["green book"], "drawing": "1f4d7"},
            {"id": "1f4d8", "tags": ["blue book"], "drawing": "1f4d8"},
            {"id": "1f7e5", "tags": ["red square"], "drawing": "1f7e5"},  # alone in its family
            {"id": "1f469-1f3fb-200d-1f9b0", "tags": ["woman", "light skin tone", "red hair"], "drawing": "w"},
            {"id": "1f469-200d-1f9b3", "tags": ["woman", "white hair"], "drawing": "w2"},
            {"id": "1f469-200d-1f9b0", "tags": ["woman", "red hair"], "drawing": "w3"},
            {"id": "b1", "tags": ["gray cat"], "drawing": "b1"}, {"id": "b2", "tags": ["grey cat"], "drawing": "b2"}]
    assert colour_families(rows) == [["1f469-200d-1f9b0", "1f469-200d-1f9b3"], ["1f499", "1f49a", "2764"],
                                     ["1f4d7", "1f4d8"]]


def test_named_colours_drawn_apart_are_scored_on_one_shared_sketch(hands_data, hands_split, tmp_path):
    """An emoji set draws each heart as its own picture. Its hearts are then no variant group,
    but a colour family: each heart's tags on the first heart's sketch, nearest its own colours?"""
    copy = tmp_path / "apart"
    shutil.copytree(hands_data, copy)
    rows = [json.loads(line) for line in (copy / "manifest.jsonl").read_text().splitlines()]
    for k, row in enumerate(r for r in rows if r["id"] in HEARTS):  # each heart its own drawing and lines
        row["drawing"] = row["id"]
        sketch = cv2.imread(str(copy / row["sketch"]))
        sketch[2:6, 2 + 8 * k:6 + 8 * k] = 0
        row["sketch"] = f"sketch/{row['id']}-apart.png"
        cv2.imwrite(str(copy / row["sketch"]), sketch)
    (copy / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = evaluate(_Model(), copy, split=None, colour=colouring(hands_split), progress=False, baseline=False)
    for lines in ("own", "traced"):
        assert results["hands"][lines]["named_colour"] == {"accuracy": 1.0, "groups": 2, "members": 5}, lines
    # a colouring deaf to the tags gets one heart of three right, and one square of two
    def blue(images, tag_sets):
        return [hands_split[2]["1F499"] for _ in images]

    results = evaluate(_Model(), copy, split=None, colour=blue, progress=False, baseline=False)
    assert results["hands"]["own"]["named_colour"] == {"accuracy": pytest.approx(2 / 5), "groups": 2, "members": 5}
    # ... and so does one that reads each heart's own sketch, which the shared sketch hides from it
    split_rows, sketches, colours = load_split(copy, None, 64)
    by_sketch = {sketches[r["id"]].tobytes(): colours[r["id"]] for r in split_rows if r["id"] in HEARTS}

    def reads_the_sketch(images, tag_sets):
        right = colouring(hands_split)(images, tag_sets)
        return [by_sketch.get(image.tobytes(), fallback) for image, fallback in zip(images, right, strict=True)]

    results = evaluate(_Model(), copy, split=None, colour=reads_the_sketch, progress=False, baseline=False)
    assert results["hands"]["own"]["named_colour"] == {"accuracy": pytest.approx(3 / 5), "groups": 2, "members": 5}
