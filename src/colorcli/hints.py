"""User colour hints: parse ``x,y=colour``, scribbles and references, rasterise for the model.

A point hint names a pixel of the input photo (pixel coordinates, or fractions in
[0, 1] written with a decimal point) and a colour (hex, ``rgb(…)``, ``hsl(…)`` or a CSS
name, as Pillow's ``ImageColor`` reads them). A hint image is RGBA, of the photo's size
or any size scaled to it, whose pixels with alpha > 0 are hints (strokes painted on a
transparent layer). The colour of a hint is the user's colour carried to the lightness
of the pixel it is on: its linear RGB scaled to that pixel's luminance, so a "red" on a
dark coat means a dark red, and the output's lightness stays the photo's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageColor
from torch import Tensor

from colorcli.color import linear_to_srgb, rgb_to_lab, srgb_to_linear
from colorcli.errors import HintError
from colorcli.guidance import EVAL_PATCH_SIDE, HINT_CHANNELS, ab_histogram

HINTS_SUFFIX = ".hints.png"
"""A photo's scribble hints may lie beside it as ``<stem>.hints.png``."""
REFERENCE_SIZE = 128
"""Long side a reference photo is reduced to before its ab histogram is taken."""

_HINT_PATTERN = re.compile(r"^\s*([^,=\s]+)\s*,\s*([^,=\s]+)\s*=\s*(.+?)\s*$")
_LUMINANCE = (0.212671, 0.715160, 0.072169)


@dataclass(frozen=True)
class HintPoint:
    """A colour at one point of the photo.

    Attributes:
        x, y: column and row; pixels of the input photo, or fractions of its width and
            height when ``relative``.
        rgb: the colour, 8-bit sRGB.
        relative: ``x`` and ``y`` are fractions in [0, 1].
        text: how the user wrote it (for messages).
    """

    x: float
    y: float
    rgb: tuple[int, int, int]
    relative: bool = False
    text: str = ""


@dataclass
class Hints:
    """Everything a user says about one photo's colours.

    Attributes:
        points: point hints.
        image: an RGBA hint image ``(h, w, 4)`` uint8 (any size; scaled to the photo), or None.
        reference: RGB pixels ``(h, w, 3)`` uint8/uint16 of a reference photo, or None.
    """

    points: list[HintPoint] = field(default_factory=list)
    image: np.ndarray | None = None
    reference: np.ndarray | None = None

    def __bool__(self) -> bool:
        return bool(self.points) or self.image is not None or self.reference is not None


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#c0392b``, ``rgb(192, 57, 43)``, ``hsl(…)`` or a CSS name -> 8-bit RGB.

    Raises:
        HintError: not a colour Pillow knows.
    """
    try:
        colour = ImageColor.getrgb(text.strip())
    except ValueError:
        raise HintError(
            f"unknown colour {text!r}: use #rrggbb, rgb(r, g, b) or a CSS name such as red"
        ) from None
    return (int(colour[0]), int(colour[1]), int(colour[2]))


def parse_hint(text: str) -> HintPoint:
    """``"120,340=#c0392b"`` (pixels) or ``"0.52,0.20=red"`` (fractions) -> a HintPoint.

    Raises:
        HintError: malformed text, a negative coordinate, a fraction above 1, or an
            unknown colour.
    """
    match = _HINT_PATTERN.match(text)
    if match is None:
        raise HintError(f"malformed hint {text!r}: write X,Y=COLOUR, e.g. 120,340=#c0392b")
    raw_x, raw_y, colour = match.groups()
    try:
        x, y = float(raw_x), float(raw_y)
    except ValueError:
        raise HintError(f"malformed hint {text!r}: X and Y must be numbers") from None
    if not (np.isfinite(x) and np.isfinite(y)) or x < 0 or y < 0:
        raise HintError(f"hint {text!r}: coordinates must be >= 0")
    relative = "." in raw_x or "." in raw_y
    if relative and (x > 1 or y > 1):
        raise HintError(
            f"hint {text!r}: fractions must be in [0, 1] (write whole numbers for pixels)"
        )
    return HintPoint(x, y, parse_colour(colour), relative=relative, text=text.strip())


def ab_at_lightness(rgb: Tensor, lightness: Tensor) -> Tensor:
    """ab of colours ``rgb (N, 3)`` in [0, 1] carried to lightness ``(N,)`` (0‥100) -> ``(N, 2)``.

    The colour's linear RGB is scaled to the target luminance (same chromaticity, lighter
    or darker) and clipped to the gamut; black, which has no hue, gives ab = 0.
    """
    linear = srgb_to_linear(rgb.double())
    weights = torch.tensor(_LUMINANCE, dtype=torch.float64)
    luminance = linear @ weights
    fy = (lightness.double() + 16.0) / 116.0
    target = torch.where(fy > 6.0 / 29.0, fy**3, (fy - 16.0 / 116.0) * 3 * (6.0 / 29.0) ** 2)
    scale = torch.where(luminance > 1e-6, target / luminance.clamp(min=1e-6), 0.0)
    srgb = linear_to_srgb(linear * scale[:, None])  # clamps to the gamut
    lab = rgb_to_lab(srgb.T[:, :, None])  # (3, N, 1)
    ab = lab[1:, :, 0].T
    return torch.where((luminance > 1e-6)[:, None], ab, torch.zeros_like(ab)).float()


def _pixel_lightness(pixels: np.ndarray, row: int, column: int) -> float:
    value = pixels[row, column].astype(np.float64)
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    rgb = torch.from_numpy(value / top).view(3, 1, 1)
    return float(rgb_to_lab(rgb)[0, 0, 0])


def _point_position(point: HintPoint, height: int, width: int) -> tuple[float, float]:
    """(column, row) in input pixels; raises HintError outside the photo."""
    if point.relative:
        x, y = point.x * (width - 1), point.y * (height - 1)
    else:
        x, y = point.x, point.y
    if x > width - 1 or y > height - 1:
        raise HintError(
            f"hint {point.text or (point.x, point.y)!r} is outside the {width}×{height} photo"
        )
    return x, y


def check_hints(hints: Hints, height: int, width: int) -> None:
    """Raise HintError for a point outside a ``width``×``height`` photo or a bad hint image."""
    for point in hints.points:
        _point_position(point, height, width)
    if hints.image is not None:
        image = hints.image
        if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
            raise HintError(
                f"a hint image must be RGBA 8-bit, got shape {image.shape} {image.dtype}"
            )


def hint_map(
    hints: Hints, pixels: np.ndarray, lightness: Tensor, content: tuple[int, int]
) -> Tensor:
    """The model's hint input for one photo: ``(3, S, S)`` a, b (Lab units) and mask.

    Args:
        hints: the user's point hints and/or hint image.
        pixels: the full-resolution photo ``(H, W, 3)`` uint8/uint16 (hint lightness).
        lightness: ``(1, S, S)`` the model's L input (content top-left, padding around).
        content: ``(h, w)`` of the content inside the square.

    Raises:
        HintError: a point outside the photo or a malformed hint image.
    """
    height, width = pixels.shape[:2]
    check_hints(hints, height, width)
    side = lightness.shape[-1]
    out = torch.zeros(HINT_CHANNELS, lightness.shape[-2], side)
    small_h, small_w = content
    if hints.image is not None:
        rgba = hints.image.astype(np.float32) / 255.0
        alpha = rgba[:, :, 3:4]
        premultiplied = np.concatenate((rgba[:, :, :3] * alpha, alpha), axis=2)
        small = cv2.resize(premultiplied, (small_w, small_h), interpolation=cv2.INTER_AREA)
        if small.ndim == 2:
            small = small[:, :, None]
        small_alpha = small[:, :, 3]
        mask = small_alpha > 1.0 / 255.0  # any stroke under the pixel (alpha > 0 = hint)
        if mask.any():
            colours = small[:, :, :3][mask] / small_alpha[mask][:, None]
            rows, columns = np.nonzero(mask)
            lights = lightness[0, rows, columns]
            stroke_ab = ab_at_lightness(
                torch.from_numpy(colours.astype(np.float64)).clamp(0, 1), lights
            )
            out[0, rows, columns] = stroke_ab[:, 0]
            out[1, rows, columns] = stroke_ab[:, 1]
            out[2, rows, columns] = 1.0
    for point in hints.points:
        x, y = _point_position(point, height, width)
        light = _pixel_lightness(pixels, round(y), round(x))
        rgb = torch.tensor(point.rgb, dtype=torch.float64)[None] / 255.0
        ab = ab_at_lightness(rgb, torch.tensor([light]))[0]
        column = min(small_w - 1, max(0, round((x + 0.5) * small_w / width - 0.5)))
        row = min(small_h - 1, max(0, round((y + 0.5) * small_h / height - 0.5)))
        half = EVAL_PATCH_SIDE // 2
        top, left = max(0, row - half), max(0, column - half)
        bottom, right = min(small_h, row + half + 1), min(small_w, column + half + 1)
        out[0, top:bottom, left:right] = ab[0]
        out[1, top:bottom, left:right] = ab[1]
        out[2, top:bottom, left:right] = 1.0
    return out


def reference_features(reference: np.ndarray) -> Tensor:
    """Global hint ``(REFERENCE_FEATURES,)`` of a reference photo ``(H, W, 3)`` uint8/uint16."""
    if reference.ndim != 3 or reference.shape[2] != 3:
        raise HintError(f"a reference photo must be RGB, got shape {reference.shape}")
    scale = REFERENCE_SIZE / max(reference.shape[:2])
    if scale < 1:
        size = (
            max(1, round(reference.shape[1] * scale)),
            max(1, round(reference.shape[0] * scale)),
        )
        reference = cv2.resize(reference, size, interpolation=cv2.INTER_AREA)
    top = 65535.0 if reference.dtype == np.uint16 else 255.0
    rgb = torch.from_numpy(reference.astype(np.float32) / top).permute(2, 0, 1)[None]
    return ab_histogram(rgb_to_lab(rgb)[:, 1:])[0]


def read_hint_image(path: str | Path) -> np.ndarray:
    """A hint image as RGBA ``(h, w, 4)`` uint8 (a file without alpha hints every pixel).

    Raises:
        HintError: missing, unreadable or not an image (names the file and the reason).
    """
    try:
        with Image.open(path) as image:
            image.load()
            rgba = image.convert("RGBA")
    except FileNotFoundError:
        raise HintError(f"{path}: hint image not found") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise HintError(f"{path}: cannot read the hint image ({error})") from None
    return np.asarray(rgba, dtype=np.uint8).copy()


def parse_hints(texts: Sequence[str]) -> list[HintPoint]:
    """Every ``--hint`` text parsed (raises HintError at the first bad one)."""
    return [parse_hint(text) for text in texts]


def hints_path(source: Path) -> Path:
    """The scribble-hint image a photo may have beside it: ``<stem>.hints.png``."""
    return source.with_name(f"{source.stem}{HINTS_SUFFIX}")


def hints_for(source: Path, shared: Hints | None) -> Hints | None:
    """The run's hints plus ``<stem>.hints.png`` beside ``source`` when there is one.

    Raises:
        HintError: the hint image cannot be read (names the file and the reason).
    """
    scribble = hints_path(source)
    if not scribble.is_file():
        return shared
    image = read_hint_image(scribble)
    base = shared or Hints()
    return Hints(points=list(base.points), image=image, reference=base.reference)
