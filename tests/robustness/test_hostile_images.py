"""Hostile image files: mutated PNG/JPEG/TIFF/… bytes give ImageError or a sane image, nothing else.

A fuzz test (hypothesis) flips, cuts, inserts and copies bytes of small valid files of every
kind the reader handles (8- and 16-bit, EXIF, ICC, palette, CMYK, multi-frame) and checks
that :func:`read_image_bytes`, :func:`read_image` and :func:`probe_size` either return an
image within the pixel limit or raise :class:`ImageError`, within a time bound. Decompression
bombs (headers claiming billions of pixels) are refused before any pixel is decoded.
"""

from __future__ import annotations

import contextlib
import io
import signal
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageFile

from colorcli.errors import ImageError
from colorcli.imageio import DEFAULT_MAX_PIXELS, probe_size, read_image, read_image_bytes

FUZZ_MAX_PIXELS = 4_000_000
"""Pixel limit of the fuzzed reads (a mutated header may claim anything up to it)."""

SECONDS_PER_FILE = 5.0
"""A read that takes longer counts as a hang (tiny files decode in milliseconds)."""


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _seed_files() -> dict[str, bytes]:
    """Small valid files of every kind the reader takes different paths for."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray((rng.random((20, 16, 3)) * 255).astype(np.uint8))
    gray = rgb.convert("L")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the orientation code path
    exif[0x010F] = "camera"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    wide = (rng.random((9, 7, 3)) * 65535).astype(np.uint16)
    return {
        "png": _encode(rgb, "PNG", exif=exif.tobytes(), icc_profile=icc),
        "png-gray": _encode(gray, "PNG"),
        "png-palette-alpha": _encode(rgb.convert("P"), "PNG", transparency=3),
        "png-16bit": cv2.imencode(".png", wide)[1].tobytes(),
        "jpeg": _encode(rgb, "JPEG", exif=exif.tobytes(), icc_profile=icc),
        "jpeg-progressive-gray": _encode(gray, "JPEG", progressive=True),
        "jpeg-cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "tiff": _encode(rgb, "TIFF", exif=exif),
        "tiff-lzw": _encode(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-16bit": cv2.imencode(".tiff", wide)[1].tobytes(),
        "gif-2-frames": _encode(rgb, "GIF", save_all=True, append_images=[gray.convert("RGB")]),
        "bmp": _encode(rgb, "BMP"),
        "webp": _encode(rgb, "WEBP"),
    }


SEEDS = _seed_files()


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed file with 1 to 6 edits, half of them aimed at the first 64 bytes (headers)."""
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    place = st.one_of(st.integers(0, 63), st.integers(0, 1 << 16))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(place) % len(data)
        edit = draw(st.sampled_from(["set", "flip", "cut", "insert", "copy", "delete"]))
        if edit == "set":
            data[at] = draw(st.integers(0, 255))
        elif edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "copy":
            source = draw(place) % len(data)
            data[at : at + 4] = data[source : source + 4]
        else:
            del data[at : at + draw(st.integers(1, 16))]
        if not data:
            data = bytearray(b"\x00")
    return kind, bytes(data)


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _Hang if the block runs longer than ``seconds`` (checked by the interpreter)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Hang(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_outcome(read: object) -> None:
    """``read()`` returns a sane image or raises ImageError; anything else fails the test."""
    assert callable(read)
    started = time.perf_counter()
    with _time_limit(SECONDS_PER_FILE):
        try:
            image = read()
        except ImageError as error:
            assert str(error) and "\n" not in str(error)
            return
    assert time.perf_counter() - started < SECONDS_PER_FILE
    if isinstance(image, tuple):  # probe_size
        width, height = image
        assert width >= 0 and height >= 0
        return
    pixels = image.pixels  # type: ignore[attr-defined]
    assert pixels.ndim == 3 and pixels.shape[2] == 3
    assert pixels.dtype in (np.uint8, np.uint16)
    assert 0 < pixels.shape[0] * pixels.shape[1] <= FUZZ_MAX_PIXELS


def _fuzz(kind_and_data: tuple[str, bytes], folder: Path) -> None:
    kind, data = kind_and_data
    _check_outcome(lambda: read_image_bytes(data, name=kind, max_pixels=FUZZ_MAX_PIXELS))
    path = folder / "fuzzed.img"
    path.write_bytes(data)
    _check_outcome(lambda: probe_size(path))
    _check_outcome(lambda: read_image(path, max_pixels=FUZZ_MAX_PIXELS))


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


FUZZ_EXAMPLES = 300
FUZZ_EXAMPLES_SLOW = 5000


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PIL.Image.DecompressionBombWarning")
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_files())
def test_mutated_files_give_an_image_or_image_error(
    case: tuple[str, bytes], fuzz_folder: Path
) -> None:
    _fuzz(case, fuzz_folder)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PIL.Image.DecompressionBombWarning")
@settings(
    max_examples=FUZZ_EXAMPLES_SLOW, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(case=mutated_files())
def test_mutated_files_give_an_image_or_image_error_many(
    case: tuple[str, bytes], fuzz_folder: Path
) -> None:
    _fuzz(case, fuzz_folder)


def test_every_seed_file_reads() -> None:
    """The fuzz starts from files the reader takes (else it would only test refusals)."""
    for kind, data in SEEDS.items():
        image = read_image_bytes(data, name=kind)
        assert image.pixels.shape[0] * image.pixels.shape[1] > 0, kind


# ------------------------------------------------------------------ decompression bombs


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024, 9)  # a few rows; the header claims the rest
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _jpeg_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("L", (8, 8), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _tiff_bomb(width: int, height: int) -> bytes:
    entries = [  # tag, type (3 short, 4 long), value
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, 64),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    ifd += struct.pack("<I", 0)
    pixels = b"\x80" * 64
    return b"II*\x00" + struct.pack("<I", 8 + len(pixels)) + pixels + ifd


def _gif_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("L", (8, 8), 128), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    descriptor = data.index(b"\x2c")
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def _bmp_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (4, 4)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _webp_bomb(width: int, height: int) -> bytes:
    """A real lossless WebP of one colour: a few hundred bytes (WebP sides stop at 16383)."""
    return _encode(Image.new("RGB", (width, height), (90, 90, 90)), "WEBP", lossless=True)


BOMBS = {  # name: (file, pixel limit it must be refused under)
    "png 100000x100000": (_png_bomb(100_000, 100_000), DEFAULT_MAX_PIXELS),
    "png 20000x15000": (_png_bomb(20_000, 15_000), DEFAULT_MAX_PIXELS),
    "jpeg 65500x65500": (_jpeg_bomb(65_500, 65_500), DEFAULT_MAX_PIXELS),
    "jpeg 20000x15000": (_jpeg_bomb(20_000, 15_000), DEFAULT_MAX_PIXELS),
    "tiff 100000x100000": (_tiff_bomb(100_000, 100_000), DEFAULT_MAX_PIXELS),
    "tiff 20000x15000": (_tiff_bomb(20_000, 15_000), DEFAULT_MAX_PIXELS),
    "gif 65535x65535": (_gif_bomb(65_535, 65_535), DEFAULT_MAX_PIXELS),
    "bmp 50000x50000": (_bmp_bomb(50_000, 50_000), DEFAULT_MAX_PIXELS),
    "webp 2000x2000": (_webp_bomb(2_000, 2_000), 1_000_000),
}


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to decode pixels fail the test (bombs must be refused before)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded")

    pending: list[type] = [ImageFile.ImageFile]
    while pending:  # every plugin with its own load (WebP, GIF, TIFF, …)
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if "load" in vars(kind):
            monkeypatch.setattr(kind, "load", refuse)
    monkeypatch.setattr(cv2, "imdecode", refuse)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("bomb", BOMBS)
def test_decompression_bombs_are_refused_before_decoding(
    bomb: str, no_decoding: None, tmp_path: Path
) -> None:
    data, limit = BOMBS[bomb]
    assert len(data) < 2_000
    started = time.perf_counter()
    with pytest.raises(ImageError, match="image too large") as caught:
        read_image_bytes(data, name=bomb, max_pixels=limit)
    assert f"the limit is {limit:,} pixels" in str(caught.value)
    path = tmp_path / "bomb.img"
    path.write_bytes(data)
    with pytest.raises(ImageError, match="image too large"):
        read_image(path, max_pixels=limit)
    assert time.perf_counter() - started < 2.0


def test_the_pixel_limit_is_the_callers(no_decoding: None) -> None:
    """A lower --max-pixels refuses an ordinary picture from its header alone."""
    data = _encode(Image.new("L", (100, 100)), "PNG")
    with pytest.raises(ImageError, match=r"100x100 = 10,000 pixels; the limit is 9,999 pixels"):
        read_image_bytes(data, max_pixels=9_999)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_sizes_are_reported_by_the_header_reader(tmp_path: Path) -> None:
    """probe_size reads only the header: a bomb's claimed size, or ImageError far above it."""
    path = tmp_path / "bomb.png"
    path.write_bytes(BOMBS["png 20000x15000"][0])
    assert probe_size(path) == (20_000, 15_000)
    path.write_bytes(BOMBS["png 100000x100000"][0])
    with pytest.raises(ImageError, match="image too large"):
        probe_size(path)
