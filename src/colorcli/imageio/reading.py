"""Read image files: open safely, refuse decompression bombs, decode into a LoadedImage.

Decompression bombs: :func:`read_image` refuses an image whose header says it has more than
``max_pixels`` pixels, before any pixel is decoded. Pillow has its own process-wide guard,
``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 megapixels by default: a warning above it, an error
above twice that), which runs inside ``Image.open`` before our check can. So that our limit
and our message are the ones that apply, importing this module raises Pillow's limit to
:data:`DEFAULT_MAX_PIXELS`, and ``read_image`` raises it further to ``max_pixels`` when a
caller asks for more. The limit is only ever raised, never lowered or disabled, so other
Pillow users in the process keep a guard at least as large as ours.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from colorcli.errors import ImageError
from colorcli.imageio.decoding import _decode_wide, _is_wide_colour, _pillow_output, _wide_output
from colorcli.imageio.formats import _DECODE_ERRORS, GRAY_MODES
from colorcli.imageio.metadata import _exif_for_output, _orientation, _rgb_profile_or_none

__all__ = ["DEFAULT_MAX_PIXELS", "LoadedImage", "probe_size", "read_image", "read_image_bytes"]

DEFAULT_MAX_PIXELS: int = 250_000_000
"""Largest image (width * height) that :func:`read_image` decodes unless told otherwise."""

_GRAY_SAMPLE_PIXELS = 65_536
_GRAY_TOLERANCE = 2 / 255  # of the full range: JPEG rounding of a gray image stays below this
_GRAY_OUTLIER_FRACTION = 0.001


def _allow_in_pillow(max_pixels: int) -> None:
    # See the module docstring: raise Pillow's global guard so that ours runs first.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and limit < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


_allow_in_pillow(DEFAULT_MAX_PIXELS)


@dataclass(eq=False)  # arrays have no single truth value: compare fields yourself
class LoadedImage:
    """An image read from disk, ready for colourisation.

    Attributes:
        path: File it was read from, or None when read from bytes.
        pixels: (H, W, 3) uint8 or uint16 RGB, EXIF orientation applied, alpha not
            composited; C-contiguous and writable. Gray sources are repeated into three
            channels. The colour space is that of ``icc_profile`` when one is kept, else sRGB
            (CMYK sources are converted to sRGB).
        alpha: (H, W) array of the same dtype as ``pixels``, or None.
        icc_profile: An RGB ICC profile to write with the result, or None. CMYK and gray
            profiles are never kept, since the output is RGB.
        exif: EXIF block (starting with ``b"Exif\\0\\0"``) with Orientation reset to 1, or None.
        source_format: Pillow's format name ("JPEG", "PNG", …), or None if unknown.
        source_mode: Pillow's mode of the file ("L", "RGB", "P", "CMYK", "I;16", …).
        pages: pages of a multi-page TIFF or frames of an animated GIF/PNG/WebP (1 for
            most files); ``pixels`` is the first.
    """

    path: Path | None
    pixels: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None
    exif: bytes | None
    source_format: str | None
    source_mode: str
    pages: int = 1

    @property
    def bit_depth(self) -> int:
        """Bits per channel of ``pixels``: 8 or 16."""
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) after EXIF orientation."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @property
    def is_grayscale(self) -> bool:
        """Whether the image has no colour worth keeping (what ``--skip-color`` asks).

        True when the file is stored in a gray mode (1, L, LA, I, I;16, F), or when at least
        99.9 % of up to 65,536 pixels sampled on a regular grid have ``max(|R-G|, |G-B|)`` of
        at most 2/255 of the full range (2 for 8-bit, 514 for 16-bit). The tolerance absorbs
        JPEG rounding of a gray photo stored as RGB; the 0.1 % lets a few stray pixels pass.
        A toned (sepia, cyanotype) print counts as colour.
        """
        if self.source_mode in GRAY_MODES:
            return True
        return _channels_nearly_equal(self.pixels)


def _channels_nearly_equal(pixels: np.ndarray) -> bool:
    height, width = pixels.shape[:2]
    step = max(1, math.isqrt(height * width // _GRAY_SAMPLE_PIXELS))
    sample = pixels[::step, ::step].astype(np.int32)
    tolerance = _GRAY_TOLERANCE * np.iinfo(pixels.dtype).max
    spread = np.maximum(
        np.abs(sample[..., 0] - sample[..., 1]), np.abs(sample[..., 1] - sample[..., 2])
    )
    outliers = np.count_nonzero(spread > tolerance)
    return bool(outliers <= _GRAY_OUTLIER_FRACTION * spread.size)


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file of any kind Pillow reads.

    Args:
        path: Image file.
        max_pixels: Largest width * height accepted, checked from the header before decoding.

    Returns:
        The decoded image; see :class:`LoadedImage`.

    Raises:
        ImageError: The file is missing, unreadable, empty, not an image, truncated or
            corrupt, or larger than ``max_pixels``. The message starts with the path.
    """
    path = Path(path)
    _check_max_pixels(max_pixels)
    with _open_for_reading(path) as file:
        return _decode(file, path, str(path), max_pixels)


def read_image_bytes(
    data: bytes, *, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Like :func:`read_image`, for an encoded image already in memory.

    Args:
        data: The encoded file (PNG, JPEG, …).
        name: What error messages call it.
        max_pixels: Largest width * height accepted.
    """
    _check_max_pixels(max_pixels)
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    return _decode(io.BytesIO(data), None, name, max_pixels)


def probe_size(path: str | Path) -> tuple[int, int]:
    """Return (width, height) as :func:`read_image` would, reading only the header.

    EXIF orientation is taken into account when the header holds it (always for JPEG, TIFF
    and WebP; for PNG only when the eXIf chunk precedes the pixel data, as it should).

    Raises:
        ImageError: The file is missing, unreadable, empty or not an image, or is more than
            twice Pillow's ``MAX_IMAGE_PIXELS`` (then even its header is refused).
    """
    path = Path(path)
    with _open_for_reading(path) as file, _open_pillow(file, str(path), None) as im:
        width, height = im.size
        orientation = _orientation(im)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _check_max_pixels(max_pixels: int) -> None:
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    _allow_in_pillow(max_pixels)


@contextlib.contextmanager
def _open_for_reading(path: Path) -> Iterator[IO[bytes]]:
    """Open a regular file (or a link to one); anything else is refused without blocking."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on regular files)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as e:
        raise ImageError(f"{path}: no such file") from e
    except PermissionError as e:
        raise ImageError(f"{path}: permission denied") from e
    except IsADirectoryError as e:
        raise ImageError(f"{path}: is a directory, not an image file") from e
    except OSError as e:
        raise ImageError(f"{path}: cannot open: {e.strerror or e}") from e
    try:
        status = os.fstat(descriptor)
    except OSError as e:
        os.close(descriptor)
        raise ImageError(f"{path}: cannot open: {e.strerror or e}") from e
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise ImageError(f"{path}: is a directory, not an image file")
        raise ImageError(f"{path}: not a regular file (a FIFO, device or socket)")
    with os.fdopen(descriptor, "rb") as file:
        if status.st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        yield file


def _too_large(name: str, pixels: int, max_pixels: int, size: tuple[int, int] | None) -> str:
    shape = f"{size[0]}x{size[1]} = " if size else ""
    return f"{name}: image too large ({shape}{pixels:,} pixels; the limit is {max_pixels:,} pixels)"


def _open_pillow(file: IO[bytes], name: str, max_pixels: int | None) -> ImageFile.ImageFile:
    """Identify the image and parse its header; no pixel is decoded."""
    try:
        return Image.open(file)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard, which fires only far above ours (see the module docstring).
        found = re.search(r"\((\d+) pixels\)", str(e))
        if found is None:
            raise ImageError(f"{name}: image too large ({e})") from e
        limit = max_pixels if max_pixels is not None else DEFAULT_MAX_PIXELS
        raise ImageError(_too_large(name, int(found.group(1)), limit, None)) from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from e
    except _DECODE_ERRORS as e:
        raise ImageError(f"{name}: cannot read the image header: {e}") from e


def _decode(file: IO[bytes], path: Path | None, name: str, max_pixels: int) -> LoadedImage:
    with _open_pillow(file, name, max_pixels) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageError(_too_large(name, width * height, max_pixels, (width, height)))
        if width == 0 or height == 0:
            raise ImageError(f"{name}: the image has no pixels ({width}x{height})")
        source_format, source_mode = im.format, im.mode
        try:
            pages = int(getattr(im, "n_frames", 1))  # before load(), which may close the file
            wide = _is_wide_colour(im)
            if wide:
                decoded = _decode_wide(im, file, name)
            else:
                im.load()  # decodes everything, so truncation raises here
            orientation = _orientation(im)
            exif = _exif_for_output(im)
            icc = _rgb_profile_or_none(im.info.get("icc_profile")) if im.mode != "CMYK" else None
            if wide:
                pixels, alpha = _wide_output(decoded, orientation)
                del decoded
            else:
                pixels, alpha = _pillow_output(im, orientation)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(_too_large(name, width * height, max_pixels, None)) from e
        except MemoryError as e:
            raise ImageError(f"{name}: not enough memory to decode {width}x{height}") from e
        except _DECODE_ERRORS as e:
            raise ImageError(f"{name}: truncated or corrupt image data: {e}") from e
    return LoadedImage(
        path=path,
        pixels=pixels,
        alpha=alpha,
        icc_profile=icc,
        exif=exif,
        source_format=source_format,
        source_mode=source_mode,
        pages=pages,
    )
