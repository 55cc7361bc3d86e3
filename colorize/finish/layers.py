"""Layered files for painting programs, and region maps for other tools.

* :func:`write_ora`: an OpenRaster file (``.ora``; Krita, GIMP and MyPaint open it) with
  three layers, bottom to top: ``soft colour`` (the model's colour, hidden), ``flats``
  (one colour per region) and ``lines`` (the sketch, blended with multiply). Its merged
  image is the flat result. OpenRaster is a zip of PNGs and a ``stack.xml``; it is
  written here with ``zipfile`` because pyora 0.3.11, the maintained writer, names the
  layer files ``/data/layer0.png`` with a leading slash, which the specification's
  relative paths do not allow and which an independent reader does not find.
* :func:`write_regions`: the region ids as a 16-bit greyscale PNG (pixel value = id,
  1..N), so a script can recolour region 7 with ``labels == 7``.

    write_ora(path, finished); write_regions(path, finished.labels)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np
from PIL import Image

from colorize.fileio import atomic_write_bytes

__all__ = ["LAYER_NAMES", "write_ora", "write_regions"]

LAYER_NAMES = ("soft colour", "flats", "lines")  # bottom to top


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return buffer.getvalue()


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


def write_regions(path: str | Path, labels: np.ndarray) -> Path:
    """Region ids as a 16-bit greyscale PNG (pixel value = id)."""
    if labels.max() > 65535:
        raise ValueError(f"{labels.max()} regions do not fit a 16-bit PNG; raise the gap or the smallest region size")
    ok, data = cv2.imencode(".png", labels.astype(np.uint16))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path = Path(path)
    atomic_write_bytes(path, data.tobytes())
    return path
