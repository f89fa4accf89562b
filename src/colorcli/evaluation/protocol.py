"""What an evaluation measures: the crop protocol, the reference rows and the default metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from colorcli.errors import UsageError
from colorcli.pipeline import join_full_resolution

__all__ = [
    "BASELINE_NAME",
    "COLORFULNESS_METRICS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_METRICS",
    "DEFAULT_PROTOCOL",
    "REFERENCE_NAME",
    "EvalProtocol",
    "centre_square_crop",
    "gray_baseline",
    "parse_protocol",
]

BASELINE_NAME = "gray"
"""Row name of the baseline: the photo's own L with ab = 0, always scored first."""

REFERENCE_NAME = "original"
"""Row name of the originals' colourfulness, the reference for ``colorfulness``."""

DEFAULT_METRICS: tuple[str, ...] = ("psnr", "ssim", "deltae", "imgsim", "colorfulness", "delta_cf")
"""Metrics scored when none are named."""

DEFAULT_PROTOCOL = "crop256"
"""Centre square crop resized to 256×256, as the colourization papers evaluate."""

DEFAULT_BATCH_SIZE = 16

COLORFULNESS_METRICS: frozenset[str] = frozenset({"colorfulness", "delta_cf"})
"""Metrics that also need the originals' own colourfulness (the ``original`` reference)."""

_PROTOCOL_PATTERN = re.compile(r"^(?:full|crop(\d+))$")
_MIN_CROP = 16
_MAX_CROP = 8192


@dataclass(frozen=True)
class EvalProtocol:
    """What part of each photo is compared, at what resolution.

    Attributes:
        name: ``"cropN"`` (e.g. ``"crop256"``) or ``"full"``.
        crop_size: side N of the square crop, or ``None`` for ``full``.
    """

    name: str
    crop_size: int | None

    @property
    def description(self) -> str:
        """One sentence for logs and reports."""
        if self.crop_size is None:
            return (
                f"protocol {self.name}: every photo at its full resolution as decoded "
                "(EXIF orientation applied); models see its L resized to the inference size, "
                "their ab is upsampled and joined to the full-resolution L"
            )
        n = self.crop_size
        return (
            f"protocol {self.name}: centre square crop (side = short side), resized to {n}x{n} "
            "with OpenCV INTER_AREA when shrinking or INTER_LANCZOS4 when enlarging, on the "
            "decoded 8/16-bit RGB; models see the L of that crop"
        )

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """The evaluated image: ``(H, W, 3)`` uint8/uint16 in, same dtype out (a new array)."""
        if self.crop_size is None:
            return pixels
        return centre_square_crop(pixels, self.crop_size)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "crop_size", "description"}`` for the JSON report."""
        return {"name": self.name, "crop_size": self.crop_size, "description": self.description}


def parse_protocol(text: str) -> EvalProtocol:
    """``"crop256"`` (any ``cropN``, 16 ≤ N ≤ 8192) or ``"full"`` as an :class:`EvalProtocol`.

    Raises:
        UsageError: anything else.
    """
    name = text.strip().lower()
    match = _PROTOCOL_PATTERN.match(name)
    if match is None:
        raise UsageError(f"unknown protocol {text!r}: use crop256 (or cropN, N pixels) or full")
    if match.group(1) is None:
        return EvalProtocol("full", None)
    size = int(match.group(1))
    if not _MIN_CROP <= size <= _MAX_CROP:
        raise UsageError(f"protocol {text!r}: the crop must be {_MIN_CROP} to {_MAX_CROP} pixels")
    return EvalProtocol(f"crop{size}", size)


def centre_square_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """Cut the centred square of side ``min(H, W)`` and resize it to ``size × size``.

    Args:
        pixels: ``(H, W, 3)`` uint8 or uint16.
        size: output side.

    Returns:
        ``(size, size, 3)`` of the same dtype. Shrinking uses ``cv2.INTER_AREA`` (the mean of
        the covered source pixels, no aliasing); enlarging uses ``cv2.INTER_LANCZOS4``.
    """
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = pixels[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LANCZOS4
    return cv2.resize(square, (size, size), interpolation=interpolation)


def gray_baseline(pixels: np.ndarray, *, device: torch.device | None = None) -> np.ndarray:
    """The photo's own L with ab = 0: what a colourizer must beat. Same shape and dtype."""
    return join_full_resolution(pixels, torch.zeros(2, 1, 1), device=device)
