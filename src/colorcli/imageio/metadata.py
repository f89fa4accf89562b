"""EXIF and ICC: what a file carries, and what of it is carried over to the output.

Orientation is read from EXIF and reset to 1 in what is kept (the pixels are turned
instead); only RGB ICC profiles are kept; a TIFF's own tag directory is reduced to its
descriptive tags. 16-bit PNGs, which OpenCV writes without metadata, get their iCCP and
eXIf chunks added here.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from typing import IO

from PIL import Image

from colorcli.imageio.formats import _DECODE_ERRORS

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MAX_EXIF = 65_533  # one APP1 segment; Pillow refuses more
_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_GPS_IFD_TAG = 0x8825
# Descriptive IFD0 tags that are safe to copy between files (no strip offsets, no sizes).
_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # PNG's getexif() would decode the whole image to look after IDAT
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


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
