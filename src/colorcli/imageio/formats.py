"""What image formats colorcli knows: suffixes, Pillow modes, output formats and their limits.

The one list of image suffixes (:data:`IMAGE_EXTENSIONS`) and the one set of gray and alpha
modes live here; folder scanning (``colorcli.data``, ``colorcli.evaluation``, jobs) and
this package's reader and writer all take them from here.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

import cv2
from PIL import features

from colorcli.errors import UsageError

if TYPE_CHECKING:
    from colorcli.imageio.reading import LoadedImage

__all__ = [
    "ALPHA_MODES",
    "FORMATS_WITH_16BIT",
    "FORMATS_WITH_ALPHA",
    "GRAY_MODES",
    "IMAGE_EXTENSIONS",
    "OUTPUT_FORMATS",
    "choose_output_format",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif"}
    | ({".webp"} if features.check("webp") else set())
    | ({".jp2"} if features.check("jpg_2000") else set())
    | ({".avif"} if features.check("avif") else set())
)
"""Lower-case suffixes treated as images when scanning a folder (only those Pillow reads here)."""

GRAY_MODES: frozenset[str] = frozenset(
    {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
)
"""Pillow modes that hold one gray channel (alpha aside): such a file has no colour."""

ALPHA_MODES: frozenset[str] = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
"""Pillow modes with an alpha channel (a "P" image may also carry ``transparency`` info)."""

OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpg", "webp", "tif", "bmp")
"""Formats :func:`write_image` writes, as file extensions without the dot."""

FORMATS_WITH_ALPHA: frozenset[str] = frozenset({"png", "webp", "tif"})
"""Output formats that keep an alpha channel; the others get it composited onto white."""

FORMATS_WITH_16BIT: frozenset[str] = frozenset({"png", "tif"})
"""Output formats that keep 16 bits per channel; the others get 8 bits."""

_SUFFIX_TO_FORMAT = {
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".webp": "webp",
    ".tif": "tif",
    ".tiff": "tif",
    ".bmp": "bmp",
}
_FORMAT_ALIASES = {"jpeg": "jpg", "tiff": "tif"}
# Pillow format name -> the extension we write it back as ("auto" output format).
_SOURCE_TO_OUTPUT = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tif",
    "BMP": "bmp",
}

# Errors Pillow, its plugins and OpenCV raise on bad bytes.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    cv2.error,
)
_ENCODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    RuntimeError,  # libtiff reports bad tags this way
    struct.error,
    cv2.error,
)


def choose_output_format(image: LoadedImage, requested: str = "auto") -> str:
    """Pick the output file format (an extension without the dot).

    ``"auto"`` keeps the input's format when :func:`write_image` can write it (JPEG and MPO
    -> jpg, PNG -> png, WebP -> webp, TIFF -> tif, BMP -> bmp) and picks png otherwise (GIF,
    palette and exotic formats). It never loses information the image has: with alpha it
    picks png unless the input format keeps alpha, and with 16-bit pixels it picks png unless
    the input format keeps 16 bits.

    An explicit format is returned as asked, even if it loses alpha (``write_image``
    composites onto white; compare with :data:`FORMATS_WITH_ALPHA` to tell the user) or
    bit depth (see :data:`FORMATS_WITH_16BIT`).

    Args:
        image: The image to be written.
        requested: "auto" or one of :data:`OUTPUT_FORMATS` ("jpeg" and "tiff" accepted).

    Raises:
        UsageError: ``requested`` is not a format we write.
    """
    wanted = requested.strip().lower().lstrip(".")
    wanted = _FORMAT_ALIASES.get(wanted, wanted)
    if wanted != "auto":
        if wanted not in OUTPUT_FORMATS:
            choices = ", ".join(("auto", *OUTPUT_FORMATS))
            raise UsageError(f"unknown output format {requested!r}; choose one of {choices}")
        return wanted
    chosen = _SOURCE_TO_OUTPUT.get(image.source_format or "", "png")
    if image.alpha is not None and chosen not in FORMATS_WITH_ALPHA:
        return "png"
    if image.bit_depth == 16 and chosen not in FORMATS_WITH_16BIT:
        return "png"
    return chosen
