"""Tag swaps: groups of vocabulary tags that differ by one colour or tone word.

A swap shows what the tags decide: the same sketch coloured once per value of one tag
("light skin tone" ... "dark skin tone", "red heart" ... "black heart"), every other tag
kept. The groups are read off a model's vocabulary, so they only offer tags it was trained
with.

    groups = swap_groups(colorizer.vocab)      # [SwapGroup('… skin tone', ...), ...]
    tag_sets = groups[0].apply("woman, red hair, light skin tone")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from colorize.data.tags import SKIN_TONES, parse_tags

__all__ = ["SwapGroup", "swap_groups"]

# Basic colour terms, in the order a swap row shows them (warm to cool, then neutrals).
# Hand-written because the larger lists at hand (CSS's 148 names in PIL) also hold food
# and plant names ("tomato", "plum", "olive", "chocolate") that would group tags that do
# not differ by colour at all.
COLOURS = ("red", "orange", "yellow", "blond", "gold", "green", "blue", "purple", "pink",
           "brown", "white", "silver", "grey", "gray", "black")
SHADES = ("light", "dark")  # "light blue heart": a shade word before a colour is one colour
TONES = tuple(tag.removesuffix(" skin tone") for tag in SKIN_TONES.values())  # light ... dark
_ORDER = {colour: i for i, colour in enumerate(TONES + COLOURS)}


@dataclass(frozen=True)
class SwapGroup:
    """Vocabulary tags that read the same but for one colour / tone phrase, in display order."""

    pattern: str  # the tags with the varying phrase as "*", e.g. "* skin tone"
    tags: tuple[str, ...]  # "light skin tone", "medium-light skin tone", ...
    values: tuple[str, ...]  # "light", "medium-light", ...

    @property
    def name(self) -> str:
        return self.pattern.replace("*", "…")

    def apply(self, tags: str | Sequence[str] | None) -> list[list[str]]:
        """One tag list per member: ``tags`` with any member of the group replaced by it (or it appended)."""
        base = parse_tags(tags)
        at = next((i for i, t in enumerate(base) if t in self.tags), len(base))
        rest = [t for t in base if t not in self.tags]
        at = min(at, len(rest))
        return [rest[:at] + [tag] + rest[at:] for tag in self.tags]


def _colour_spans(words: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, phrase) for every colour or tone phrase in a tag's words."""
    spans = []
    for i, word in enumerate(words):
        if word in COLOURS or word in TONES:
            spans.append((i, i + 1, word))
        if word in SHADES and i + 1 < len(words) and words[i + 1] in COLOURS:
            spans.append((i, i + 2, f"{word} {words[i + 1]}"))
    return spans


def _sort_key(value: str) -> tuple[int, int]:
    *shade, colour = value.split(" ")
    return _ORDER.get(colour, len(_ORDER)), (SHADES.index(shade[0]) + 1 if shade else 0)


def swap_groups(vocab: Sequence[str], min_size: int = 2) -> list[SwapGroup]:
    """Every group of at least ``min_size`` vocabulary tags that differ only in one colour / tone phrase.

    Largest first, then by name. A tag may be in several groups ("light blue heart" is in
    "… heart" as "light blue").
    """
    members: dict[str, dict[str, str]] = {}
    for tag in dict.fromkeys(vocab):
        words = tag.split(" ")
        for start, end, phrase in _colour_spans(words):
            rest = words[:start] + ["*"] + words[end:]
            if len(rest) == 1:  # a bare colour ("orange" the fruit) has nothing to keep
                continue
            members.setdefault(" ".join(rest), {}).setdefault(phrase, tag)
    groups = []
    for pattern, by_value in members.items():
        if len(by_value) >= min_size:
            values = sorted(by_value, key=_sort_key)
            groups.append(SwapGroup(pattern, tuple(by_value[v] for v in values), tuple(values)))
    return sorted(groups, key=lambda g: (-len(g.tags), g.pattern))
