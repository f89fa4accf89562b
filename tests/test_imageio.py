"""Tests of colorcli.imageio: every image made here, in tmp_path, and tiny."""

from __future__ import annotations

import errno
import io
import itertools
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps, JpegImagePlugin

from colorcli.errors import ImageError, OutputExistsError, UsageError
from colorcli.imageio import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    LoadedImage,
    choose_output_format,
    probe_size,
    read_image,
    read_image_bytes,
    write_gray_image,
    write_image,
)
from colorcli.imageio import writing as imageio_writing

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
H, W = 6, 8


# --------------------------------------------------------------------------- helpers


def _rgb(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth(h: int = H, w: int = W) -> np.ndarray:
    """A colourful gradient: what lossy codecs keep well, unlike noise."""
    y, x = np.mgrid[0:h, 0:w]
    red = 40 + 160 * x / max(w - 1, 1)
    green = 200 - 150 * y / max(h - 1, 1)
    blue = 90 + 60 * np.sin(x / 3.0)
    return np.rint(np.stack([red, green, blue], axis=-1)).astype(np.uint8)


def _rgb16(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (h, w, 3), dtype=np.uint16)


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int, make: str = "TestCam") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0112] = orientation
    return exif.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _header_only_png(path: Path, width: int, height: int) -> Path:
    """A 1-bit PNG whose header claims width x height but holds almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + _png_chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def _cv2_write(path: Path, rgb_or_rgba: np.ndarray) -> Path:
    """Write a 16-bit file with OpenCV (Pillow cannot), from RGB(A) order."""
    order = [2, 1, 0, 3][: rgb_or_rgba.shape[2]]
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(rgb_or_rgba[..., order]))
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def _la16_png(path: Path, gray: np.ndarray, alpha: np.ndarray) -> Path:
    """A 16-bit gray+alpha PNG, written by hand (neither Pillow nor OpenCV writes one)."""
    h, w = gray.shape
    interleaved = np.stack([gray, alpha], axis=-1).astype(">u2")
    raw = b"".join(b"\0" + interleaved[y].tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )
    return path


def _insert_exif_after_idat(png: bytes, exif: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")) + png[iend:]


def _cmyk_profile() -> bytes:
    """A minimal CMYK -> Lab ICC v2 input profile in which pure cyan maps to red.

    Red instead of cyan proves that the ICC path ran, not Pillow's naive conversion.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    clut = b""
    for corner in itertools.product((0, 1), repeat=4):
        if corner == (1, 0, 0, 0):
            lab = (54.0, 80.0, 67.0)
        else:
            c, m, y, k = corner
            lab = (100.0 * (1 - c) * (1 - m) * (1 - y) * (1 - k), 0.0, 0.0)
        clut += struct.pack(
            ">HHH", round(lab[0] * 652.8), round((lab[1] + 128) * 256), round((lab[2] + 128) * 256)
        )
    identity = b"".join(s15(1.0 if i == j else 0.0) for i in range(3) for j in range(3))
    linear = struct.pack(">HH", 0, 65535)
    a2b0 = b"mft2" + b"\0" * 4 + bytes([4, 3, 2, 0]) + identity + struct.pack(">HH", 2, 2)
    a2b0 += linear * 4 + clut + linear * 3
    wtpt = b"XYZ " + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249)
    tags = [(b"wtpt", wtpt), (b"A2B0", a2b0)]
    offset = 128 + 4 + 12 * len(tags)
    table = body = b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body))
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"scnrCMYKLab "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def _partials(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(".partial")]


def _loaded(
    source_format: str | None = "PNG",
    *,
    alpha: bool = False,
    dtype: type = np.uint8,
    mode: str = "RGB",
) -> LoadedImage:
    pixels: np.ndarray = _rgb().astype(dtype)
    return LoadedImage(
        path=None,
        pixels=pixels,
        alpha=np.full((H, W), 7, dtype=dtype) if alpha else None,
        icc_profile=None,
        exif=None,
        source_format=source_format,
        source_mode=mode,
    )


# --------------------------------------------------------------------------- modes


def _from_pillow(mode: str, fmt: str, **save: object) -> Callable[[Path], tuple[Path, Image.Image]]:
    def make(directory: Path) -> tuple[Path, Image.Image]:
        base = Image.fromarray(_smooth())
        if mode == "RGBA":
            image = base.copy()
            image.putalpha(Image.fromarray(_rgb(seed=1)[..., 0]))
        elif mode == "LA":
            image = base.convert("L")
            image.putalpha(Image.fromarray(_rgb(seed=1)[..., 0]))
            image = image.convert("LA")
        elif mode == "P":
            image = base.quantize(16)
        elif mode == "I;16":
            image = Image.fromarray(_rgb16()[..., 0])
        else:
            image = base.convert(mode)
        path = directory / f"in.{fmt.lower()}"
        image.save(path, fmt, **save)
        return path, image

    return make


# (id, maker, dtype, has alpha, lossless, is_grayscale)
PILLOW_CASES = [
    ("1-png", _from_pillow("1", "PNG"), np.uint8, False, True, True),
    ("L-png", _from_pillow("L", "PNG"), np.uint8, False, True, True),
    ("LA-png", _from_pillow("LA", "PNG"), np.uint8, True, True, True),
    ("RGB-png", _from_pillow("RGB", "PNG"), np.uint8, False, True, False),
    ("RGBA-png", _from_pillow("RGBA", "PNG"), np.uint8, True, True, False),
    ("P-png", _from_pillow("P", "PNG"), np.uint8, False, True, False),
    ("P-gif", _from_pillow("P", "GIF"), np.uint8, False, True, False),
    ("P-png-transparency", _from_pillow("P", "PNG", transparency=0), np.uint8, True, True, False),
    ("P-gif-transparency", _from_pillow("P", "GIF", transparency=0), np.uint8, True, True, False),
    ("RGB-jpeg", _from_pillow("RGB", "JPEG", quality=95), np.uint8, False, False, False),
    ("RGB-webp", _from_pillow("RGB", "WEBP", lossless=True), np.uint8, False, True, False),
    ("RGBA-webp", _from_pillow("RGBA", "WEBP", lossless=True), np.uint8, True, True, False),
    ("RGB-bmp", _from_pillow("RGB", "BMP"), np.uint8, False, True, False),
    ("RGB-tiff", _from_pillow("RGB", "TIFF"), np.uint8, False, True, False),
    ("CMYK-jpeg", _from_pillow("CMYK", "JPEG", quality=95), np.uint8, False, False, False),
    ("CMYK-tiff", _from_pillow("CMYK", "TIFF"), np.uint8, False, True, False),
    ("I16-png", _from_pillow("I;16", "PNG"), np.uint16, False, True, True),
    ("I16-tiff", _from_pillow("I;16", "TIFF"), np.uint16, False, True, True),
]


@pytest.mark.parametrize(
    ("make", "dtype", "has_alpha", "lossless", "gray"),
    [case[1:] for case in PILLOW_CASES],
    ids=[case[0] for case in PILLOW_CASES],
)
def test_every_mode_round_trips(
    tmp_path: Path,
    make: Callable[[Path], tuple[Path, Image.Image]],
    dtype: type,
    has_alpha: bool,
    lossless: bool,
    gray: bool,
) -> None:
    path, written = make(tmp_path)
    image = read_image(path)

    assert image.pixels.dtype == dtype
    assert image.pixels.shape == (H, W, 3)
    assert image.pixels.flags.c_contiguous and image.pixels.flags.writeable
    assert image.size == (W, H)
    assert image.bit_depth == (16 if dtype == np.uint16 else 8)
    assert image.is_grayscale is gray
    if has_alpha:
        assert image.alpha is not None
        assert image.alpha.shape == (H, W) and image.alpha.dtype == dtype
    else:
        assert image.alpha is None
    if lossless and dtype == np.uint8 and written.mode != "CMYK":
        with Image.open(path) as reference:
            expected = np.asarray(reference.convert("RGBA"))
        np.testing.assert_array_equal(image.pixels, expected[..., :3])
        if has_alpha:
            np.testing.assert_array_equal(image.alpha, expected[..., 3])
    if dtype == np.uint16:
        np.testing.assert_array_equal(image.pixels[..., 1], np.asarray(written))

    out = tmp_path / f"out.{choose_output_format(image)}"
    write_image(out, image.pixels, alpha=image.alpha, icc_profile=image.icc_profile)
    again = read_image(out)
    assert again.pixels.dtype == dtype
    assert (again.alpha is None) == (image.alpha is None)
    if out.suffix in (".png", ".tif", ".bmp"):
        np.testing.assert_array_equal(again.pixels, image.pixels)
        if image.alpha is not None:
            np.testing.assert_array_equal(again.alpha, image.alpha)
    else:  # lossy webp/jpg output of a tiny image: 4:2:0 chroma in WebP costs a few levels
        assert np.abs(again.pixels.astype(int) - image.pixels).mean() < 8


def test_16bit_rgb_png_keeps_every_bit_through_read_write_read(tmp_path: Path) -> None:
    original = _rgb16()
    path = _cv2_write(tmp_path / "in.png", original)
    with Image.open(path) as im:
        assert im.mode == "RGB"  # what Pillow alone would give: 8 bits

    image = read_image(path)
    assert image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels, original)
    assert choose_output_format(image) == "png"

    write_image(tmp_path / "out.png", image.pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "out.png").pixels, original)


def test_16bit_rgba_png_keeps_alpha_and_bits(tmp_path: Path) -> None:
    rgba = np.concatenate([_rgb16(), _rgb16(seed=3)[..., :1]], axis=-1)
    image = read_image(_cv2_write(tmp_path / "in.png", rgba))
    assert image.alpha is not None and image.alpha.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels, rgba[..., :3])
    np.testing.assert_array_equal(image.alpha, rgba[..., 3])

    write_image(tmp_path / "out.png", image.pixels, alpha=image.alpha)
    again = read_image(tmp_path / "out.png")
    np.testing.assert_array_equal(again.pixels, rgba[..., :3])
    np.testing.assert_array_equal(again.alpha, rgba[..., 3])


def test_16bit_tiff_round_trips(tmp_path: Path) -> None:
    original = _rgb16()
    image = read_image(_cv2_write(tmp_path / "in.tif", original))
    assert image.source_format == "TIFF" and image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels, original)
    assert choose_output_format(image) == "tif"
    write_image(tmp_path / "out.tif", image.pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").pixels, original)


def test_16bit_gray_alpha_png(tmp_path: Path) -> None:
    gray, alpha = _rgb16()[..., 0], _rgb16(seed=5)[..., 0]
    image = read_image(_la16_png(tmp_path / "la.png", gray, alpha))
    assert image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels, np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(image.alpha, alpha)
    assert image.is_grayscale


def test_32bit_int_and_float_tiff_become_16bit(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 65535, 70000]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "i.tif")
    image = read_image(tmp_path / "i.tif")
    assert image.pixels.dtype == np.uint16
    np.testing.assert_array_equal(image.pixels[0, :, 0], [0, 1000, 65535, 65535])

    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    image = read_image(tmp_path / "f.tif")
    np.testing.assert_array_equal(image.pixels[0, :, 0], [0, 32768, 65535])
    assert image.is_grayscale


def test_cmyk_jpeg_without_profile_uses_pillow_conversion(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0)])
    cmyk.save(tmp_path / "c.jpg", quality=100)
    image = read_image(tmp_path / "c.jpg")
    assert image.source_mode == "CMYK" and image.icc_profile is None
    np.testing.assert_allclose(
        image.pixels[0].astype(int), [[255, 255, 255], [0, 255, 255]], atol=3
    )


def test_cmyk_jpeg_with_profile_converts_through_it_and_never_keeps_it(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0)])
    cmyk.save(tmp_path / "c.jpg", quality=100, icc_profile=_cmyk_profile())

    image = read_image(tmp_path / "c.jpg")
    assert image.icc_profile is None
    white, cyan = image.pixels[0].astype(int)
    assert (white > 245).all()
    assert cyan[0] > 200 and cyan[1] < 60 and cyan[2] < 60  # the profile's red, not cyan

    write_image(tmp_path / "out.png", image.pixels, icc_profile=_cmyk_profile())
    with Image.open(tmp_path / "out.png") as out:
        assert "icc_profile" not in out.info


def test_broken_cmyk_profile_falls_back_to_pillow(tmp_path: Path) -> None:
    broken = bytearray(_cmyk_profile())
    broken[128:] = b"\xff" * (len(broken) - 128)
    Image.new("CMYK", (2, 2), (255, 0, 0, 0)).save(tmp_path / "c.jpg", icc_profile=bytes(broken))
    image = read_image(tmp_path / "c.jpg")
    np.testing.assert_allclose(image.pixels[0, 0].astype(int), [0, 255, 255], atol=3)


def test_gray_profile_is_dropped_and_rgb_profile_kept(tmp_path: Path) -> None:
    icc = _srgb_icc()
    gray_icc = icc[:16] + b"GRAY" + icc[20:]
    Image.new("L", (4, 4), 9).save(tmp_path / "g.png", icc_profile=gray_icc)
    Image.new("RGB", (4, 4), 9).save(tmp_path / "c.png", icc_profile=icc)
    assert read_image(tmp_path / "g.png").icc_profile is None
    assert read_image(tmp_path / "c.png").icc_profile == icc


# --------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "o.png"
    Image.fromarray(_rgb()).save(path, exif=_exif(orientation))
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))

    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, expected)
    assert image.exif is not None
    exif = Image.Exif()
    exif.load(image.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"


def test_orientation_6_rotates_clockwise_and_swaps_size(tmp_path: Path) -> None:
    pixels = _smooth()
    Image.fromarray(pixels).save(tmp_path / "o.jpg", quality=100, exif=_exif(6))
    image = read_image(tmp_path / "o.jpg")
    assert image.size == (H, W)
    assert probe_size(tmp_path / "o.jpg") == (H, W)
    with Image.open(tmp_path / "o.jpg") as im:
        np.testing.assert_array_equal(image.pixels, np.asarray(ImageOps.exif_transpose(im)))
    rotated = np.rot90(pixels, k=-1)
    assert np.abs(image.pixels.astype(int) - rotated).mean() < 8


def test_orientation_applies_to_16bit_png_with_exif_after_the_pixels(tmp_path: Path) -> None:
    original = _rgb16()
    plain = _cv2_write(tmp_path / "plain.png", original).read_bytes()
    path = tmp_path / "o.png"
    path.write_bytes(_insert_exif_after_idat(plain, _exif(6)))

    image = read_image(path)
    np.testing.assert_array_equal(image.pixels, np.rot90(original, k=-1))
    assert image.exif is not None
    exif = Image.Exif()
    exif.load(image.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"


def test_orientation_alpha_rotates_with_pixels(tmp_path: Path) -> None:
    rgba = np.concatenate([_rgb(), _rgb(seed=2)[..., :1]], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "o.png", exif=_exif(8))
    image = read_image(tmp_path / "o.png")
    np.testing.assert_array_equal(image.pixels, np.rot90(rgba[..., :3]))
    np.testing.assert_array_equal(image.alpha, np.rot90(rgba[..., 3]))


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_icc_and_exif_survive_a_write(tmp_path: Path, suffix: str) -> None:
    icc = _srgb_icc()
    Image.fromarray(_rgb()).save(tmp_path / "in.jpg", quality=95, icc_profile=icc, exif=_exif(3))
    image = read_image(tmp_path / "in.jpg")
    assert image.icc_profile == icc

    out = tmp_path / f"out{suffix}"
    write_image(out, image.pixels, icc_profile=image.icc_profile, exif=image.exif)
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == icc
        exif = written.getexif()
    assert exif[0x010F] == "TestCam"
    assert exif[0x0112] == 1


def test_exif_rewrite_keeps_other_bytes(tmp_path: Path) -> None:
    raw = _exif(6)
    Image.fromarray(_rgb()).save(tmp_path / "in.jpg", exif=raw)
    exif = read_image(tmp_path / "in.jpg").exif
    assert exif is not None and len(exif) == len(raw)
    assert sum(a != b for a, b in zip(exif, raw, strict=True)) == 1


def test_orientation_stored_as_long_is_applied_and_reset(tmp_path: Path) -> None:
    # One IFD0 entry: Orientation as a LONG (type 4) of value 6, as some writers store it.
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<HHHII", 1, 0x0112, 4, 1, 6)
    Image.fromarray(_smooth()).save(tmp_path / "o.jpg", exif=b"Exif\x00\x00" + tiff + b"\0" * 4)
    image = read_image(str(tmp_path / "o.jpg"))
    assert image.size == (H, W)
    assert image.exif is not None
    exif = Image.Exif()
    exif.load(image.exif)
    assert exif[0x0112] == 1


def test_16bit_png_write_keeps_icc_and_exif(tmp_path: Path) -> None:
    icc = _srgb_icc()
    write_image(tmp_path / "out.png", _rgb16(), icc_profile=icc, exif=_exif(1, make="Wide"))
    with Image.open(tmp_path / "out.png") as written:
        written.load()
        assert written.info.get("icc_profile") == icc
        assert written.getexif()[0x010F] == "Wide"
    image = read_image(tmp_path / "out.png")
    assert image.bit_depth == 16 and image.icc_profile == icc


def test_tiff_exif_keeps_only_descriptive_tags(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "TiffCam"
    exif[0x0112] = 6
    Image.fromarray(_rgb()).save(tmp_path / "in.tif", exif=exif.tobytes())
    image = read_image(tmp_path / "in.tif")
    assert image.size == (H, W)
    assert image.exif is not None
    loaded = Image.Exif()
    loaded.load(image.exif)
    # No strip offsets, sizes, … (Pillow itself may drop Orientation once it has applied it).
    assert dict(loaded) in ({0x010F: "TiffCam", 0x0112: 1}, {0x010F: "TiffCam"})


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.jpg: no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match=r"nope\.jpg"):
        probe_size(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: empty file"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="empty"):
        read_image_bytes(b"", name="upload.png")


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image"):
        read_image(tmp_path / "notes.jpg")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageError, match=r"folder\.png: is a directory"):
        read_image(tmp_path / "folder.png")


def test_truncated_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: truncated or corrupt"):
        read_image(tmp_path / "cut.jpg")


def test_truncated_16bit_png(tmp_path: Path) -> None:
    data = _cv2_write(tmp_path / "full.png", _rgb16(32, 32)).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageError, match=r"cut\.png: truncated or corrupt"):
        read_image(tmp_path / "cut.png")


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageError, match=r"secret\.png: permission denied"):
            read_image(path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on the broken TIFF tags
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF"])
def test_corrupted_bytes_raise_only_image_error(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_rgb(8, 8)).save(buffer, fmt)
    data = buffer.getvalue()
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(data), 25):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        for candidate in (bytes(corrupt), data[:position]):
            if not candidate:
                continue
            try:
                image = read_image_bytes(candidate, name="fuzz")
            except ImageError as e:
                assert str(e).startswith("fuzz: ")
            else:
                assert image.pixels.shape[2] == 3


# --------------------------------------------------------------------------- bombs


def test_pixel_limit_refuses_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (20, 10)).save(tmp_path / "small.png")

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded despite the limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(
        ImageError,
        match=r"small\.png: image too large \(20x10 = 200 pixels; the limit is 199 pixels\)",
    ):
        read_image(tmp_path / "small.png", max_pixels=199)


def test_12000x9000_header_passes_the_limit_without_pillow_warning(tmp_path: Path) -> None:
    path = _header_only_png(tmp_path / "big.png", 12000, 9000)
    assert DEFAULT_MAX_PIXELS >= 12000 * 9000
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert probe_size(path) == (12000, 9000)
        # Accepted by the limit, so decoding starts and finds the data missing.
        with pytest.raises(ImageError, match=r"big\.png: truncated or corrupt"):
            read_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_header_larger_than_default_limit_is_refused(tmp_path: Path) -> None:
    path = _header_only_png(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(
        ImageError,
        match=r"bomb\.png: image too large .*400,000,000 pixels; the limit is 250,000,000",
    ):
        read_image(path)


def test_header_beyond_pillows_own_guard_is_refused_as_too_large(tmp_path: Path) -> None:
    path = _header_only_png(tmp_path / "huge.png", 40000, 40000)
    with pytest.raises(ImageError, match=r"huge\.png: image too large .*1,600,000,000 pixels"):
        read_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_larger_max_pixels_is_honoured(tmp_path: Path) -> None:
    path = _header_only_png(tmp_path / "big.png", 20000, 20000)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_image(path, max_pixels=400_000_000)


def test_max_pixels_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(tmp_path / "x.png", max_pixels=0)


# --------------------------------------------------------------------------- writing


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(ImageError, match=r"out\.png: already exists"):
        write_image(path, _rgb())
    assert path.read_bytes() == b"precious"
    assert not _partials(tmp_path)

    write_image(path, _rgb(), overwrite=True)
    np.testing.assert_array_equal(read_image(path).pixels, _rgb())


def test_write_does_not_clobber_a_file_created_during_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.png"
    real_link = os.link

    def someone_else_was_faster(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(imageio_writing.os, "link", someone_else_was_faster)
    with pytest.raises(ImageError, match=r"out\.png: already exists"):
        write_image(path, _rgb())
    assert path.read_bytes() == b"theirs"
    assert not _partials(tmp_path)


def test_write_without_hard_links_falls_back_to_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(src: Path, dst: Path) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(imageio_writing.os, "link", unsupported)
    write_image(tmp_path / "out.png", _rgb())
    np.testing.assert_array_equal(read_image(tmp_path / "out.png").pixels, _rgb())
    assert not _partials(tmp_path)


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    write_image(tmp_path / "out.png", _rgb())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only directories")
def test_write_into_read_only_directory(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ImageError, match=r"out\.png: cannot write: Permission denied"):
            write_image(directory / "out.png", _rgb())
        assert not list(directory.iterdir())
    finally:
        directory.chmod(stat.S_IRWXU)


def test_write_into_unwritable_directory_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if str(path).endswith(".partial"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(imageio_writing.os, "open", read_only)
    with pytest.raises(ImageError, match=r"out\.png: cannot write: Permission denied"):
        write_image(tmp_path / "out.png", _rgb())
    assert not list(tmp_path.iterdir())


def test_write_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"out\.png: cannot write"):
        write_image(tmp_path / "missing" / "out.png", _rgb())


@pytest.mark.parametrize("overwrite", [False, True])
def test_failing_final_move_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool
) -> None:
    def broken(src: Path, dst: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(imageio_writing.os, "link", broken)
    monkeypatch.setattr(imageio_writing.os, "replace", broken)
    with pytest.raises(ImageError, match=r"out\.png: cannot write: Input/output error"):
        write_image(tmp_path / "out.png", _rgb(), overwrite=overwrite)
    assert not list(tmp_path.iterdir())


def _disk_full(fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _half_an_image(self: Image.Image, fp: io.BufferedWriter, **params: object) -> None:
    fp.write(b"half an image")
    raise OSError("encoder error -2")


FAILING_WRITES = {
    "disk full": (
        (imageio_writing.os, "fsync", _disk_full),
        ("out.jpg", _rgb),
        r"out\.jpg: cannot write: No space left on device",
    ),
    "failing pillow encoder": (
        (Image.Image, "save", _half_an_image),
        ("out.webp", _rgb),
        r"out\.webp: cannot write: encoder error -2",
    ),
    "failing opencv encoder": (
        (imageio_writing.cv2, "imencode", lambda *args, **kwargs: (False, None)),
        ("out.png", _rgb16),
        r"out\.png: OpenCV could not encode",
    ),
}


@pytest.mark.parametrize("failure", FAILING_WRITES)
def test_a_failing_write_leaves_nothing(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (target, name, replacement), (file_name, pixels), message = FAILING_WRITES[failure]
    monkeypatch.setattr(target, name, replacement)
    with pytest.raises(ImageError, match=message):
        write_image(tmp_path / file_name, pixels())
    assert not list(tmp_path.iterdir())


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"out\.xyz: cannot write '\.xyz'"):
        write_image(tmp_path / "out.xyz", _rgb())


def test_bad_arrays_are_refused_with_what_was_given(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\), got \(6, 8\)"):
        write_image(tmp_path / "a.png", _rgb()[..., 0])
    with pytest.raises(ValueError, match="uint8 or uint16, got float32"):
        write_image(tmp_path / "a.png", _rgb().astype(np.float32))
    with pytest.raises(ValueError, match=r"alpha must have shape \(6, 8\), got \(8, 6\)"):
        write_image(tmp_path / "a.png", _rgb(), alpha=np.zeros((W, H), np.uint8))
    with pytest.raises(TypeError, match="numpy array"):
        write_image(tmp_path / "a.png", [[1, 2, 3]])  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_16bit_to_8bit_rounds(tmp_path: Path) -> None:
    values = np.array([0, 128, 129, 257 * 100, 257 * 100 + 128, 65535], dtype=np.uint16)
    pixels = np.repeat(values[None, :, None], 3, axis=2)
    write_image(tmp_path / "out.bmp", pixels)
    np.testing.assert_array_equal(
        read_image(tmp_path / "out.bmp").pixels[0, :, 0], [0, 0, 1, 100, 100, 255]
    )


def test_alpha_of_another_depth_is_rescaled(tmp_path: Path) -> None:
    alpha16 = np.array([[0, 257 * 10, 65535]], dtype=np.uint16)
    write_image(tmp_path / "a.png", _rgb(1, 3), alpha=alpha16)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").alpha, [[0, 10, 255]])
    write_image(tmp_path / "b.png", _rgb16(1, 3), alpha=np.array([[0, 10, 255]], np.uint8))
    np.testing.assert_array_equal(read_image(tmp_path / "b.png").alpha, alpha16)


def test_alpha_is_composited_onto_white_where_it_cannot_be_kept(tmp_path: Path) -> None:
    pixels = np.full((1, 3, 3), 55, dtype=np.uint8)
    alpha = np.array([[0, 255, 128]], dtype=np.uint8)
    write_image(tmp_path / "out.bmp", pixels, alpha=alpha)
    image = read_image(tmp_path / "out.bmp")
    assert image.alpha is None
    np.testing.assert_array_equal(image.pixels[0, :, 0], [255, 55, 155])


def test_jpeg_uses_444_chroma_at_high_quality(tmp_path: Path) -> None:
    write_image(tmp_path / "hi.jpg", _rgb(), quality=95)
    write_image(tmp_path / "lo.jpg", _rgb(), quality=80)
    with Image.open(tmp_path / "hi.jpg") as hi, Image.open(tmp_path / "lo.jpg") as lo:
        assert JpegImagePlugin.get_sampling(hi) == 0
        assert JpegImagePlugin.get_sampling(lo) == 2


def test_webp_size_limit_is_explained(tmp_path: Path) -> None:
    pixels = np.broadcast_to(np.zeros(3, np.uint8), (1, 16_384, 3))
    with pytest.raises(ImageError, match="WebP cannot hold 16384x1"):
        write_image(tmp_path / "wide.webp", pixels)


# --------------------------------------------------------------------------- grayscale


def test_is_grayscale_rules() -> None:
    gray = np.repeat(_rgb()[..., :1], 3, axis=2)
    assert _loaded(mode="L").is_grayscale
    assert LoadedImage(None, gray, None, None, None, "PNG", "RGB").is_grayscale
    near = gray.astype(int)
    near[..., 0] += 2
    near = np.clip(near, 0, 255).astype(np.uint8)
    assert LoadedImage(None, near, None, None, None, "JPEG", "RGB").is_grayscale
    assert not LoadedImage(None, _rgb(), None, None, None, "PNG", "RGB").is_grayscale
    sepia = gray.copy()
    sepia[..., 2] //= 2
    assert not LoadedImage(None, sepia, None, None, None, "PNG", "RGB").is_grayscale


def test_gray_jpeg_stored_as_rgb_is_grayscale(tmp_path: Path) -> None:
    gray = Image.fromarray(_rgb(64, 64)[..., 0]).convert("RGB")
    gray.save(tmp_path / "g.jpg", quality=90)
    image = read_image(tmp_path / "g.jpg")
    assert image.source_mode == "RGB"
    assert image.is_grayscale


def test_a_few_coloured_pixels_do_not_make_colour() -> None:
    pixels = np.full((100, 100, 3), 120, np.uint8)
    pixels[0, 0] = (255, 0, 0)
    assert LoadedImage(None, pixels, None, None, None, "PNG", "RGB").is_grayscale
    pixels[:10] = (255, 0, 0)
    assert not LoadedImage(None, pixels, None, None, None, "PNG", "RGB").is_grayscale


# --------------------------------------------------------------------------- choosing


@pytest.mark.parametrize(
    ("source", "alpha", "dtype", "expected"),
    [
        ("JPEG", False, np.uint8, "jpg"),
        ("MPO", False, np.uint8, "jpg"),
        ("PNG", False, np.uint8, "png"),
        ("WEBP", False, np.uint8, "webp"),
        ("TIFF", False, np.uint8, "tif"),
        ("BMP", False, np.uint8, "bmp"),
        ("GIF", False, np.uint8, "png"),
        (None, False, np.uint8, "png"),
        ("JPEG", True, np.uint8, "png"),
        ("BMP", True, np.uint8, "png"),
        ("WEBP", True, np.uint8, "webp"),
        ("TIFF", True, np.uint16, "tif"),
        ("JPEG2000", False, np.uint16, "png"),
    ],
)
def test_auto_output_format(source: str | None, alpha: bool, dtype: type, expected: str) -> None:
    assert choose_output_format(_loaded(source, alpha=alpha, dtype=dtype)) == expected


def test_explicit_output_format() -> None:
    image = _loaded("PNG", alpha=True)
    assert choose_output_format(image, "jpg") == "jpg"  # write_image composites
    assert choose_output_format(image, "JPEG") == "jpg"
    assert choose_output_format(image, ".tiff") == "tif"
    assert choose_output_format(image, "webp") == "webp"
    with pytest.raises(UsageError, match="unknown output format 'gif'"):
        choose_output_format(image, "gif")


# --------------------------------------------------------------------------- misc


def test_image_extensions() -> None:
    assert {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"} <= IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    registered = Image.registered_extensions()
    assert all(ext in registered for ext in IMAGE_EXTENSIONS)


def test_probe_size_reads_the_header(tmp_path: Path) -> None:
    Image.new("RGB", (5, 3)).save(tmp_path / "a.png")
    Image.new("RGB", (5, 3)).save(tmp_path / "b.webp", exif=_exif(8))
    assert probe_size(tmp_path / "a.png") == (5, 3)
    assert probe_size(str(tmp_path / "b.webp")) == (3, 5)
    (tmp_path / "c.png").write_text("text")
    with pytest.raises(ImageError, match=r"c\.png: not an image"):
        probe_size(tmp_path / "c.png")


def test_read_image_bytes_matches_read_image(tmp_path: Path) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    from_bytes = read_image_bytes((tmp_path / "a.png").read_bytes())
    from_file = read_image(tmp_path / "a.png")
    assert from_bytes.path is None and from_file.path == tmp_path / "a.png"
    np.testing.assert_array_equal(from_bytes.pixels, from_file.pixels)


def test_pillow_limit_is_raised_not_lowered() -> None:
    assert Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS >= DEFAULT_MAX_PIXELS


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".bmp", ".webp"])
def test_gray_images_are_written_with_one_channel_where_the_format_has_one(
    tmp_path: Path, suffix: str
) -> None:
    gray = np.tile(np.arange(0, 240, 30, dtype=np.uint8), (H, 1))
    path = tmp_path / f"map{suffix}"
    write_gray_image(path, gray)
    with Image.open(path) as written:
        assert written.size == (W, H)
        assert written.mode == ("RGB" if suffix == ".webp" else "L")  # WebP holds no gray
        back = np.asarray(written.convert("L")).astype(int)
    assert np.abs(back - gray).max() <= (0 if suffix in (".png", ".tif", ".bmp") else 8)
    with pytest.raises(OutputExistsError):
        write_gray_image(path, gray)
    with pytest.raises(ValueError, match=r"\(H, W\) uint8"):
        write_gray_image(tmp_path / "bad.png", np.zeros((H, W, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
