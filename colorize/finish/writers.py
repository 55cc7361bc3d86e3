"""Output formats, one entry per format in :data:`WRITERS`.

Each format encodes a :class:`colorize.finish.Finished` to bytes: the web page sends those,
and ``colorize run`` writes a picture's files together with
:func:`colorize.fileio.atomic_write_together` (all of them or none). To add a format, add an
encoder and its :class:`Writer` entry.

* :func:`png_bytes`: the finished picture (what ``colorize run`` always writes).
* :func:`sheet_bytes`: the sketch and the result side by side (``--side-by-side``).
* :func:`ora_bytes`: an OpenRaster file (``.ora``; Krita, GIMP and MyPaint open it) with
  three layers, bottom to top: ``soft colour`` (the model's colour), ``flats`` (one
  colour per region) and ``lines`` (the sketch, blended with multiply). Of the two colour
  layers the finish chosen is visible and the other hidden; the merged image is the result. OpenRaster is a zip of PNGs and a ``stack.xml``; it is
  written here with ``zipfile`` because pyora 0.3.11, the maintained writer, names the
  layer files ``/data/layer0.png`` with a leading slash, which the specification's
  relative paths do not allow and which an independent reader does not find.
* :func:`psd_bytes`: the same three layers as a Photoshop file, written by psd-tools
  (maintained, and checked here against ImageMagick's reader: layer names, sizes, blend
  modes, visibility, pixels and the merged image). Photoshop, Krita, GIMP, Clip Studio
  and Affinity open it.
* With ``per_colour`` (``colorize run --layers --layer-per-colour``), both layered files hold
  the flats as a ``flats`` group of one layer per distinct flat colour (:func:`colour_layers`),
  each cropped to its pixels and transparent elsewhere, named by the palette entry it took,
  ``paper`` for the white paper, or its hex value: a colourist changes a colour everywhere by
  changing one layer. Registered as ``ora-colours`` and ``psd-colours`` (same suffixes).
* :func:`regions_bytes`: the region ids as a 16-bit greyscale PNG (pixel value = id,
  1..N), so a script can recolour region 7 with ``labels == 7``.

    data = WRITERS["psd"].encode(finished); name = "x" + WRITERS["psd"].suffix
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from xml.etree import ElementTree as ET

import cv2
import numpy as np
from PIL import Image

from colorize.finish.regions import lookup

__all__ = ["LAYERED", "LAYER_NAMES", "MAX_COLOUR_LAYERS", "WRITERS", "ColourLayer", "Writer", "colour_layers",
           "ora_bytes", "png_bytes", "psd_bytes", "regions_bytes", "sheet_bytes"]

LAYER_NAMES = ("soft colour", "flats", "lines")  # bottom to top
MAX_COLOUR_LAYERS = 512  # more distinct flat colours than this get no layer each (a noise picture has thousands)


@dataclass(frozen=True)
class ColourLayer:
    """One flat colour as a layer: its name, colour, and where it lies (RGBA crop at ``left``, ``top``)."""

    name: str
    rgb: tuple[int, int, int]
    left: int
    top: int
    rgba: np.ndarray  # uint8 [h, w, 4]: the colour where the flats have it, transparent elsewhere


def colour_layers(finished) -> list[ColourLayer]:
    """The flats split into one layer per distinct colour, the paper first, then by area.

    A colour is named by the palette entry a region took (see :func:`colorize.finish.snap_regions`),
    ``paper`` for the white paper around the drawing, or else its hex value. Together the
    layers cover every pixel once and give the flats exactly.
    """
    assert finished.labels is not None and finished.colours is not None, "colour layers need the regions"
    colours, labels = finished.colours, finished.labels
    packed = (colours[:, 0].astype(np.int64) << 16) | (colours[:, 1].astype(np.int64) << 8) | colours[:, 2]
    distinct, of_region = np.unique(packed[1:], return_inverse=True)
    if len(distinct) > MAX_COLOUR_LAYERS:
        raise ValueError(f"its flats have {len(distinct)} colours, too many for a layer each (at most "
                         f"{MAX_COLOUR_LAYERS}); give --palette or --consistent to gather them, or drop "
                         f"--layer-per-colour")
    names: dict[int, str] = {}
    snapped, palette = finished.snapped, finished.palette
    for region, layer in enumerate(of_region.ravel()):
        if finished.paper is not None and finished.paper[region + 1]:
            names.setdefault(layer, "paper")
        elif snapped is not None and palette is not None and snapped.index[region] >= 0:
            names[layer] = palette.swatches[snapped.index[region]].label
    lut = np.concatenate([[0], of_region.ravel()]).astype(np.int32)
    layer_of = lookup(lut, labels)
    area = np.bincount(layer_of.ravel(), minlength=len(distinct))
    order = sorted(range(len(distinct)), key=lambda i: (names.get(i) != "paper", -area[i], i))
    layers = []
    for i in order:
        if area[i] == 0:
            continue
        rgb = (int(distinct[i] >> 16) & 255, int(distinct[i] >> 8) & 255, int(distinct[i]) & 255)
        mask = layer_of == i
        x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
        crop = mask[y:y + h, x:x + w]
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[crop] = (*rgb, 255)
        name = names.get(i) or "#%02x%02x%02x" % rgb
        layers.append(ColourLayer(name, rgb, x, y, rgba))
    return layers


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_fast(rgb: np.ndarray, flat: bool = False) -> bytes:
    """RGB uint8 -> PNG bytes, with OpenCV (the encoder ``save_png`` uses). ``flat``: a picture
    of flat colours, whose rows need no PNG filter: measured on 40 flat finishes at 256 px,
    0.8 ms and 6.2 KB each against 1.9 ms and 8.0 KB with libpng's choice of filters (a soft
    finish's gradients keep that choice: without filters it is 43% bigger)."""
    options = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if flat:
        options += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), options)
    if not ok:
        raise OSError("PNG encoding failed")
    return data.tobytes()


def png_bytes(finished) -> bytes:
    """The finished picture as a PNG."""
    return _png_fast(finished.result, flat=finished.finish == "flat")


def sheet_bytes(finished) -> bytes:
    """The sketch and the finished picture side by side, as a PNG."""
    return _png_fast(np.hstack([finished.sketch, finished.result]))


def ora_bytes(finished, per_colour: bool = False) -> bytes:
    """``finished`` (a :class:`colorize.finish.Finished` with flats) as an OpenRaster file;
    ``per_colour``: the flats as a group of one layer per colour."""
    assert finished.flats is not None, "layered files need the flat finish's regions"
    h, w = finished.sketch.shape[:2]
    image = ET.Element("image", version="0.0.5", w=str(w), h=str(h))
    stack = ET.SubElement(image, "stack")
    flat = finished.finish == "flat"  # the finish chosen is the visible colour layer
    files = {}

    def add(parent, name, pixels, op="svg:src-over", visible=True, x=0, y=0):
        src = f"data/layer{len(files)}.png"
        ET.SubElement(parent, "layer", {"name": name, "src": src, "x": str(x), "y": str(y), "opacity": "1.0",
                                        "visibility": "visible" if visible else "hidden", "composite-op": op})
        files[src] = _png(pixels)

    add(stack, LAYER_NAMES[2], finished.sketch, "svg:multiply")  # listed top first
    if per_colour:
        group = ET.SubElement(stack, "stack", {"name": LAYER_NAMES[1], "visibility": "visible" if flat else "hidden",
                                               "opacity": "1.0", "composite-op": "svg:src-over",
                                               "isolation": "isolate"})
        for layer in reversed(colour_layers(finished)):
            add(group, layer.name, layer.rgba, x=layer.left, y=layer.top)
    else:
        add(stack, LAYER_NAMES[1], finished.flats, visible=flat)
    add(stack, LAYER_NAMES[0], finished.soft, visible=not flat)
    thumb = Image.fromarray(finished.result)
    thumb.thumbnail((256, 256))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as ora:
        ora.writestr(_entry("mimetype"), "image/openraster", compress_type=zipfile.ZIP_STORED)  # first, stored
        ora.writestr(_entry("stack.xml"), ET.tostring(image, encoding="utf-8", xml_declaration=True),
                     compress_type=zipfile.ZIP_DEFLATED)
        for src, data in files.items():
            ora.writestr(_entry(src), data)
        ora.writestr(_entry("mergedimage.png"), _png(finished.result))
        ora.writestr(_entry("Thumbnails/thumbnail.png"), _png(np.asarray(thumb)))
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry dated 1980-01-01 (zip's first date), not at the time of writing: the same
    picture gives the same file, byte for byte, on any run."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def psd_bytes(finished, per_colour: bool = False) -> bytes:
    """``finished`` (with flats) as a layered Photoshop file: the layers of :func:`ora_bytes`."""
    from psd_tools import PSDImage
    from psd_tools.api.layers import Group, PixelLayer
    from psd_tools.constants import BlendMode

    assert finished.flats is not None, "layered files need the flat finish's regions"
    h, w = finished.sketch.shape[:2]
    if max(h, w) > 30000:
        raise ValueError(f"{w}x{h} is over the PSD format's 30000 px side; write .ora instead")
    psd = PSDImage.new("RGB", (w, h))
    flat = finished.finish == "flat"  # the finish chosen is the visible colour layer
    for name, pixels, blend, visible in ((LAYER_NAMES[0], finished.soft, BlendMode.NORMAL, not flat),
                                         (LAYER_NAMES[1], finished.flats, BlendMode.NORMAL, flat),
                                         (LAYER_NAMES[2], finished.sketch, BlendMode.MULTIPLY, True)):
        if name == LAYER_NAMES[1] and per_colour:
            group = Group.new(psd, name)
            for part in colour_layers(finished):  # bottom first
                group.append(PixelLayer.frompil(Image.fromarray(part.rgba, "RGBA"), group, part.name,
                                                top=part.top, left=part.left))
            group.visible = visible
            continue
        layer = PixelLayer.frompil(Image.fromarray(np.ascontiguousarray(pixels)), psd, name)
        layer.blend_mode = blend
        layer.visible = visible
        psd.append(layer)
    buffer = io.BytesIO()
    psd.save(buffer)
    return buffer.getvalue()


def regions_bytes(finished) -> bytes:
    """Region ids as a 16-bit greyscale PNG (pixel value = id)."""
    labels = finished.labels
    assert labels is not None, "the region map needs the flat finish's regions"
    if labels.max() > 65535:
        raise ValueError(f"{labels.max()} regions do not fit a 16-bit PNG; raise the gap or the smallest region size")
    ok, data = cv2.imencode(".png", labels.astype(np.uint16))
    if not ok:
        raise OSError("PNG encoding failed")
    return data.tobytes()


@dataclass(frozen=True)
class Writer:
    """One output format: the suffix its file gets after the picture's name, and its encoder."""

    suffix: str
    encode: Callable[[object], bytes]
    regions: bool = False  # needs the regions and flats, even for the soft finish


WRITERS = {
    "png": Writer(".png", png_bytes),
    "side": Writer(".side.png", sheet_bytes),
    "ora": Writer(".ora", ora_bytes, regions=True),
    "psd": Writer(".psd", psd_bytes, regions=True),
    "ora-colours": Writer(".ora", partial(ora_bytes, per_colour=True), regions=True),
    "psd-colours": Writer(".psd", partial(psd_bytes, per_colour=True), regions=True),
    "regions": Writer(".regions.png", regions_bytes, regions=True),
}
LAYERED = ("ora", "psd")  # the layered formats `colorize run --layers` and the web page offer
