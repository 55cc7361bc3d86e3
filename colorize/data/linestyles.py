"""Line styles: how the line art of a training sample is drawn, in one registry.

A user's sketch is in their own hand: thin or thick, clean or broken, inked or pencilled,
traced over a picture or scanned. A model that has seen only one artist's lines reads
only that artist. So the sketch of every training sample is drawn anew, in two steps:

1. **Lines** (``kind="lines"``): one style is drawn per sample, by its share.
   * ``artist``: the row's own line art, where the artist drew it (OpenMoji's line layer,
     EmojiOne's monotone set, an SVG's outlines). Rows without it draw another style.
   * ``xdog``, ``dilate``, ``adaptive``, ``traced`` and ``solid``: the extractors of
     :mod:`colorize.data.extract`, run on the colour picture of the drawing's *reference
     member*, its toneless colouring (:func:`colorize.data.manifest.reference_rows`), so
     that no skin tone or hair colour shows through the lines' contrast.
2. **Looks** (``kind="look"``): each is applied with its own chance, in registry order:
   ``thick``, ``thin``, ``broken``, ``wobbly``, ``pencil``, ``blur``, ``noise``, ``jpeg``
   and ``scan``.

Every style works on RGB uint8, dark lines on white, and returns the same shape. Looks
are deterministic under a seeded ``numpy.random.Generator``. The shares and chances are
training config values (``line_styles``, ``line_looks``); :class:`LineStyler` checks them.

    styler = LineStyler({"artist": 0.5, "traced": 0.5}, {"broken": 0.2})
    lines = styler.lines(stored, reference, has_artist=True, rng=rng)
    sketch = styler.look(lines, rng)

A new style is one function under ``@register("name", "lines" | "look")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from colorize.data.extract import EXTRACTORS, region_edges

__all__ = ["CLASSIC_LOOKS", "KINDS", "STYLES", "LineStyle", "LineStyler", "register"]

KINDS = ("lines", "look")
# What training did before there were line styles, as looks: thicker or thinner strokes
# (one of them, 32% of samples), blur, noise and JPEG artefacts (24% each).
CLASSIC_LOOKS = {"thick": 0.16, "thin": 0.16, "blur": 0.24, "noise": 0.24, "jpeg": 0.24}


@dataclass(frozen=True)
class LineStyle:
    """A registered style. ``lines`` styles take ``(stored, reference, has_artist, rng)`` and
    return line art or None (cannot draw this row); ``look`` styles take ``(lines, rng)``."""

    name: str
    kind: str
    draw: Callable
    doc: str


STYLES: dict[str, LineStyle] = {}


def register(name: str, kind: str) -> Callable[[Callable], Callable]:
    """Add a style to :data:`STYLES` under ``name``."""
    assert kind in KINDS, kind

    def add(draw: Callable) -> Callable:
        assert name not in STYLES, f"line style {name!r} is registered twice"
        STYLES[name] = LineStyle(name, kind, draw, (draw.__doc__ or "").strip().splitlines()[0])
        return draw

    return add


# -- lines ---------------------------------------------------------------------------


@register("artist", "lines")
def _artist(stored: np.ndarray, reference: np.ndarray | None, has_artist: bool, rng) -> np.ndarray | None:
    """The artist's own line art, where the row has it."""
    return stored if has_artist else None


def _extracted(name: str) -> Callable:
    extract = EXTRACTORS[name]

    def draw(stored, reference, has_artist, rng):
        return None if reference is None else extract(reference)

    draw.__doc__ = f"the {name} extractor on the drawing's toneless colouring"
    return draw


for _name in ("xdog", "dilate", "adaptive", "traced"):
    register(_name, "lines")(_extracted(_name))


@register("solid", "lines")
def _solid(stored, reference: np.ndarray | None, has_artist, rng) -> np.ndarray | None:
    """Traced lines with the darkest regions filled black, at a random darkness."""
    if reference is None:
        return None
    dark = int(rng.integers(35, 95))
    grey = cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY)
    ink = region_edges(reference) | (grey < dark)
    return np.repeat(np.where(ink, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


# -- looks ---------------------------------------------------------------------------


def _kernel(lines: np.ndarray, rng, low: int = 2, high: int = 3) -> np.ndarray:
    side = max(low, round(int(rng.integers(low, high + 1)) * lines.shape[0] / 256)) if lines.shape[0] > 256 \
        else int(rng.integers(low, high + 1))
    return np.ones((side, side), np.uint8)


@register("thick", "look")
def _thick(lines: np.ndarray, rng) -> np.ndarray:
    """Thicker strokes: a minimum filter widens the dark lines."""
    return cv2.erode(lines, _kernel(lines, rng))


@register("thin", "look")
def _thin(lines: np.ndarray, rng) -> np.ndarray:
    """Thinner strokes: a 2x2 maximum filter; lines it would erase are kept at one pixel."""
    thinned = cv2.dilate(lines, np.ones((2, 2), np.uint8))
    return np.minimum(thinned, np.where(_lost(lines, thinned), lines, 255).astype(np.uint8))


def _lost(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Ink pixels of ``before`` whose whole 3x3 neighbourhood lost its ink in ``after``."""
    ink_before, ink_after = before.min(axis=-1) < 128, after.min(axis=-1) < 128
    near = cv2.dilate(ink_after.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return (ink_before & ~near)[..., None]


def _smooth_field(shape: tuple[int, int], scale: float, rng) -> np.ndarray:
    """Smooth noise in [0, 1], ``shape``, varying over about ``scale`` pixels."""
    h, w = shape
    small = rng.random((max(2, round(h / scale)) + 1, max(2, round(w / scale)) + 1)).astype(np.float32)
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    low, high = float(field.min()), float(field.max())
    return (field - low) / max(high - low, 1e-6)


@register("broken", "look")
def _broken(lines: np.ndarray, rng) -> np.ndarray:
    """Gaps in the strokes, as a quick or dry pen leaves them: up to a third of the ink lifted."""
    side = lines.shape[0]
    gaps = _smooth_field(lines.shape[:2], max(3.0, side / 24), rng) > rng.uniform(0.65, 0.85)
    out = lines.copy()
    out[gaps] = 255
    return out


@register("wobbly", "look")
def _wobbly(lines: np.ndarray, rng) -> np.ndarray:
    """Wavering strokes: every line displaced by a smooth field of up to 1.5% of the side."""
    h, w = lines.shape[:2]
    amplitude = rng.uniform(0.004, 0.015) * max(h, w)
    scale = max(4.0, max(h, w) / 8)
    dx = (_smooth_field((h, w), scale, rng) - 0.5) * 2 * amplitude
    dy = (_smooth_field((h, w), scale, rng) - 0.5) * 2 * amplitude
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(lines, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=(255, 255, 255))


@register("pencil", "look")
def _pencil(lines: np.ndarray, rng) -> np.ndarray:
    """Pencil: grey, grainy strokes instead of black ink."""
    grey = cv2.cvtColor(lines, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0  # 0 ink .. 1 paper
    tone = rng.uniform(60, 160)  # the darkest the pencil goes
    grain = rng.normal(0, 25, grey.shape).astype(np.float32)
    value = 255 - (1 - grey) * (255 - tone) + (1 - grey) * grain
    value = cv2.GaussianBlur(value, (0, 0), rng.uniform(0.3, 0.8))
    return cv2.cvtColor(np.clip(value, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)


@register("blur", "look")
def _blur(lines: np.ndarray, rng) -> np.ndarray:
    """Soft strokes: a Gaussian blur of 0.3-1.2 px."""
    return cv2.GaussianBlur(lines, (0, 0), rng.uniform(0.3, 1.2))


@register("noise", "look")
def _noise(lines: np.ndarray, rng) -> np.ndarray:
    """Sensor noise: Gaussian, 1-6% of the range."""
    noise = rng.normal(0, rng.uniform(0.01, 0.06) * 255, lines.shape[:2])[..., None]
    return np.clip(lines + noise, 0, 255).astype(np.uint8)


def _jpeg_pass(lines: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", lines, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else lines


@register("jpeg", "look")
def _jpeg(lines: np.ndarray, rng) -> np.ndarray:
    """JPEG artefacts, quality 40-95."""
    return _jpeg_pass(lines, int(rng.integers(40, 96)))


@register("scan", "look")
def _scan(lines: np.ndarray, rng) -> np.ndarray:
    """A scanned page: tinted paper that darkens to one side, grain, softness and JPEG."""
    h, w = lines.shape[:2]
    paper = np.array([rng.uniform(228, 255), rng.uniform(225, 252), rng.uniform(210, 248)], np.float32)
    shade = 1 - rng.uniform(0, 0.06) * np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    ink = lines.astype(np.float32) / 255.0
    page = ink * paper * shade + rng.normal(0, rng.uniform(2, 7), (h, w, 1)).astype(np.float32)
    page = cv2.GaussianBlur(np.clip(page, 0, 255), (0, 0), rng.uniform(0.3, 0.7))
    return _jpeg_pass(np.clip(page, 0, 255).astype(np.uint8), int(rng.integers(50, 91)))


# -- the styler ----------------------------------------------------------------------


def _checked(values: Mapping[str, float], kind: str, setting: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise ValueError(f"{setting} must be a table of style = number, got {values!r}")
    names = sorted(n for n, s in STYLES.items() if s.kind == kind)
    out = {}
    for name, value in values.items():
        if name not in names:
            raise ValueError(f"{setting}: unknown {kind} style {name!r}; choose from {', '.join(names)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0 \
                or (kind == "look" and value > 1):
            want = "a chance from 0 to 1" if kind == "look" else "a share, 0 or more"
            raise ValueError(f"{setting}.{name} must be {want}, got {value!r}")
        if value > 0:
            out[name] = float(value)
    return out


class LineStyler:
    """Draws a training sample's sketch: one lines style by ``shares``, then each look by its chance.

    Args:
        shares: lines style -> relative share (need not sum to 1). A row the drawn style
            cannot serve (``artist`` for a row without the artist's lines) draws again among
            the others; a row no style can serve keeps its stored sketch.
        looks: look -> chance of being applied to a sample, from 0 to 1.
    """

    def __init__(self, shares: Mapping[str, float] | None = None, looks: Mapping[str, float] | None = None):
        self.shares = _checked({"artist": 1.0} if shares is None else shares, "lines", "line_styles")
        if not self.shares:
            raise ValueError("line_styles: every share is 0; give at least one lines style a share, e.g. artist = 1")
        self.looks = _checked(CLASSIC_LOOKS if looks is None else looks, "look", "line_looks")

    @property
    def needs_reference(self) -> bool:
        """Whether any style draws from the drawing's reference colouring."""
        return any(name != "artist" for name in self.shares)

    def lines(self, stored: np.ndarray, reference: np.ndarray | None, has_artist: bool,
              rng: np.random.Generator) -> np.ndarray:
        """Line art for one sample, from its stored sketch and its drawing's reference colouring."""
        names = list(self.shares)
        weights = np.array([self.shares[n] for n in names])
        while names:
            pick = int(rng.choice(len(names), p=weights / weights.sum()))
            drawn = STYLES[names[pick]].draw(stored, reference, has_artist, rng)
            if drawn is not None:
                return drawn
            names.pop(pick)
            weights = np.delete(weights, pick)
        return stored

    def look(self, lines: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``lines`` with each look applied by its chance, in registry order."""
        for name, style in STYLES.items():
            chance = self.looks.get(name, 0.0)
            if chance and rng.random() < chance:
                lines = style.draw(lines, rng)
        return lines
