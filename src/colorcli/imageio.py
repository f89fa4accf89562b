"""Read and write image files: orientation, alpha, ICC profile, EXIF and 16-bit depth kept.

Reading goes through Pillow, except 16-bit colour PNG/TIFF/PPM files, which Pillow would
narrow to 8 bits: those are decoded by OpenCV. Writing goes through Pillow, except 16-bit
PNG/TIFF, which Pillow cannot write in colour: those are encoded by OpenCV. Every write is
atomic (a hidden ``.partial`` file in the target directory, moved into place at the end).

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
import functools
import io
import math
import os
import re
import stat
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError, features

from colorcli.atomic import fsync_path, move_into_place, partial_path, writer_lock
from colorcli.errors import ImageError, OutputExistsError, UsageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS_WITH_16BIT",
    "FORMATS_WITH_ALPHA",
    "IMAGE_EXTENSIONS",
    "OUTPUT_FORMATS",
    "LoadedImage",
    "choose_output_format",
    "probe_size",
    "read_image",
    "read_image_bytes",
    "write_image",
]

DEFAULT_MAX_PIXELS: int = 250_000_000
"""Largest image (width * height) that :func:`read_image` decodes unless told otherwise."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif"}
    | ({".webp"} if features.check("webp") else set())
    | ({".jp2"} if features.check("jpg_2000") else set())
    | ({".avif"} if features.check("avif") else set())
)
"""Lower-case suffixes treated as images when scanning a folder (only those Pillow reads here)."""

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
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
# Formats whose 16-bit colour files Pillow narrows to 8 bits and OpenCV decodes in full.
_WIDE_DECODE_FORMATS = frozenset({"PNG", "TIFF", "PPM"})

_GRAY_SAMPLE_PIXELS = 65_536
_GRAY_TOLERANCE = 2 / 255  # of the full range: JPEG rounding of a gray image stays below this
_GRAY_OUTLIER_FRACTION = 0.001

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COMPRESS_LEVEL = 4  # zlib level: most of level 6's size at a fraction of its time
_JPEG_MAX_EXIF = 65_533  # one APP1 segment; Pillow refuses more
_WEBP_MAX_SIDE = 16_383
_COMPOSITE_ROWS = 512
_BAND_ROWS = 256  # rows converted at a time when copying out of Pillow
_INVERSE_ORIENTATION = {6: 8, 8: 6}  # the other orientations undo themselves
_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_GPS_IFD_TAG = 0x8825
# Descriptive IFD0 tags that are safe to copy between files (no strip offsets, no sizes).
_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)

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
    """

    path: Path | None
    pixels: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None
    exif: bytes | None
    source_format: str | None
    source_mode: str

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
        if self.source_mode in _GRAY_MODES:
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


# --------------------------------------------------------------------------- reading


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
    )


class _OrientedOutput:
    """The final pixels and alpha, filled with bands of rows in the file's stored orientation.

    Each band lands directly where EXIF orientation puts it, so a full-size image exists only
    twice at most: the decoder's and ours.
    """

    def __init__(
        self, stored: tuple[int, int], orientation: int, dtype: np.dtype, has_alpha: bool
    ) -> None:
        height, width = stored
        if orientation in (5, 6, 7, 8):
            height, width = width, height
        self.pixels = np.empty((height, width, 3), dtype=dtype)
        self.alpha = np.empty((height, width), dtype=dtype) if has_alpha else None
        inverse = _INVERSE_ORIENTATION.get(orientation, orientation)
        self._pixels_stored = _orient(self.pixels, inverse)
        self._alpha_stored = _orient(self.alpha, inverse) if self.alpha is not None else None

    def put(self, top: int, band: np.ndarray, *, bgr: bool = False) -> None:
        """Copy (h, W), (h, W, 2), (h, W, 3) or (h, W, 4) rows starting at stored row ``top``."""
        rows = slice(top, top + band.shape[0])
        channels = 1 if band.ndim == 2 else band.shape[2]
        target = self._pixels_stored[rows]
        if band.ndim == 2:
            target[...] = band[..., None]
        elif channels <= 2:
            target[...] = band[..., :1]
        elif bgr:
            target[...] = band[..., 2::-1]
        else:
            target[...] = band[..., :3]
        if self._alpha_stored is not None:
            self._alpha_stored[rows] = band[..., channels - 1]


def _wide_output(decoded: np.ndarray, orientation: int) -> tuple[np.ndarray, np.ndarray | None]:
    if orientation == 1 and decoded.shape[2] == 3:
        return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB, dst=decoded), None  # in place
    output = _OrientedOutput(
        decoded.shape[:2], orientation, decoded.dtype, has_alpha=decoded.shape[2] in (2, 4)
    )
    output.put(0, decoded, bgr=True)
    return output.pixels, output.alpha


def _pillow_output(im: Image.Image, orientation: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Copy a loaded Pillow image into the output arrays, converting its mode band by band."""
    convert = _band_converter(im)
    narrow = _band_narrower(im)
    output: _OrientedOutput | None = None
    for top in range(0, im.height, _BAND_ROWS):
        with im.crop((0, top, im.width, min(top + _BAND_ROWS, im.height))) as crop:
            band = narrow(np.asarray(convert(crop)))
        if output is None:
            channels = 1 if band.ndim == 2 else band.shape[2]
            output = _OrientedOutput(
                (im.height, im.width), orientation, band.dtype, has_alpha=channels in (2, 4)
            )
        output.put(top, band)
    im.close()
    if output is None:
        raise ValueError("the image has no rows")
    return output.pixels, output.alpha


def _band_converter(im: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """How to turn a band of ``im`` into L, LA, RGB, RGBA, I;16, I or F."""
    mode = im.mode
    if mode == "CMYK":
        return _cmyk_converter(im)
    if mode == "1":
        return lambda band: band.convert("L")
    if mode in ("P", "PA"):
        target = "RGBA" if im.has_transparency_data else "RGB"
        return lambda band: band.convert(target)
    if mode in ("L", "RGB") and "transparency" in im.info:
        target = "LA" if mode == "L" else "RGBA"
        return lambda band: band.convert(target)
    if mode in ("La", "RGBa"):
        return lambda band: band.convert(mode.upper())
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F") or mode.startswith("I;16"):
        return lambda band: band
    target = "RGBA" if "A" in mode else "RGB"
    return lambda band: band.convert(target)


def _band_narrower(im: Image.Image) -> Callable[[np.ndarray], np.ndarray]:
    """How to turn a band's array into uint8 or uint16."""
    if im.mode == "F":
        # Float files hold either 0..1 or integer values; map both onto 16 bits.
        extrema = im.getextrema()
        high = extrema[1] if isinstance(extrema[1], (int, float)) else 1.0
        scale = 65535.0 if high <= 1.0 else 1.0
        return lambda band: np.clip(np.rint(np.nan_to_num(band) * scale), 0, 65535).astype(
            np.uint16
        )
    if im.mode == "I":
        return lambda band: np.clip(band, 0, 65535).astype(np.uint16)
    # uint8, or uint16 in the file's byte order (I;16B): make it native.
    return lambda band: band if band.dtype.isnative else band.astype(band.dtype.newbyteorder("="))


@functools.lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _cmyk_converter(im: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """CMYK to sRGB through the embedded profile when there is a usable one."""
    icc = im.info.get("icc_profile")
    if isinstance(icc, bytes) and _icc_colour_space(icc) == "CMYK":
        try:
            transform = ImageCms.buildTransform(
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                _srgb_profile(),
                "CMYK",
                "RGB",
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            # A broken profile is no reason to refuse the picture: fall back to Pillow's
            # plain conversion, which is what viewers without colour management show.
            transform = None
        if transform is not None:
            return lambda band: _apply(transform, band)
    return lambda band: band.convert("RGB")


def _apply(transform: ImageCms.ImageCmsTransform, band: Image.Image) -> Image.Image:
    converted = ImageCms.applyTransform(band, transform)
    assert converted is not None  # None only when converting in place
    return converted


def _is_wide_colour(im: ImageFile.ImageFile) -> bool:
    """Whether Pillow would narrow this 16-bit colour (or gray+alpha) file to 8 bits."""
    if im.format not in _WIDE_DECODE_FORMATS or im.mode not in ("RGB", "RGBA", "LA"):
        return False
    for tile in im.tile:
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _decode_wide(im: Image.Image, file: IO[bytes], name: str) -> np.ndarray:
    """Decode a 16-bit colour file with OpenCV into (H, W, 3|4) uint16, BGR(A) order."""
    file.seek(0)
    data = file.read()
    if im.format == "PNG":
        # Checks every chunk's CRC and that the file is complete, so that OpenCV, which only
        # says "no", is rarely handed a broken file; also finds an eXIf chunk after IDAT.
        im.verify()
        exif = _png_exif_chunk(data)
        if exif is not None and "exif" not in im.info:
            im.info["exif"] = exif
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    del data
    if decoded is None or decoded.shape[:2] != (im.height, im.width):
        raise ImageError(f"{name}: truncated or corrupt image data (OpenCV could not decode it)")
    if decoded.ndim == 2:
        decoded = decoded[..., None]
    return decoded


def _png_exif_chunk(data: bytes) -> bytes | None:
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind == b"eXIf":
            return b"Exif\x00\x00" + data[position + 8 : position + 8 + length]
        if kind == b"IEND":
            break
        position += 12 + length
    return None


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # PNG's getexif() would decode the whole image to look after IDAT
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation as ImageOps.exif_transpose does; returns a view."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return array.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return array.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return array.swapaxes(0, 1)[::-1]
    return array


def _icc_colour_space(icc: bytes) -> str | None:
    """The data colour space in an ICC header ("RGB", "GRAY", "CMYK", …), or None."""
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return None
    return icc[16:20].decode("latin-1").strip()


def _rgb_profile_or_none(icc: object) -> bytes | None:
    if isinstance(icc, bytes) and _icc_colour_space(icc) == "RGB":
        return icc
    return None


def _exif_for_output(im: Image.Image) -> bytes | None:
    """The file's EXIF with Orientation set to 1, or None (malformed EXIF is dropped)."""
    try:
        if im.format == "TIFF":
            # A TIFF's "EXIF" is its own tag directory, strip offsets included: copy only
            # the descriptive tags and the Exif/GPS sub-directories.
            return _descriptive_exif(im.getexif())
        raw = im.info.get("exif")
        if isinstance(raw, bytes) and raw:
            with contextlib.suppress(ValueError, struct.error):
                return _reset_orientation(raw)
            # Too odd for the byte-level edit: let Pillow parse and re-encode it below.
        elif im.format == "PNG":
            return None  # no EXIF; and see _orientation
        exif = im.getexif()
        if not len(exif):
            return None
        if _ORIENTATION_TAG in exif:
            exif[_ORIENTATION_TAG] = 1
        return exif.tobytes()
    except _DECODE_ERRORS:
        return None


def _descriptive_exif(source: Image.Exif, *, sub_ifds: bool = True) -> bytes | None:
    exif = Image.Exif()
    for tag in _DESCRIPTIVE_TAGS:
        if tag in source:
            exif[tag] = source[tag]
    if _ORIENTATION_TAG in exif:
        exif[_ORIENTATION_TAG] = 1
    if sub_ifds:
        for tag in (_EXIF_IFD_TAG, _GPS_IFD_TAG):
            ifd = source.get_ifd(tag)
            if ifd:
                exif[tag] = dict(ifd)
    return exif.tobytes() if len(exif) else None


def _reset_orientation(raw: bytes) -> bytes:
    """Set IFD0's Orientation to 1 in place, keeping every other byte (maker notes too)."""
    body = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    data = bytearray(b"Exif\x00\x00" + body)
    base = 6
    order = bytes(data[base : base + 2])
    if order not in (b"II", b"MM"):
        raise ValueError("not a TIFF-structured EXIF block")
    endian = "<" if order == b"II" else ">"
    (ifd,) = struct.unpack_from(endian + "I", data, base + 4)
    (count,) = struct.unpack_from(endian + "H", data, base + ifd)
    for index in range(count):
        entry = base + ifd + 2 + 12 * index
        tag, kind, n = struct.unpack_from(endian + "HHI", data, entry)
        if tag != _ORIENTATION_TAG:
            continue
        if kind == 3 and n == 1:  # one SHORT, stored inline: the normal case
            struct.pack_into(endian + "H", data, entry + 8, 1)
        elif kind == 4 and n == 1:  # one LONG, which some writers use
            struct.pack_into(endian + "I", data, entry + 8, 1)
        else:
            raise ValueError(f"Orientation tag of type {kind} x {n}")
        break
    return bytes(data)


# --------------------------------------------------------------------------- choosing


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


# --------------------------------------------------------------------------- writing


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    quality: int = 95,
    overwrite: bool = False,
) -> None:
    """Write an RGB image atomically; the format comes from the path's suffix.

    The file is encoded into ``.<name>.<random>.partial`` in the target directory, flushed
    to disk, then moved into place; on any failure the partial file is removed. With
    ``overwrite=False`` an existing file is never replaced, even by a concurrent writer
    (the final step is a hard link, which fails if the name exists).

    Format notes:
        - 16-bit pixels stay 16-bit in PNG and TIFF; JPEG, WebP and BMP get 8 bits (rounded).
        - Alpha is kept in PNG, WebP and TIFF; JPEG and BMP get it composited onto white.
        - JPEG uses 4:4:4 chroma (no subsampling) when ``quality >= 90``, since colour is
          what we produce; below that Pillow's default 4:2:0.
        - PNG uses zlib level 4, for speed.
        - ICC and EXIF are written to JPEG, PNG (8- and 16-bit), WebP and 8-bit TIFF (EXIF
          Exif/GPS sub-directories are left out of TIFF). 16-bit TIFF and BMP carry neither.
          A non-RGB ICC profile is never written; an EXIF block over 64 KB is left out of JPEG.

    Args:
        path: Output file; suffix .png, .jpg/.jpeg, .webp, .tif/.tiff or .bmp.
        pixels: (H, W, 3) uint8 or uint16 RGB.
        alpha: (H, W) uint8 or uint16 alpha (rescaled to the dtype of ``pixels``), or None.
        icc_profile: ICC profile to embed, or None.
        exif: EXIF block (with or without the ``Exif\\0\\0`` header), or None.
        quality: JPEG/WebP quality, 1..100.
        overwrite: Replace an existing file instead of failing.

    Raises:
        OutputExistsError: the file exists (``overwrite=False``), also when another writer
            put it there meanwhile.
        ImageError: Unknown suffix, or writing failed (directory missing or read-only, disk
            full, encoder error). Names the path.
        TypeError, ValueError: ``pixels``, ``alpha`` or ``quality`` are malformed.
    """
    path = Path(path)
    _check_pixels(pixels, alpha, quality)
    fmt = _SUFFIX_TO_FORMAT.get(path.suffix.lower())
    if fmt is None:
        suffixes = ", ".join(sorted(_SUFFIX_TO_FORMAT))
        raise ImageError(
            f"{path}: cannot write {path.suffix or 'files without a suffix'!r}; "
            f"use one of {suffixes}"
        )
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path}: already exists")
    if fmt == "webp" and max(pixels.shape[:2]) > _WEBP_MAX_SIDE:
        raise ImageError(
            f"{path}: WebP cannot hold {pixels.shape[1]}x{pixels.shape[0]} "
            f"(at most {_WEBP_MAX_SIDE} pixels a side); use png or tif"
        )

    if alpha is not None and alpha.dtype != pixels.dtype:
        # 8-bit colour for a 16-bit source (or the reverse): bring alpha to the pixels' depth.
        alpha = _to_uint8(alpha) if pixels.dtype == np.uint8 else alpha.astype(np.uint16) * 257
    if alpha is not None and fmt not in FORMATS_WITH_ALPHA:
        pixels, alpha = _composite_on_white(pixels, alpha), None
    if pixels.dtype == np.uint16 and fmt not in FORMATS_WITH_16BIT:
        pixels = _to_uint8(pixels)
        alpha = _to_uint8(alpha) if alpha is not None else None
    icc = _rgb_profile_or_none(icc_profile)
    exif = _exif_for_format(exif, fmt)

    if pixels.dtype == np.uint16:
        encode = _wide_encoder(pixels, alpha, icc, exif, fmt, path)
    else:
        encode = _pillow_encoder(pixels, alpha, icc, exif, fmt, quality)
    height, width = pixels.shape[:2]
    _write_atomically(path, encode, overwrite=overwrite, size=(width, height))


def _check_pixels(pixels: np.ndarray, alpha: np.ndarray | None, quality: int) -> None:
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array, got {type(pixels).__name__}")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must have shape (H, W, 3), got {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, got {pixels.dtype}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"pixels must not be empty, got shape {pixels.shape}")
    if alpha is not None:
        if not isinstance(alpha, np.ndarray):
            raise TypeError(f"alpha must be a numpy array or None, got {type(alpha).__name__}")
        if alpha.shape != pixels.shape[:2]:
            raise ValueError(f"alpha must have shape {pixels.shape[:2]}, got {alpha.shape}")
        if alpha.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"alpha must be uint8 or uint16, got {alpha.dtype}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    # Rounds to nearest (v / 257 is never exactly halfway) without a float copy of the image.
    return cv2.convertScaleAbs(array, alpha=255.0 / 65535.0)


def _composite_on_white(pixels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    top = float(np.iinfo(pixels.dtype).max)
    out = np.empty_like(pixels)
    # Row bands keep the float temporaries small on very large images.
    for start in range(0, pixels.shape[0], _COMPOSITE_ROWS):
        band = slice(start, start + _COMPOSITE_ROWS)
        opacity = alpha[band, :, None].astype(np.float32) / top
        out[band] = np.rint(top - (top - pixels[band].astype(np.float32)) * opacity)
    return out


def _exif_for_format(exif: bytes | None, fmt: str) -> bytes | None:
    if not exif or fmt == "bmp":
        return None
    if not exif.startswith(b"Exif\x00\x00"):
        exif = b"Exif\x00\x00" + exif
    if fmt == "jpg" and len(exif) > _JPEG_MAX_EXIF:
        return None
    if fmt == "tif":
        # Pillow merges EXIF into the TIFF's own tags; libtiff rejects sub-directories there.
        try:
            source = Image.Exif()
            source.load(exif)
            return _descriptive_exif(source, sub_ifds=False)
        except _DECODE_ERRORS:
            return None
    return exif


def _pillow_encoder(
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    icc: bytes | None,
    exif: bytes | None,
    fmt: str,
    quality: int,
) -> Callable[[IO[bytes]], None]:
    params: dict[str, object] = {}
    if fmt == "jpg":
        params = {"format": "JPEG", "quality": quality, "subsampling": 0 if quality >= 90 else 2}
    elif fmt == "png":
        params = {"format": "PNG", "compress_level": _PNG_COMPRESS_LEVEL}
    elif fmt == "webp":
        params = {"format": "WEBP", "quality": quality}
    elif fmt == "tif":
        params = {"format": "TIFF", "compression": "tiff_lzw"}
    else:
        params = {"format": "BMP"}
    if icc is not None and fmt != "bmp":
        params["icc_profile"] = icc
    if exif is not None:
        params["exif"] = exif

    def encode(file: IO[bytes]) -> None:
        with Image.fromarray(np.ascontiguousarray(pixels)) as im:
            if alpha is not None:
                im.putalpha(Image.fromarray(np.ascontiguousarray(alpha)))
            im.save(file, **params)  # type: ignore[arg-type]

    return encode


def _wide_encoder(
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    icc: bytes | None,
    exif: bytes | None,
    fmt: str,
    path: Path,
) -> Callable[[IO[bytes]], None]:
    """16-bit PNG/TIFF through OpenCV, which wants BGR(A) order."""

    def encode(file: IO[bytes]) -> None:
        height, width = pixels.shape[:2]
        bgr = np.empty((height, width, 3 if alpha is None else 4), dtype=np.uint16)
        bgr[..., :3] = pixels[..., ::-1]
        if alpha is not None:
            bgr[..., 3] = alpha
        if fmt == "png":
            ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 4])
        else:
            ok, encoded = cv2.imencode(".tiff", bgr)
        del bgr
        if not ok:
            raise ImageError(f"{path}: OpenCV could not encode a 16-bit {fmt.upper()}")
        buffer = encoded.reshape(-1).data  # a view: the encoded file is not copied
        if fmt == "png":
            _write_png_with_metadata(file, buffer, icc, exif)
        else:
            file.write(buffer)

    return encode


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _write_png_with_metadata(
    file: IO[bytes], png: memoryview, icc: bytes | None, exif: bytes | None
) -> None:
    """Write OpenCV's PNG with iCCP and eXIf chunks added after IHDR (OpenCV drops both)."""
    header_end = len(_PNG_SIGNATURE) + 25  # IHDR is always first: 4 + 4 + 13 + 4 bytes
    if bytes(png[12:16]) != b"IHDR":
        raise ValueError("unexpected PNG layout from OpenCV")
    file.write(png[:header_end])
    if icc is not None:
        file.write(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if exif is not None:
        file.write(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    file.write(png[header_end:])


def _write_atomically(
    path: Path,
    encode: Callable[[IO[bytes]], None],
    *,
    overwrite: bool,
    size: tuple[int, int],
) -> None:
    """Encode into a partial file, check that it reads back as ``size`` (W, H), publish it."""
    directory = path.parent
    partial = partial_path(path)
    try:
        file = os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")
        # the lock tells a later run's stale-partial cleanup that this file is in use
        with writer_lock(file.fileno()):
            with file:
                encode(file)
                file.flush()
                os.fsync(file.fileno())
                _check_all_on_disk(file, path)
            _check_reads_back(partial, path, size)
            _publish(partial, path, overwrite=overwrite)
    except MemoryError as e:
        raise ImageError(f"{path}: not enough memory to encode the image") from e
    except _ENCODE_ERRORS as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ImageError(f"{path}: cannot write: {reason}") from e
    finally:
        # OSError, not just "not found": on a read-only file system, or with a name too long,
        # unlink fails too and must not hide the error above
        with contextlib.suppress(OSError):
            os.unlink(partial)
    fsync_path(directory)  # makes the rename itself durable


def _check_all_on_disk(file: IO[bytes], path: Path) -> None:
    """Refuse a file shorter than the encoder's last write reached (it may seek back)."""
    written, stored = file.tell(), os.fstat(file.fileno()).st_size
    if stored < written:
        raise ImageError(
            f"{path}: the written image cannot be read back "
            f"(only {stored:,} of {written:,} bytes are on disk)"
        )


def _check_reads_back(partial: Path, path: Path, size: tuple[int, int]) -> None:
    """Refuse an encoded file whose header does not read back as an image of ``size``.

    Only the header is parsed (cheap next to encoding): an output that cannot be opened is
    not an output, and is never published.
    """
    try:
        with Image.open(partial) as im:
            found = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return  # the header was parsed: it is only larger than Pillow's own guard
    except UnidentifiedImageError as e:
        raise ImageError(f"{path}: the written image cannot be read back (not an image)") from e
    except _DECODE_ERRORS as e:
        raise ImageError(f"{path}: the written image cannot be read back ({e})") from e
    if found != size:
        raise ImageError(
            f"{path}: the written image reads back as {found[0]}x{found[1]}, "
            f"not {size[0]}x{size[1]}"
        )


def _publish(partial: Path, path: Path, *, overwrite: bool) -> None:
    try:
        move_into_place(partial, path, overwrite=overwrite)
    except FileExistsError as e:
        raise OutputExistsError(f"{path}: already exists") from e
