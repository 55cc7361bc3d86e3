"""Output files, one writer per format: ``WRITERS[name](path, finished)``.

Each takes a :class:`colorize.finish.Finished` and writes one file atomically (a stop
leaves whole files only). To add a format, add a function and its :class:`Writer` entry.

* :func:`write_png`: the finished picture (what ``colorize run`` always writes).
* :func:`write_sheet`: the sketch and the result side by side (``--side-by-side``).
* :func:`write_ora`: an OpenRaster file (``.ora``; Krita, GIMP and MyPaint open it) with
  three layers, bottom to top: ``soft colour`` (the model's colour, hidden), ``flats``
  (one colour per region) and ``lines`` (the sketch, blended with multiply). Its merged
  image is the flat result. OpenRaster is a zip of PNGs and a ``stack.xml``; it is
  written here with ``zipfile`` because pyora 0.3.11, the maintained writer, names the
  layer files ``/data/layer0.png`` with a leading slash, which the specification's
  relative paths do not allow and which an independent reader does not find.
* :func:`write_psd`: the same three layers as a Photoshop file, written by psd-tools
  (maintained, and checked here against ImageMagick's reader: layer names, sizes, blend
  modes, visibility, pixels and the merged image). Photoshop, Krita, GIMP, Clip Studio
  and Affinity open it.
* :func:`write_regions`: the region ids as a 16-bit greyscale PNG (pixel value = id,
  1..N), so a script can recolour region 7 with ``labels == 7``.

    WRITERS["ora"].write(path, finished)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np
from PIL import Image

from colorize.data.images import save_png
from colorize.fileio import atomic_write_bytes

__all__ = ["LAYERED", "LAYER_NAMES", "WRITERS", "Writer", "write_ora", "write_png", "write_psd", "write_regions",
           "write_sheet"]

LAYER_NAMES = ("soft colour", "flats", "lines")  # bottom to top


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | Path, finished) -> Path:
    """The finished picture as a PNG."""
    save_png(path, finished.result)
    return Path(path)


def write_sheet(path: str | Path, finished) -> Path:
    """The sketch and the finished picture side by side, as a PNG."""
    save_png(path, np.hstack([finished.sketch, finished.result]))
    return Path(path)


def write_ora(path: str | Path, finished) -> Path:
    """Write ``finished`` (a :class:`colorize.finish.Finished` with flats) as an ``.ora`` file."""
    assert finished.flats is not None, "layered files need the flat finish's regions"
    h, w = finished.sketch.shape[:2]
    image = ET.Element("image", version="0.0.5", w=str(w), h=str(h))
    stack = ET.SubElement(image, "stack")
    layers = {LAYER_NAMES[2]: (finished.sketch, "svg:multiply", "visible"),   # listed top first
              LAYER_NAMES[1]: (finished.flats, "svg:src-over", "visible"),
              LAYER_NAMES[0]: (finished.soft, "svg:src-over", "hidden")}
    files = {}
    for i, (name, (pixels, op, visibility)) in enumerate(layers.items()):
        src = f"data/layer{i}.png"
        ET.SubElement(stack, "layer", {"name": name, "src": src, "x": "0", "y": "0", "opacity": "1.0",
                                       "visibility": visibility, "composite-op": op})
        files[src] = _png(pixels)
    thumb = Image.fromarray(finished.result)
    thumb.thumbnail((256, 256))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as ora:
        ora.writestr(zipfile.ZipInfo("mimetype"), "image/openraster", compress_type=zipfile.ZIP_STORED)  # first, stored
        ora.writestr("stack.xml", ET.tostring(image, encoding="utf-8", xml_declaration=True),
                     compress_type=zipfile.ZIP_DEFLATED)
        for src, data in files.items():
            ora.writestr(src, data)
        ora.writestr("mergedimage.png", _png(finished.result))
        ora.writestr("Thumbnails/thumbnail.png", _png(np.asarray(thumb)))
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_psd(path: str | Path, finished) -> Path:
    """Write ``finished`` (with flats) as a layered ``.psd``: the layers of :func:`write_ora`."""
    from psd_tools import PSDImage
    from psd_tools.api.layers import PixelLayer
    from psd_tools.constants import BlendMode

    assert finished.flats is not None, "layered files need the flat finish's regions"
    h, w = finished.sketch.shape[:2]
    if max(h, w) > 30000:
        raise ValueError(f"{w}x{h} is over the PSD format's 30000 px side; write .ora instead")
    psd = PSDImage.new("RGB", (w, h))
    for name, pixels, blend, visible in ((LAYER_NAMES[0], finished.soft, BlendMode.NORMAL, False),
                                         (LAYER_NAMES[1], finished.flats, BlendMode.NORMAL, True),
                                         (LAYER_NAMES[2], finished.sketch, BlendMode.MULTIPLY, True)):
        layer = PixelLayer.frompil(Image.fromarray(np.ascontiguousarray(pixels)), psd, name)
        layer.blend_mode = blend
        layer.visible = visible
        psd.append(layer)
    buffer = io.BytesIO()
    psd.save(buffer)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_regions(path: str | Path, finished) -> Path:
    """Region ids as a 16-bit greyscale PNG (pixel value = id)."""
    labels = finished.labels
    assert labels is not None, "the region map needs the flat finish's regions"
    if labels.max() > 65535:
        raise ValueError(f"{labels.max()} regions do not fit a 16-bit PNG; raise the gap or the smallest region size")
    ok, data = cv2.imencode(".png", labels.astype(np.uint16))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path = Path(path)
    atomic_write_bytes(path, data.tobytes())
    return path


@dataclass(frozen=True)
class Writer:
    """One output format: the suffix its file gets after the picture's name, and its writer."""

    suffix: str
    write: Callable[[str | Path, object], Path]
    regions: bool = False  # needs the regions and flats, even for the soft finish


WRITERS = {
    "png": Writer(".png", write_png),
    "side": Writer(".side.png", write_sheet),
    "ora": Writer(".ora", write_ora, regions=True),
    "psd": Writer(".psd", write_psd, regions=True),
    "regions": Writer(".regions.png", write_regions, regions=True),
}
LAYERED = ("ora", "psd")  # the layered formats `colorize run --layers` offers
