"""Turn a parsed image into RGB arrays: modes, CMYK, 16-bit colour, alpha and orientation.

Pillow decodes everything except 16-bit colour PNG/TIFF/PPM files, which it would narrow to
8 bits: those are decoded by OpenCV. Pixels are copied out in bands of rows straight into
their EXIF-oriented place, so a full-size image exists at most twice.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import IO

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile

from colorcli.errors import ImageError
from colorcli.imageio.metadata import _icc_colour_space, _png_exif_chunk

# Formats whose 16-bit colour files Pillow narrows to 8 bits and OpenCV decodes in full.
_WIDE_DECODE_FORMATS = frozenset({"PNG", "TIFF", "PPM"})
_BAND_ROWS = 256  # rows converted at a time when copying out of Pillow
_INVERSE_ORIENTATION = {6: 8, 8: 6}  # the other orientations undo themselves


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
