"""Tag-swap groups read off a vocabulary: tags that differ by one colour or tone phrase."""

from __future__ import annotations

from colorize.data.tags import SKIN_TONES
from colorize.infer.swap import swap_groups

VOCAB = [*SKIN_TONES.values(), "woman", "red hair", "white hair", "curly hair", "blond hair", "red heart",
         "light blue heart", "blue heart", "black heart", "broken heart", "orange", "tomato", "green apple",
         "red apple", "white medium star"]


def test_groups_are_the_tags_that_differ_by_one_colour_word():
    groups = {g.pattern: g for g in swap_groups(VOCAB)}
    assert set(groups) == {"* skin tone", "* hair", "* heart", "* apple"}
    assert groups["* skin tone"].values == ("light", "medium-light", "medium", "medium-dark", "dark")
    assert groups["* hair"].tags == ("red hair", "blond hair", "white hair")  # "curly" is no colour
    assert groups["* heart"].values == ("red", "blue", "light blue", "black")
    assert groups["* heart"].name == "… heart"


def test_apply_replaces_the_groups_member_in_place_or_appends():
    hair = next(g for g in swap_groups(VOCAB) if g.pattern == "* hair")
    assert hair.apply("woman, white hair, dark skin tone") == [
        ["woman", "red hair", "dark skin tone"],
        ["woman", "blond hair", "dark skin tone"],
        ["woman", "white hair", "dark skin tone"],
    ]
    assert hair.apply("woman") == [["woman", "red hair"], ["woman", "blond hair"], ["woman", "white hair"]]
    assert hair.apply(None) == [["red hair"], ["blond hair"], ["white hair"]]
