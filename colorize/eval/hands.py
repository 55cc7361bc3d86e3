"""The per-hand figures: does the model follow the tags on a dataset drawn in one hand?

A model trained on one artist's drawings is measured, per dataset ("hand"), on the
dataset's variant groups (:func:`~colorize.eval.metrics.variant_groups`), with four figures:

* **variant accuracy**: the share of members whose output is nearest their own colour
  image among their group's (:func:`~colorize.eval.metrics.variant_hits`);
* **tone order**: the share of five-tone drawings (the five skin tones, with or without
  the toneless member) whose five toned outputs get darker, by mean CIELAB L* over the
  skin (the pixels where the colour images get darker with every step), with every step
  from light to dark. By chance, 1 in 120;
* **named colours**: variant accuracy over the groups whose members' tags name different
  colours (``red heart`` / ``blue heart``, squares, circles, books), the colour words
  being :func:`~colorize.data.tags.named_colours`; where a set draws each colour as its own
  picture, over its :func:`colour_families`, every member coloured on one shared sketch;
* **two persons**: variant accuracy over the members whose code points carry two
  different skin tones (people holding hands, couples, handshakes): which person has
  which tone.

Each comes with its count (groups, members or drawings), and is None where the count is
0: an empty category is no score.

    hits = member_hits(variant_groups(rows, colours), outputs, colours)
    figures = hand_figures(rows, outputs, colours, hits)   # {"variant", "tone_order", "named_colour", "two_person"}
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from colorize.colour import lab
from colorize.data.tags import SKIN_TONES, named_colours
from colorize.eval.metrics import member_hits, variant_groups

__all__ = ["FIGURES", "TONES", "TONE_STEP", "codepoints", "colour_families", "five_tone_groups", "hand_figures", "named_colour_groups", "skin_mask", "skin_tones",
           "tone_of", "tone_order", "two_tone_members"]

TONES = sorted(SKIN_TONES)  # the modifiers U+1F3FB..U+1F3FF, light .. dark
# The least step in CIELAB L* (of 100) between two neighbouring tones' colour images at a skin pixel:
# far above resampling noise, far below the step between two skin tones (about 10 to 17).
TONE_STEP = 2.0
# The figures of :func:`hand_figures`, as the hands table names them
FIGURES = {"variant": "variant acc.", "tone_order": "tone order", "named_colour": "named colours",
           "two_person": "which person"}


def codepoints(row_id: str) -> list[int]:
    """The code points of an emoji id (``1f44b-1f3fd``, ``1F44B-1F3FD``); none for an id that
    is not hex code points joined by ``-`` (an imported picture's file name)."""
    try:
        return [int(part, 16) for part in row_id.split("-")]
    except ValueError:
        return []


def skin_tones(row_id: str) -> list[int]:
    """The skin tones an id carries, in order, as 1 (light) .. 5 (dark)."""
    return [TONES.index(c) + 1 for c in codepoints(row_id) if c in SKIN_TONES]


def tone_of(row_id: str) -> int:
    """0 for an id with no skin tone, else 1..5 for its last one, light to dark."""
    tones = skin_tones(row_id)
    return tones[-1] if tones else 0


def _share(hits: Sequence[bool]) -> float | None:
    return float(np.mean(hits)) if len(hits) else None


def five_tone_groups(groups: Sequence[Sequence[str]]) -> list[list[str]]:
    """Of variant ``groups``, those of the five skin tones, each once and each member of one tone
    (so no two-person group), with at most one toneless member besides; each with its toned
    members ordered light to dark, then the toneless one if there is one."""
    found = []
    for group in groups:
        tones = {i: set(skin_tones(i)) for i in group}
        toned = sorted((i for i in group if tones[i]), key=tone_of)
        toneless = [i for i in group if not tones[i]]
        if (len(toned) == 5 and len(toneless) <= 1 and all(len(tones[i]) == 1 for i in toned)
                and [tone_of(i) for i in toned] == [1, 2, 3, 4, 5]):
            found.append(toned + toneless)
    return found


def tone_order(groups: Sequence[Sequence[str]], outputs: dict[str, np.ndarray],
               colours: dict[str, np.ndarray]) -> list[bool]:
    """For each of :func:`five_tone_groups`: do its toned outputs get darker with every step?

    Lightness is the mean CIELAB L* of an output over the group's skin: the pixels where
    the five toned colour images themselves get darker, by more than :data:`TONE_STEP`, with
    every step. Not every pixel that changes with the tone is skin: Twemoji and OpenMoji
    change the hair with it too, often lighter for a darker skin, and over all the pixels
    that change, the colour images themselves are in order in only a third (Twemoji) to
    two thirds (OpenMoji) of the drawings. A group with no such pixels is left out.
    """
    ordered = []
    for group in groups:
        skin = skin_mask(group, colours)
        if not skin.any():
            continue
        steps = [float(lab(outputs[i])[..., 0][skin].mean()) for i in group[:5]]
        ordered.append(all(a > b for a, b in zip(steps, steps[1:])))
    return ordered


def skin_mask(group: Sequence[str], colours: dict[str, np.ndarray]) -> np.ndarray:
    """The skin of a :func:`five_tone_groups` group: the pixels where its five toned colour images
    get darker, by more than :data:`TONE_STEP` in CIELAB L*, with every step (bool [H, W])."""
    lightness = np.stack([lab(colours[i])[..., 0] for i in group[:5]])
    return (np.diff(lightness, axis=0) < -TONE_STEP).all(axis=0)


def named_colour_groups(groups: Sequence[Sequence[str]], tags: dict[str, Sequence[str]]) -> list[Sequence[str]]:
    """The ``groups`` whose members' tags (``tags``: id -> tags) name different colours
    (:func:`~colorize.data.tags.named_colours`): ``red heart`` beside ``blue heart``. Skin
    tones are no colour words, so the tones of one hand are not such a group."""
    return [g for g in groups if len({frozenset(named_colours(tags[i])) for i in g}) > 1]


def _without_colours(tag: str) -> str:
    words = [w for w in re.split(r"[^a-z]+", tag.lower()) if w]
    return " ".join(w for w in words if not named_colours([w]))


def colour_families(rows: Sequence[dict]) -> list[list[str]]:
    """Rows of *different* drawings whose tags are the same but for the colours they name:
    ``red heart``, ``blue heart``, ``green heart``; ``green book``, ``orange book``. One
    member per drawing (the first by id), and at least two colours, each once.

    An emoji set draws each of these as its own picture, so they are no variant group; yet
    coloured on one shared sketch (the family's first member's) with each member's tags,
    they ask exactly whether the named colour is followed. Within one drawing such rows
    are a variant group already (:func:`named_colour_groups`)."""
    by_key: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
    named = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        colours = frozenset(named_colours(row["tags"]))
        if not colours or any("skin tone" in t for t in row["tags"]):
            continue
        named[row["id"]] = colours
        key = tuple(sorted(_without_colours(t) for t in row["tags"]))
        by_key[key].setdefault(row.get("drawing") or row["id"], row["id"])
    families = []
    for members in by_key.values():
        ids = list(members.values())
        if len(ids) >= 2 and len({named[i] for i in ids}) == len(ids):
            families.append(ids)
    return sorted(families)


def two_tone_members(group: Sequence[str]) -> list[str]:
    """The members of ``group`` whose id carries two different skin tones: two persons, each
    with their own (``1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3ff``)."""
    return [i for i in group if len(set(skin_tones(i))) == 2]


def hand_figures(rows: Sequence[dict], outputs: dict[str, np.ndarray], colours: dict[str, np.ndarray],
                 hits: dict[str, bool] | None = None, family_hits: dict[str, bool] | None = None,
                 families: Sequence[Sequence[str]] = ()) -> dict:
    """The four figures of ``rows`` (see the module docstring), keyed as :data:`FIGURES`.

    ``hits`` are the members' variant hits when already computed
    (:func:`~colorize.eval.metrics.member_hits` over the same rows' groups); a member of a
    group whose colour images differ nowhere has none and counts nowhere. ``families``
    (:func:`colour_families`) and their members' hits, coloured on the family's shared
    sketch, count among the named colours.
    """
    groups = variant_groups(rows, colours)
    if hits is None:
        hits = member_hits(groups, outputs, colours)
    scored = [g for g in groups if g[0] in hits]
    tags = {r["id"]: r["tags"] for r in rows}

    def accuracy(chosen: Sequence[Sequence[str]]) -> dict:
        members = [i for g in chosen for i in g]
        return {"accuracy": _share([hits[i] for i in members]), "groups": len(chosen), "members": len(members)}

    two = [two_tone_members(g) for g in scored]
    ordered = tone_order(five_tone_groups(scored), outputs, colours)
    named = accuracy(named_colour_groups(scored, tags))
    family_hits = family_hits or {}
    scored_families = [f for f in families if f[0] in family_hits]
    if scored_families:
        right = [hits[i] for g in named_colour_groups(scored, tags) for i in g]
        right += [family_hits[i] for f in scored_families for i in f]
        named = {"accuracy": _share(right), "groups": named["groups"] + len(scored_families), "members": len(right)}
    return {
        "variant": accuracy(scored),
        "tone_order": {"share": _share(ordered), "drawings": len(ordered)},
        "named_colour": named,
        "two_person": accuracy([g for g in two if g]),
    }
