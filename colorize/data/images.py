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

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorize.fileio import atomic_write_bytes

__all__ = ["IMAGE_SUFFIXES", "ImageError", "MAX_PIXELS", "fit_square", "load_rgb", "save_png", "to_rgb"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_PIXELS = 80_000_000  # about 10,000 x 8,000: larger is refused as a likely decompression bomb
WHITE = (255, 255, 255)


class ImageError(ValueError):
    """A file that cannot be used as an image; the message says why."""


def load_rgb(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) into an RGB uint8 array [H, W, 3] on white.

    Raises :class:`ImageError` for empty, truncated, oversized or non-image input.
    """
    if isinstance(source, bytes | bytearray):
        if not source:
            raise ImageError("empty file (0 bytes)")
        source = io.BytesIO(source)
    elif os.path.getsize(source) == 0:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                if im.width * im.height > max_pixels:
                    raise ImageError(f"{im.width}x{im.height} is over the {max_pixels:,}-pixel limit "
                                     f"(a likely decompression bomb)")
                if im.width < 1 or im.height < 1:
                    raise ImageError(f"has no pixels ({im.width}x{im.height})")
                im.seek(0)  # first frame of a GIF / animated WebP
                im.load()
                return to_rgb(ImageOps.exif_transpose(im))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image in any format Pillow reads") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"oversized, over the pixel limit: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or corrupt data
        raise ImageError(f"corrupt or truncated image data ({e})") from None


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
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())
