"""Canonical tags: one spelling per tag, and OpenMoji names split into base, skin tone and hair."""

import pytest

from colorize.data.tags import SKIN_TONES, emoji_tags, normalize_tag, parse_tags, place_tones, with_colour_words


@pytest.mark.parametrize("raw, canonical", [
    ("white_hair", "white hair"),
    ("White Hair", "white hair"),
    ("  white   hair ", "white hair"),
    ("hatsune_miku", "hatsune miku"),
    ("caf\u00e9", "caf\u00e9"),  # NFC, one code point
    ("cafe\u0301", "caf\u00e9"),  # NFD, e and a combining accent: the same tag
    ("CAFE\u0301", "caf\u00e9"),
    ("\u200b", ""),  # a zero-width space is no tag
    ("red\u200b hair\ufeff", "red hair"),
    ("red\thair\n", "red hair"),
    ("red\u00a0hair", "red hair"),  # no-break space
])
def test_normalize_tag(raw, canonical):
    assert normalize_tag(raw) == canonical


def test_parse_tags_dedupes_keeps_order_and_drops_empties():
    assert parse_tags("1girl, White_Hair,, blue eyes, white hair,") == ["1girl", "white hair", "blue eyes"]
    assert parse_tags(["a_b", "A B", "c"]) == ["a b", "c"]
    assert parse_tags(None) == [] and parse_tags("\u200b, cafe\u0301, caf\u00e9") == ["caf\u00e9"]


def codepoints(emoji_id: str) -> list[int]:
    return [int(part, 16) for part in emoji_id.split("-")]


@pytest.mark.parametrize("emoji_id, tags", [
    ("1F469-1F3FC-200D-1F9B0", ["woman", "medium-light skin tone", "red hair"]),
    ("1F49A", ["green heart"]),
    ("1F469-200D-1F9B2", ["woman", "bald"]),
    ("1F471-1F3FD-200D-2640-FE0F", ["woman", "medium skin tone", "blond hair"]),
    # two people, two tones: the first in the sequence is the person on the left
    ("1F468-1F3FE-200D-2764-FE0F-200D-1F48B-200D-1F468-1F3FD",
     ["kiss man man", "medium-dark skin tone on the left", "medium skin tone on the right"]),
    ("1F469-1F3FB-200D-1F91D-200D-1F468-1F3FF",
     ["woman and man holding hands", "light skin tone on the left", "dark skin tone on the right"]),
    ("1F469-1F3FF-200D-1F91D-200D-1F468-1F3FB",
     ["woman and man holding hands", "dark skin tone on the left", "light skin tone on the right"]),
    # two people of one tone: nothing to place
    ("1F46B-1F3FB", ["woman and man holding hands", "light skin tone"]),
    ("1F1FA-1F1F8", ["flag", "united states"]),
    ("1F3F4-E0067-E0062-E0073-E0063-E0074-E007F", ["flag", "scotland"]),
    # not named by the emoji package: Unicode names of the parts
    ("1FAD9-200D-1F7E5", ["jar", "large red square"]),
    # OpenMoji's private-use extras have no public name
    ("E2CC", []),
])
def test_emoji_tags(emoji_id, tags):
    assert emoji_tags(codepoints(emoji_id)) == tags


# two people of the same tone, the tone written twice (the people-holding-hands form that
# has no one-code-point emoji): one plain tone tag, neither person placed
SAME_TONE_TWICE = [
    ("1F9D1-1F3FD-200D-1F91D-200D-1F9D1-1F3FD", ["people holding hands", "medium skin tone"]),
    ("1F468-1F3FB-200D-2764-FE0F-200D-1F48B-200D-1F468-1F3FB", ["kiss man man", "light skin tone"]),
    ("1F469-1F3FF-200D-2764-FE0F-200D-1F469-1F3FF", ["couple with heart woman woman", "dark skin tone"]),
]


@pytest.mark.parametrize("emoji_id, tags", SAME_TONE_TWICE)
def test_two_people_of_one_tone_get_that_tone_once_and_unplaced(emoji_id, tags):
    assert emoji_tags(codepoints(emoji_id)) == tags


@pytest.mark.parametrize("emoji_id, tags", SAME_TONE_TWICE)
@pytest.mark.parametrize("spelling", ["openmoji", "twemoji", "noto"])
def test_an_emoji_sets_file_name_of_two_people_of_one_tone_gives_their_tags_and_drawing(emoji_id, tags, spelling):
    """Each way an emoji set spells the file (OpenMoji's upper case, Twemoji's lower case
    without the variation selector, Noto's emoji_u): the same tags, and the drawing that
    the two-tone colourings of the same emoji share."""
    from colorize.data.emojiset import codepoints_from_name, drawing_of

    stem = {"openmoji": emoji_id,
            "twemoji": emoji_id.lower().replace("-fe0f", ""),
            "noto": "emoji_u" + emoji_id.lower().replace("-", "_")}[spelling]
    parsed = codepoints_from_name(stem)
    assert emoji_tags(parsed) == tags
    second = max(i for i, c in enumerate(parsed) if c in SKIN_TONES)
    other = 0x1F3FF if parsed[second] != 0x1F3FF else 0x1F3FB
    two_tones = parsed[:second] + [other] + parsed[second + 1:]  # the person on the right in another tone
    assert drawing_of(parsed) == drawing_of(two_tones)
    assert emoji_tags(two_tones) == [tags[0], f"{tags[1]} on the left", f"{SKIN_TONES[other]} on the right"]


def test_attribute_words_are_only_split_when_the_sequence_carries_them():
    # "red hair" alone is its own emoji and its own single tag
    assert emoji_tags([0x1F9B0]) == ["red hair"]


def test_place_tones_leaves_other_attributes_alone():
    assert place_tones(["light skin tone", "dark skin tone", "red hair"], ["light skin tone", "dark skin tone"]) == \
        ["light skin tone on the left", "dark skin tone on the right", "red hair"]
    assert place_tones(["light skin tone"], ["light skin tone"]) == ["light skin tone"]
    assert place_tones(["light skin tone"], ["light skin tone", "light skin tone"]) == ["light skin tone"]
    assert place_tones(["light skin tone", "red hair"], ["light skin tone", "light skin tone"]) == \
        ["light skin tone", "red hair"]


@pytest.mark.parametrize("tags, added", [
    (["red question mark"], ["red"]),
    (["man", "dark skin tone", "white hair"], ["white"]),       # skin tones are not colours
    (["woman", "light skin tone", "blond hair"], []),
    (["gray cat", "blue-green thing"], ["grey", "blue", "green"]),  # aliases, hyphens
    (["red heart", "red"], []),                                   # never twice
    (["rainbow"], []),
])
def test_colour_words_become_tags_of_their_own(tags, added):
    assert with_colour_words(tags) == tags + added


@pytest.mark.parametrize("content, message", [
    ('[1, 2]\n', "line 1: expected an object"),
    ('7\n', "not a int"),
    ('{"path": "a.png", "tags": [1, 2]}\n', "tags must be a comma-separated string or a list of strings"),
    ('{"path": "a.png", "tags": {"x": 1}}\n', "tags must be"),
    ('{"path": 5, "tags": "x"}\n', "the path must be a string"),
    ('{"path": "a.png", "tags": "x"}\n{"path": "a.png", "tags": "y"}\n', "line 2: 'a.png' already has tags on line 1"),
    ("[" * 100000 + "]" * 100000 + "\n", "nested too deeply"),
])
def test_bad_jsonl_tag_files_are_refused_with_the_line(tmp_path, content, message):
    from colorize.data.tagfiles import TagFileError, load_tag_table

    path = tmp_path / "tags.jsonl"
    path.write_text(content)
    with pytest.raises(TagFileError, match=message.replace("[", r"\[").replace("(", r"\(")) as error:
        load_tag_table(path)
    assert str(path) in str(error.value)


def test_csv_tag_files_report_duplicates_and_unclosed_quotes(tmp_path):
    from colorize.data.tagfiles import TagFileError, load_tag_table

    path = tmp_path / "tags.csv"
    path.write_text("path,tags\na.png,red\nb.png,blue\na.png,green\n")
    with pytest.raises(TagFileError, match="line 4: 'a.png' already has tags on line 2"):
        load_tag_table(path)
    path.write_text('path,tags\na.png,"red, blue\nb.png,green\nc.png,white\n')
    with pytest.raises(TagFileError, match="line 2: a quote opened here is not closed"):
        load_tag_table(path)
    path.write_text('path,tags\na.png,"red, blue"\nb.png,green\n')
    assert load_tag_table(path) == {"a.png": ["red", "blue"], "b.png": ["green"]}
