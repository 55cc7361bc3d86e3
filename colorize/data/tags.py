"""Canonical tags: one spelling per tag, whatever the source wrote.

Owns the rules that turn text into tags, so every source (OpenMoji names, sidecar
``.txt`` captions, gallery-dl metadata, a ``--tags`` flag) ends up in the same
vocabulary. A tag is lower case, with single spaces: ``white_hair``, ``White Hair``
and ``white  hair`` are all ``white hair``.

    >>> parse_tags("1girl, White_Hair,  blue eyes, white hair")
    ['1girl', 'white hair', 'blue eyes']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import emoji

__all__ = ["COLOUR_WORDS", "MONOCHROME", "named_colours", "normalize_tag", "with_colour_words", "parse_tags", "emoji_tags", "is_flag_sequence", "place_tones"]

# The tag that asks for no colour; `colorize train --monochrome` teaches it.
MONOCHROME = "monochrome"
# Basic colour terms. A model with ``colour_words`` on also gets each one that a tag names
# as a tag of its own ("red question mark" -> + "red"), so what it learns of "red" from
# hearts, apples and circles reaches a shape it has never seen.
COLOUR_WORDS = ("black", "blue", "brown", "gold", "green", "grey", "orange", "pink", "purple", "red", "silver",
                "white", "yellow")
_COLOUR_ALIASES = {"gray": "grey", "violet": "purple"}

_SPACES = re.compile(r"\s+")
_INVISIBLE = ("Cf", "Cn", "Cs")  # format characters, unassigned code points, surrogates

# Skin-tone modifiers U+1F3FB..U+1F3FF and the hair components, as the emoji names spell them.
SKIN_TONES = {
    0x1F3FB: "light skin tone",
    0x1F3FC: "medium-light skin tone",
    0x1F3FD: "medium skin tone",
    0x1F3FE: "medium-dark skin tone",
    0x1F3FF: "dark skin tone",
}
HAIR = {0x1F9B0: "red hair", 0x1F9B1: "curly hair", 0x1F9B3: "white hair", 0x1F9B2: "bald"}
BLOND_PERSON = 0x1F471  # "person: blond hair" is one code point, not a hair component
# Longest first, so "medium-light skin tone" is not read as "light skin tone".
_ATTRIBUTE = re.compile(
    r"\b(medium-light skin tone|medium-dark skin tone|medium skin tone|light skin tone|"
    r"dark skin tone|red hair|curly hair|white hair|blond hair|bald)\b"
)
_REGIONAL = range(0x1F1E6, 0x1F200)
_TAG_CHARS = range(0xE0020, 0xE0080)
_JOINERS = {0x200D, 0xFE0F, 0xFE0E}


def normalize_tag(tag: str) -> str:
    """One tag in canonical form: underscores as spaces, single spaces, lower case, Unicode NFC.

    "café" typed as one code point or as "e" and a combining accent is one tag; invisible
    format characters (zero-width space, zero-width joiner, byte-order mark), unassigned
    code points and lone surrogates are dropped, so a tag of nothing but them is no tag;
    control characters count as spaces.
    """
    text = tag.replace("_", " ")
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(c) == "Cc" else "" if unicodedata.category(c) in _INVISIBLE else c
                       for c in text)
    return unicodedata.normalize("NFC", _SPACES.sub(" ", text).strip().lower())


def named_colours(tags: Iterable[str]) -> list[str]:
    """The basic colour terms (:data:`COLOUR_WORDS`) that ``tags`` name, in order, once each:
    ``["red heart", "gray cat"]`` gives ``["red", "grey"]``.

    Skin tones are left alone: they are tags of their own already, and "light" or "dark"
    are not colours.
    """
    found = []
    for tag in tags:
        if "skin tone" in tag:
            continue
        for word in re.split(r"[^a-z]+", tag.lower()):
            word = _COLOUR_ALIASES.get(word, word)
            if word in COLOUR_WORDS and word not in found:
                found.append(word)
    return found


def with_colour_words(tags: Iterable[str]) -> list[str]:
    """``tags`` plus every basic colour term they name (:func:`named_colours`), as tags of their own."""
    tags = list(tags)
    present = {normalize_tag(t) for t in tags}
    return tags + [w for w in named_colours(tags) if w not in present]


def parse_tags(text: str | Iterable[str] | None, sep: str = ",") -> list[str]:
    """The one tag parser: split ``text`` on ``sep`` (or take an iterable of tags; None is no
    tags) into unique canonical tags (:func:`normalize_tag`), empty ones dropped, order kept."""
    if text is None:
        return []
    parts = text.split(sep) if isinstance(text, str) else text
    seen: dict[str, None] = {}
    for part in parts:
        tag = normalize_tag(part)
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def is_flag_sequence(codepoints: list[int]) -> bool:
    """True for country flags (two regional indicators) and subdivision flags (black flag + tag chars)."""
    if len(codepoints) == 2 and all(c in _REGIONAL for c in codepoints):
        return True
    return codepoints[0] == 0x1F3F4 and any(c in _TAG_CHARS for c in codepoints[1:])


def emoji_name(codepoints: list[int]) -> str | None:
    """The emoji package's English name for a sequence, without colons, or None if it has none."""
    chars = "".join(map(chr, codepoints))
    for candidate in (chars, chars.replace("\ufe0f", "")):
        data = emoji.EMOJI_DATA.get(candidate)
        if data is not None:
            return data["en"].strip(":")
    return None


def emoji_tags(codepoints: list[int]) -> list[str]:
    """Canonical tags for an emoji sequence: the base name, then each skin tone and hair part.

    ``[0x1F469, 0x1F3FC, 0x200D, 0x1F9B0]`` gives ``['woman', 'medium-light skin tone', 'red hair']``.
    Sequences the emoji package does not name fall back to the Unicode names of their parts
    (``jar, large red square``); private-use code points (OpenMoji's own extras) have no
    public name and get no tags.
    """
    name = emoji_name(codepoints)
    if name is None:
        return _unicode_tags(codepoints)
    text = normalize_tag(name)
    # Split out the colour-deciding parts only where the sequence really carries them,
    # so "bald eagle" style names are never cut up by accident.
    carries = {SKIN_TONES[c] for c in codepoints if c in SKIN_TONES}
    carries |= {HAIR[c] for c in codepoints if c in HAIR}
    if BLOND_PERSON in codepoints:
        carries.add("blond hair")
    attributes = [m.group(1) for m in _ATTRIBUTE.finditer(text) if m.group(1) in carries]
    base = _ATTRIBUTE.sub(lambda m: "," if m.group(1) in carries else m.group(0), text)
    tags = parse_tags(base) + place_tones(attributes, [SKIN_TONES[c] for c in codepoints if c in SKIN_TONES])
    if is_flag_sequence(codepoints) and not any("flag" in t for t in tags):
        tags.insert(0, "flag")
    return parse_tags(tags)


def place_tones(attributes: list[str], tones: list[str]) -> list[str]:
    """Say which person has which skin tone when a sequence carries two different ones.

    ``tones`` are the sequence's skin tones in code-point order. Emoji of two people
    (``men holding hands``, ``kiss``, ``handshake``) draw the first person on the left,
    so two different tones become ``"light skin tone on the left"`` and ``"dark skin tone
    on the right"``; a set of tags then tells the two colourings apart. One tone, or the
    same tone twice, stays a plain ``"light skin tone"``.

    >>> place_tones(["light skin tone", "dark skin tone"], ["light skin tone", "dark skin tone"])
    ['light skin tone on the left', 'dark skin tone on the right']
    """
    if len(tones) != 2 or tones[0] == tones[1]:
        return attributes
    left, right = tones
    placed = []
    for tag in attributes:
        if tag == left:
            placed.append(f"{left} on the left")
        elif tag == right:
            placed.append(f"{right} on the right")
        else:
            placed.append(tag)
    return placed


def _unicode_tags(codepoints: list[int]) -> list[str]:
    names = []
    for c in codepoints:
        if c in _JOINERS:
            continue
        try:
            names.append(unicodedata.name(chr(c)))
        except ValueError:  # private use: OpenMoji extras have no public name
            return []
    return parse_tags(names)
