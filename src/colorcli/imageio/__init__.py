"""Read and write image files: orientation, alpha, ICC profile, EXIF and 16-bit depth kept.

``formats`` is the one place that knows image suffixes, Pillow's gray and alpha modes and
the formats we write; ``reading`` opens files safely, refuses decompression bombs and
returns a :class:`LoadedImage` (``decoding`` turns Pillow's or OpenCV's pixels into RGB
arrays); ``metadata`` decides what EXIF and ICC is carried over; ``writing`` encodes,
checks that the file reads back and publishes it atomically through :mod:`colorcli.atomic`.

Importing this package raises Pillow's own decompression-bomb limit to
:data:`DEFAULT_MAX_PIXELS` (never lowers it); see :mod:`colorcli.imageio.reading`.
"""

from __future__ import annotations

from colorcli.imageio.formats import (
    ALPHA_MODES,
    FORMATS_WITH_16BIT,
    FORMATS_WITH_ALPHA,
    GRAY_MODES,
    IMAGE_EXTENSIONS,
    OUTPUT_FORMATS,
    choose_output_format,
)
from colorcli.imageio.reading import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    probe_size,
    read_image,
    read_image_bytes,
)
from colorcli.imageio.writing import write_gray_image, write_image, write_like

__all__ = [
    "ALPHA_MODES",
    "DEFAULT_MAX_PIXELS",
    "FORMATS_WITH_16BIT",
    "FORMATS_WITH_ALPHA",
    "GRAY_MODES",
    "IMAGE_EXTENSIONS",
    "OUTPUT_FORMATS",
    "LoadedImage",
    "choose_output_format",
    "probe_size",
    "read_image",
    "read_image_bytes",
    "write_gray_image",
    "write_image",
    "write_like",
]
