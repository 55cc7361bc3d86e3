"""Tagged SVG art (Openclipart and the like) as colour image, line art and tags.

One SVG gives a training pair without guessing at its lines, because the drawing is
still in vector form:

* **Safe reading.** The file is parsed by :mod:`xml.etree` (Expat caps entity expansion,
  so a billion-laughs file fails fast, and external entities are never fetched). Then it
  is cleaned before the renderer sees it: every ``href`` that is not inside the file
  (``#id``) or a ``data:`` URI is removed, so no other file, local or remote, is read;
  ``<script>`` and ``<foreignObject>`` go too. Files over :data:`MAX_ELEMENTS` elements,
  nested deeper than :data:`MAX_DEPTH` (the renderer would crash) or without a usable size
  are refused with the reason; a filter's absurd ``numOctaves`` is clamped, as it would
  only make the render slow. What else is slow is stopped by the importer's time limit.
* **Tags** from the file's RDF metadata: its title (``dc:title``) and keywords
  (``dc:subject``), lower case, with file-name noise (``_01``, hex ids), licence words
  and the names of its creator and publisher dropped (:func:`svg_tags`).
* **Line art from the vectors** (:func:`line_svg`): every paint is kept black where it
  is dark (strokes, and dark fills such as outlines drawn as shapes behind the colour)
  and turned white where it is not. The white shapes still cover what lies behind them,
  exactly as in the colour picture, so an outline drawn as a black shape under a
  coloured one becomes the rim it looks like. When that gives no usable lines (almost
  no ink, or mostly ink), the caller falls back to an OpenCV extractor.
* **Filters** (:func:`rejection`): a picture that is not a colour illustration is named
  with its reason and skipped: nearly monochrome, a photo-like embedded bitmap, text
  only, a tiny icon, or one flat colour over most of the canvas.

    art = read_svg(data, categories=["people"])
    colour = render(art.svg, 256); lines = render(line_svg(art), 256)
"""

from __future__ import annotations

import html
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import ImageColor

from colorize.data.images import fit_square
from colorize.data.tags import normalize_tag

__all__ = ["Filters", "MAX_DEPTH", "MAX_ELEMENTS", "SvgArt", "SvgError", "bitmap_share", "drawing_depth", "line_ink",
           "line_svg", "read_svg", "rejection", "render", "svg_tags"]

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
MAX_ELEMENTS = 20_000  # beyond this a clip-art file is a scan traced into dust, and slow to render
MAX_SIDE = 1e6  # a width, height or viewBox side past this (in user units) is broken, not big
# resvg recurses once per level of the drawing, references followed (<use>, url(#id)), and
# overflows its stack near 250 levels (a segfault, not an error); clip art nests under 20.
MAX_DEPTH = 100
MAX_OCTAVES = 10  # feTurbulence: each octave halves the last one's amplitude, so past 10 nothing shows in 8 bits
DARK = 60  # a paint darker than this (0-255 luminance), nearly grey and mostly opaque, is line work
GREY = 48  # ... where nearly grey is max - min of R, G, B under this (navy blue is a colour, not ink)
PAINTED = {"path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan", "textPath"}
TEXT = {"text", "tspan", "textPath", "flowRoot", "flowPara", "flowRegion"}
DROPPED = {"script", "foreignObject"}
NOISE_WORDS = {"clip art", "clipart", "openclipart", "open clip art", "open clip art library", "svg", "png", "media",
               "image", "images", "public domain", "pd", "cc0", "cc by", "license", "licence", "remix", "drawing",
               "illustration", "icon", "inkscape", "sodipodi", "untitled", "new", "vector", "externalsource", "hash"}
_NUMBERED = re.compile(r"[\s_-]*\(?\d+\)?$")  # "flower_01", "cat 2", "dog (3)"
_HEXISH = re.compile(r"^(0x)?[0-9a-f]{6,}$")
_STYLE_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


class SvgError(ValueError):
    """An SVG that cannot be used; the message says why (the caller adds the file name)."""


@dataclass(frozen=True)
class Filters:
    """What counts as a colour illustration; each threshold is a ``data import`` flag."""

    min_colour: float = 0.10  # share of the drawing's pixels that must be coloured (not grey)
    max_background: float = 0.55  # largest share of the canvas one flat colour (not white) may cover
    min_side: float = 48.0  # the SVG's own size, longer side, in px: below is an icon
    max_bitmap: float = 0.10  # largest share of the canvas embedded bitmaps may cover


@dataclass
class SvgArt:
    """One cleaned SVG: its markup, its own size, its tags and what it is made of."""

    svg: str  # cleaned markup, as the renderer gets it
    root: ET.Element
    width: float
    height: float
    tags: list[str] = field(default_factory=list)
    bitmaps: int = 0  # embedded <image> elements
    painted: int = 0  # painted shapes, text included
    texts: int = 0  # painted text elements


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _length(value: str | None) -> float | None:
    """An SVG length in px (``12``, ``12px``, ``3mm``, ``10pt``...); None when absent, relative or broken."""
    if not value:
        return None
    match = re.fullmatch(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(px|pt|pc|mm|cm|in)?\s*", value)
    if not match:
        return None
    units = {None: 1, "px": 1, "pt": 4 / 3, "pc": 16, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96}
    return float(match.group(1)) * units[match.group(2)]


def _size(root: ET.Element) -> tuple[float, float]:
    """The picture's own width and height in px, from width/height or the viewBox."""
    box = None
    if root.get("viewBox"):
        try:
            box = [float(v) for v in re.split(r"[\s,]+", root.get("viewBox").strip())]
        except ValueError:
            raise SvgError(f"its viewBox {root.get('viewBox')[:40]!r} is not four numbers") from None
        if len(box) != 4:
            raise SvgError(f"its viewBox {root.get('viewBox')[:40]!r} is not four numbers")
    width, height = _length(root.get("width")), _length(root.get("height"))
    if box is not None:
        if not (box[2] > 0 and box[3] > 0) or not all(map(math.isfinite, box)):
            raise SvgError(f"its viewBox is {box[2]:g} x {box[3]:g}: an empty picture")
        if width is None and height is None:
            width, height = box[2], box[3]
        elif width is None:
            width = height * box[2] / box[3]
        elif height is None:
            height = width * box[3] / box[2]
    if width is None or height is None:
        raise SvgError("it has no size (no width and height, and no viewBox), so it cannot be scaled to fit")
    if not (width > 0 and height > 0 and math.isfinite(width) and math.isfinite(height)):
        raise SvgError(f"its size is {width:g} x {height:g}: an empty picture")
    if max(width, height) > MAX_SIDE or (box is not None and max(box[2], box[3]) > MAX_SIDE):
        raise SvgError(f"its size ({width:g} x {height:g}, viewBox {box}) is over {MAX_SIDE:g} units a side: "
                       f"a broken file")
    return width, height


def _clean(root: ET.Element) -> int:
    """Remove everything that would make the renderer read another file or run code; count
    the embedded bitmaps left (``data:`` images only)."""
    bitmaps = 0
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in list(root.iter()):
        name = _local(element.tag)
        if name in DROPPED and element in parents:
            parents[element].remove(element)
            continue
        for key in (f"{{{XLINK}}}href", "href"):
            value = (element.get(key) or "").strip()
            if value and not value.startswith("#") and not value.lower().startswith("data:"):
                del element.attrib[key]  # a file or URL: never fetched
        if name == "image":
            if element.get(f"{{{XLINK}}}href") or element.get("href"):
                bitmaps += 1
            elif element in parents:
                parents[element].remove(element)
        if name == "feTurbulence" and _number(element.get("numOctaves"), 1) > MAX_OCTAVES:
            element.set("numOctaves", str(MAX_OCTAVES))  # a billion octaves would render for hours, no different
        style = element.get("style")
        if style and "url(" in style:  # url(#id) only; url(other.svg#id) or url(http:...) would read a file
            element.set("style", re.sub(r"url\(\s*['\"]?(?!#)[^)]*\)", "none", style))
        for key in ("fill", "stroke", "filter", "mask", "clip-path"):
            value = element.get(key)
            if value and "url(" in value and not re.search(r"url\(\s*['\"]?#", value):
                element.set(key, "none")
    for element in root.iter():
        if _local(element.tag) == "style" and element.text and "@import" in element.text:
            element.text = re.sub(r"@import[^;]*;?", "", element.text)
    return bitmaps


def svg_tags(root: ET.Element, categories: Sequence[str] = ()) -> list[str]:
    """Tags from the RDF metadata: the title, then the keywords, then ``categories`` (its
    folders, e.g. Openclipart's ``animals/mammals``); noise, licence words and people's
    names dropped."""
    work = next((el for el in root.iter() if _local(el.tag) == "Work"), None)
    people = set()
    for role in ("creator", "publisher", "rights", "contributor"):
        for el in root.iter(f"{{{DC}}}{role}"):
            people |= {normalize_tag(t.text or "") for t in el.iter(f"{{{DC}}}title")}
    title = ""
    keywords: list[str] = []
    if work is not None:
        title_el = work.find(f"{{{DC}}}title")
        title = (title_el.text or "") if title_el is not None else ""
        subject = work.find(f"{{{DC}}}subject")
        if subject is not None:
            for li in subject.iter(f"{{{RDF}}}li"):
                keywords += re.split(r"[,;]", html.unescape(html.unescape(li.text or "")))  # "&amp;eacute;" too
    if not title:
        title_el = root.find(f"{{{SVG}}}title")
        title = (title_el.text or "") if title_el is not None else ""
    found: list[str] = []
    for raw in [title, *keywords, *categories]:
        text = normalize_tag(html.unescape(html.unescape(raw or "")))  # some titles are escaped twice over
        for name in people:  # "clipart by nicu buculei - head"
            if name and len(name) > 2 and name in text:
                text = text.replace(name, " ")
        text = re.sub(r"\b(clip ?art|openclipart)( by)?\b", " ", text).strip(" -:,.")
        if _HEXISH.match(text):  # an id, not a word ("0x865f868")
            continue
        tag = normalize_tag(_NUMBERED.sub("", normalize_tag(text)))
        if (not tag or tag in NOISE_WORDS or tag in people or _HEXISH.match(tag) or tag.isdigit()
                or len(tag) > 60 or tag.endswith((".svg", ".png"))):
            continue
        if tag not in found:
            found.append(tag)
    return found


_REFERENCE = re.compile(r"url\(\s*['\"]?#([^)'\"\s]+)")


def _references(element: ET.Element) -> list[str]:
    """The ids ``element`` draws in: ``href="#id"`` and every ``url(#id)`` of its attributes."""
    ids = []
    for key, value in element.attrib.items():
        if _local(key) == "href":
            value = value.strip()
            if value.startswith("#"):
                ids.append(value[1:])
        elif "url(" in value:
            ids += _REFERENCE.findall(value)
    return ids


def drawing_depth(root: ET.Element, limit: int = MAX_DEPTH) -> int:
    """How deep the renderer will recurse into ``root``: the longest chain of nested elements,
    where a reference (``<use href="#a">``, ``fill="url(#p)"``) nests what it names. Counting
    stops past ``limit`` (it returns ``limit + 1``), so neither the walk nor a chain of
    references ever recurses deeper than that. A reference back into its own chain is a
    loop the renderer refuses, and is not followed here."""
    ids = {el.get("id"): el for el in root.iter() if el.get("id")}

    def inside(element: ET.Element) -> list[ET.Element]:
        return [*element, *(ids[i] for i in _references(element) if i in ids)]

    # Iterative, not recursive: a file may nest thousands deep before it is refused.
    depth: dict[ET.Element, int] = {}  # finished elements: levels from each down to its deepest leaf
    best = {root: 1}
    path = [(root, iter(inside(root)))]
    on_path = {root}
    while path:
        element, todo = path[-1]
        for child in todo:
            if child in depth:
                best[element] = max(best[element], 1 + depth[child])
                if len(path) + depth[child] > limit:
                    return limit + 1
            elif child not in on_path:  # on the path: a loop back
                if len(path) + 1 > limit:
                    return limit + 1
                best[child] = 1
                on_path.add(child)
                path.append((child, iter(inside(child))))
                break
        else:
            path.pop()
            on_path.discard(element)
            depth[element] = best[element]
            if path:
                parent = path[-1][0]
                best[parent] = max(best[parent], 1 + depth[element])
    return depth[root]


def read_svg(data: bytes, categories: Sequence[str] = (), max_elements: int = MAX_ELEMENTS,
             max_depth: int | None = None) -> SvgArt:
    """Parse and clean one SVG file's bytes; raises :class:`SvgError` saying what is wrong.

    ``max_depth`` defaults to :data:`MAX_DEPTH`, read at each call."""
    max_depth = MAX_DEPTH if max_depth is None else max_depth
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise SvgError(f"not well-formed XML ({e})") from None
    except RecursionError:
        raise SvgError("XML nested too deeply") from None
    if _local(root.tag) != "svg":
        raise SvgError(f"its root element is <{_local(root.tag) or root.tag}>, not <svg>")
    count = 0
    for _ in root.iter():
        count += 1
        if count > max_elements:
            raise SvgError(f"it has over {max_elements:,} elements, too many to render as clip art")
    # Before anything that recurses (ET.tostring, the renderer): a deep file would crash them.
    if drawing_depth(root, max_depth) > max_depth:
        raise SvgError(f"it nests over {max_depth} levels deep (references such as <use> counted), deeper than "
                       f"clip art goes and than the renderer can draw without crashing")
    width, height = _size(root)
    if not root.get("viewBox"):  # user units are px then: the picture spans 0..width, 0..height
        root.set("viewBox", f"0 0 {width:g} {height:g}")
    root.set("width", f"{width:g}")  # plain px: the renderer refuses some units ("297mm")
    root.set("height", f"{height:g}")
    bitmaps = _clean(root)
    painted = [el for el in root.iter() if _local(el.tag) in PAINTED]
    art = SvgArt(ET.tostring(root, encoding="unicode"), root, width, height, svg_tags(root, categories), bitmaps,
                 len(painted), sum(_local(el.tag) in TEXT for el in painted))
    return art


# -- paint -------------------------------------------------------------------------------


def _declarations(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(";"):
        if ":" in part:
            key, value = part.split(":", 1)
            out[key.strip().lower()] = value.replace("!important", "").strip()
    return out


def _class_rules(root: ET.Element) -> dict[str, dict[str, str]]:
    """``.name { ... }`` rules of the file's ``<style>`` elements (the only selectors clip art uses much)."""
    rules: dict[str, dict[str, str]] = {}
    for element in root.iter():
        if _local(element.tag) == "style" and element.text:
            for selectors, body in _STYLE_RULE.findall(re.sub(r"/\*.*?\*/", "", element.text, flags=re.S)):
                for selector in selectors.split(","):
                    selector = selector.strip()
                    if re.fullmatch(r"\.[\w-]+", selector):
                        rules.setdefault(selector[1:], {}).update(_declarations(body))
    return rules


def _is_ink(paint: str, colour: str) -> bool | None:
    """Whether a paint is ink (dark and nearly grey); None for no paint. Gradients and
    patterns count as colour."""
    paint = paint.strip()
    if paint in ("none", "transparent", ""):
        return None
    if paint == "currentColor":
        paint = colour
    if paint.startswith("url("):
        return False
    try:
        rgb = ImageColor.getrgb(paint)[:3]
    except ValueError:
        return False
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < DARK and max(rgb) - min(rgb) < GREY


def _number(value: str | None, default: float = 1.0) -> float:
    try:
        return float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
    except (AttributeError, ValueError):
        return default


def _add_style(element: ET.Element, declarations: list[str]) -> None:
    """Append to an element's inline style (which outranks its attributes and the file's classes)."""
    own = (element.get("style") or "").strip().strip(";")
    element.set("style", ";".join(([own] if own else []) + declarations))


def line_svg(art: SvgArt) -> str:
    """The line-art version of ``art``: dark paints black, every other paint white (see the module docstring)."""
    root = ET.fromstring(art.svg)
    rules = _class_rules(root)
    inherited = {"fill": "black", "stroke": "none", "color": "black", "opacity-fill": "1", "opacity-stroke": "1"}

    def own(element: ET.Element) -> dict[str, str]:
        props = {k: v for k, v in element.attrib.items() if "}" not in k}
        for name in (element.get("class") or "").split():
            props.update(rules.get(name, {}))
        props.update(_declarations(element.get("style") or ""))
        return props

    def visit(element: ET.Element, context: dict[str, str], opacity: float) -> None:
        props = own(element)
        here = dict(context)
        for key in ("fill", "stroke", "color"):
            if key in props and props[key] != "inherit":
                here[key] = props[key]
        for key, name in (("fill-opacity", "opacity-fill"), ("stroke-opacity", "opacity-stroke")):
            if key in props:
                here[name] = props[key]
        opacity *= _number(props.get("opacity"))
        if _local(element.tag) in PAINTED:
            style = []
            for key, name in (("fill", "opacity-fill"), ("stroke", "opacity-stroke")):
                ink = _is_ink(here[key], here["color"])
                if ink is None:
                    style.append(f"{key}:none")
                elif ink and opacity * _number(here[name]) >= 0.5:
                    style.append(f"{key}:#000000")
                else:
                    style.append(f"{key}:#ffffff")
            _add_style(element, style)
        if _local(element.tag) == "image":
            _add_style(element, ["opacity:0"])
        for child in element:
            visit(child, here, opacity)

    visit(root, inherited, 1.0)
    for element in root.iter():  # gradients and filters would tint the white
        if _local(element.tag) in ("linearGradient", "radialGradient", "filter"):
            for child in list(element):
                element.remove(child)
    return ET.tostring(root, encoding="unicode")


# -- rendering and filters ------------------------------------------------------------------


def render(svg: str, size: int, width: float, height: float) -> np.ndarray:
    """Render ``svg`` (own size ``width`` x ``height``) into a white ``size`` square, aspect kept."""
    import resvg_py

    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    try:
        png = resvg_py.svg_to_bytes(svg_string=svg, width=w, height=h, background="#ffffff", skip_system_fonts=False)
    except (ValueError, RuntimeError, OSError) as e:
        raise SvgError(f"the renderer refused it ({e})") from None
    except BaseException as e:  # a Rust panic (feOffset dx="1e308") comes as pyo3's PanicException, no Exception
        if type(e).__name__ != "PanicException":
            raise
        raise SvgError(f"the renderer failed on it (a panic: {e})") from None
    bgr = cv2.imdecode(np.frombuffer(bytes(png), np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SvgError("the renderer returned no image")
    square, _ = fit_square(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
    return square


def bitmap_share(art: SvgArt, colour: np.ndarray, size: int) -> float:
    """Share of the canvas the embedded bitmaps decide: ``colour`` against a render without them."""
    root = ET.fromstring(art.svg)
    for element in root.iter():
        if _local(element.tag) == "image":
            _add_style(element, ["opacity:0"])
    without = render(ET.tostring(root, encoding="unicode"), size, art.width, art.height)
    return float((np.abs(colour.astype(np.int16) - without).max(axis=-1) > 24).mean())


def line_ink(lines: np.ndarray) -> float:
    """Share of a rendered line picture's pixels that are ink (dark)."""
    return float((lines.min(axis=-1) < 128).mean())


def rejection(art: SvgArt, colour: np.ndarray, filters: Filters, bitmap_share: float = 0.0) -> str | None:
    """Why ``art`` (its colour render ``colour``) is not a colour illustration, or None."""
    if max(art.width, art.height) < filters.min_side:
        return f"a tiny icon ({art.width:g} x {art.height:g} px, under --min-side {filters.min_side:g})"
    if art.painted and art.texts == art.painted:
        return "text only (every painted element is text)"
    if bitmap_share > filters.max_bitmap:
        return (f"a photo-like embedded bitmap covers {bitmap_share:.0%} of it (over --max-bitmap "
                f"{filters.max_bitmap:.0%})")
    rgb = colour.astype(np.int16)
    drawn = (rgb.min(axis=-1) < 245)  # not white paper
    if not drawn.any():
        return "blank: nothing is drawn"
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    coloured = float((chroma[drawn] > 40).mean())
    if coloured < filters.min_colour:
        return (f"nearly monochrome: {coloured:.0%} of what is drawn is coloured (under --min-colour "
                f"{filters.min_colour:.0%})")
    quantised = (colour[drawn] // 16).astype(np.int32)
    keys = quantised[:, 0] * 256 + quantised[:, 1] * 16 + quantised[:, 2]
    top = np.bincount(keys).max() / drawn.size
    if top > filters.max_background:
        return (f"one flat colour covers {top:.0%} of the canvas (over --max-background "
                f"{filters.max_background:.0%}): a background or a silhouette, not an illustration")
    return None
