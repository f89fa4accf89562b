"""Write image files atomically: encode, check that the result reads back, then publish.

Pillow encodes everything except 16-bit PNG/TIFF, which it cannot write in colour: those
are encoded by OpenCV. The file is written into a hidden ``.partial`` file in the target
directory (named by :mod:`colorcli.atomic`, whose clean-up finds it), flushed, checked, and
moved into place only then.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from colorcli.atomic import fsync_path, move_into_place, partial_path, writer_lock
from colorcli.errors import ImageError, OutputExistsError
from colorcli.imageio.formats import (
    _DECODE_ERRORS,
    _ENCODE_ERRORS,
    _SUFFIX_TO_FORMAT,
    FORMATS_WITH_16BIT,
    FORMATS_WITH_ALPHA,
)
from colorcli.imageio.metadata import (
    _exif_for_format,
    _rgb_profile_or_none,
    _write_png_with_metadata,
)
from colorcli.imageio.reading import LoadedImage

__all__ = ["write_image"]

_PNG_COMPRESS_LEVEL = 4  # zlib level: most of level 6's size at a fraction of its time
_WEBP_MAX_SIDE = 16_383
_COMPOSITE_ROWS = 512


def write_like(
    path: str | Path, pixels: np.ndarray, source: LoadedImage, *, overwrite: bool = False
) -> None:
    """:func:`write_image` with ``source``'s alpha, ICC profile and EXIF (a photo's output)."""
    write_image(
        path,
        pixels,
        alpha=source.alpha,
        icc_profile=source.icc_profile,
        exif=source.exif,
        overwrite=overwrite,
    )


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
    fmt = _target_format(path, overwrite)
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


def write_gray_image(path: str | Path, gray: np.ndarray, *, overwrite: bool = False) -> None:
    """Write ``gray`` ``(H, W)`` uint8 as an 8-bit grayscale file (one channel; WebP, which
    has none, stores RGB), atomically and never clobbering unless ``overwrite``, with the
    encoder settings of :func:`write_image`.

    Raises:
        OutputExistsError, ImageError: as :func:`write_image`.
        ValueError: ``gray`` is not a non-empty ``(H, W)`` uint8 array.
    """
    path = Path(path)
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"gray must be a (H, W) uint8 array, got {getattr(gray, 'shape', gray)}")
    if not gray.size:
        raise ValueError(f"gray must not be empty, got shape {gray.shape}")
    fmt = _target_format(path, overwrite)
    encode = _pillow_encoder(gray, None, None, None, fmt, quality=95)
    _write_atomically(path, encode, overwrite=overwrite, size=(gray.shape[1], gray.shape[0]))


def _target_format(path: Path, overwrite: bool) -> str:
    """The format to write ``path`` in, from its suffix.

    Raises:
        ImageError: the suffix is not one we write.
        OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    fmt = _SUFFIX_TO_FORMAT.get(path.suffix.lower())
    if fmt is None:
        suffixes = ", ".join(sorted(_SUFFIX_TO_FORMAT))
        raise ImageError(
            f"{path}: cannot write {path.suffix or 'files without a suffix'!r}; "
            f"use one of {suffixes}"
        )
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path}: already exists")
    return fmt


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
