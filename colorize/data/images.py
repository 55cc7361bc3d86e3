"""Reading images as people have them, and fitting them to a square training size.

One loader for every command that reads a user's files: EXIF orientation applied, alpha
composited on white, palette / 16-bit / greyscale / CMYK converted, the first frame of an
animation taken, and oversized images (decompression bombs) refused before decoding.

    rgb = load_rgb("art/miku.webp")            # uint8 [H, W, 3]
    square, box = fit_square(rgb, 256)          # white padding, aspect kept
"""

from __future__ import annotations

import io
import os
import warnings
from typing import IO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorize.fileio import NotRegularFile, atomic_write_bytes, open_regular

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "MAX_SIDE", "CorruptImage", "EmptyImage", "ImageError", "NotAnImage",
           "TooFewPixels", "TooManyPixels", "TooWide", "UnreadableFile", "fit_square", "load_rgb", "read_finished",
           "save_png", "to_rgb"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_PIXELS = 80_000_000  # about 10,000 x 8,000: larger is refused as a likely decompression bomb
MAX_SIDE = 1_000_000  # libpng writes no PNG wider or taller than this, so no result could be saved
WHITE = (255, 255, 255)


class ImageError(ValueError):
    """A file that cannot be used as an image; the message says why, :attr:`advice` what to do.

    Callers sort problems by subclass, never by the words of the message.
    """

    advice = "Re-save it as PNG or JPEG, or remove it from the input."


class EmptyImage(ImageError):
    """The file has no bytes."""


class NotAnImage(ImageError):
    """No format Pillow reads recognises the file."""


class CorruptImage(ImageError):
    """The header is an image's, but the data is truncated or damaged."""


class UnreadableFile(ImageError):
    """The operating system refused to read the file (permissions, a folder, an I/O error)."""

    advice = "Check that it exists and that you may read it (ls -l), then run again."


class TooManyPixels(ImageError):
    """Over the caller's pixel limit: a likely decompression bomb."""

    advice = "If you trust the file, raise --max-pixels."


class TooWide(ImageError):
    """A side longer than any PNG may have (:data:`MAX_SIDE`)."""

    advice = "Crop or scale it to at most 1,000,000 pixels a side."


class TooFewPixels(ImageError):
    """Too small to colour: there is nothing to fill."""

    advice = "There is nothing to colour; remove it from the input."


def _allow_pixels(max_pixels: int) -> None:
    """Let Pillow open images up to ``max_pixels``: its own bomb check (an error above twice
    ``Image.MAX_IMAGE_PIXELS``) would otherwise refuse what the caller allowed. Only ever
    raised, never lowered, so threads with different limits agree; :func:`load_rgb` checks
    the caller's limit from the header before decoding."""
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels


def load_rgb(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) into an RGB uint8 array [H, W, 3] on white.

    Raises an :class:`ImageError` subclass for unreadable, empty, truncated, oversized or
    non-image input; the size is checked from the header, before decoding.
    """
    if isinstance(source, bytes | bytearray):
        stream = io.BytesIO(source)
    else:
        try:
            stream = open_regular(source)  # a FIFO named like an image would block open() forever
        except NotRegularFile as e:
            raise UnreadableFile(f"cannot be read: {e}") from None
        except OSError as e:
            raise UnreadableFile(f"cannot be read: {e.strerror or e}") from None
    with stream:
        return _decode(stream, max_pixels)


def _decode(stream: IO[bytes], max_pixels: int) -> np.ndarray:
    size = stream.getbuffer().nbytes if isinstance(stream, io.BytesIO) else os.fstat(stream.fileno()).st_size
    if size == 0:
        raise EmptyImage("empty file (0 bytes)")
    _allow_pixels(max_pixels)
    try:
        with warnings.catch_warnings():
            # the header's size is checked against max_pixels right below, before any decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data": the picture may still be fine
            with Image.open(stream) as im:
                if im.width * im.height > max_pixels:
                    raise TooManyPixels(f"{im.width}x{im.height} is over the {max_pixels:,}-pixel limit "
                                        f"(a likely decompression bomb)")
                if im.width < 1 or im.height < 1:
                    raise TooFewPixels(f"has no pixels ({im.width}x{im.height})")
                if max(im.width, im.height) > MAX_SIDE:
                    raise TooWide(f"{im.width}x{im.height} has a side over {MAX_SIDE:,} pixels, the most a PNG "
                                  f"may have (libpng's limit), so its result could not be written")
                im.seek(0)  # first frame of a GIF / animated WebP
                im.load()
                return to_rgb(ImageOps.exif_transpose(im))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise NotAnImage("not an image in any format Pillow reads") from None
    except Image.DecompressionBombError as e:  # Pillow's own limit is set above max_pixels: so over both
        raise TooManyPixels(f"over the {max_pixels:,}-pixel limit (a likely decompression bomb): {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or corrupt data
        raise CorruptImage(f"corrupt or truncated image data ({e})") from None


def to_rgb(im: Image.Image) -> np.ndarray:
    """A decoded PIL image in any mode -> RGB uint8 [H, W, 3], transparency on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greyscale: scale the full range to 8 bits (Pillow's convert clips instead).
        array = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or array.max() > 255 else 255.0
        if im.mode == "F":
            top = max(1.0, float(array.max()))
        grey = np.clip(array * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode == "P":
        im = im.convert("RGBA")  # palette images may carry a transparent index
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, WHITE + (255,))
        canvas.alpha_composite(rgba)
        im = canvas
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def fit_square(rgb: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Scale ``rgb`` so its longer side is ``size`` and pad it with white to a square.

    Padding rather than cropping keeps the whole picture: a crop could cut off exactly the
    hair or clothes a tag is about. Returns the square image and the box ``(x, y, w, h)``
    the picture occupies in it.
    """
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation) if (new_w, new_h) != (w, h) else rgb
    x, y = (size - new_w) // 2, (size - new_h) // 2
    square = np.full((size, size, 3), 255, dtype=np.uint8)
    square[y:y + new_h, x:x + new_w] = resized
    return square, (x, y, new_w, new_h)


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 array as a PNG, atomically."""
    if max(rgb.shape[:2]) > MAX_SIDE:
        raise TooWide(f"{rgb.shape[1]}x{rgb.shape[0]} has a side over {MAX_SIDE:,} pixels, the most a PNG may have")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ImageError(f"{path}: PNG encoding failed for a {rgb.shape[1]}x{rgb.shape[0]} picture")
    atomic_write_bytes(path, buf.tobytes())


def read_finished(path: str | os.PathLike, size: int) -> np.ndarray | None:
    """A builder's finished output: the RGB uint8 PNG at ``path`` if it is readable and
    ``size`` x ``size``, else None (make it again)."""
    if not os.path.isfile(path):
        return None
    bgr = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    return None if bgr is None or bgr.shape[:2] != (size, size) else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
