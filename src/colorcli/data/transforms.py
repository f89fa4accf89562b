"""Square crops, flips and resizes on uint8 images, and their conversion to Lab training samples.

Geometry only: nothing here changes a pixel's colour (no jitter, no blur), so the ab
targets stay the colours of the photograph. Images are ``(H, W, 3)`` uint8 numpy
arrays, either sRGB or OpenCV's 8-bit Lab (``L8 = L * 255 / 100``, ``a8 = a + 128``,
``b8 = b + 128``); the transforms do not care which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from colorcli.color import lab_to_rgb, rgb_to_lab

SCALE_RANGE: tuple[float, float] = (0.5, 1.0)
"""Area of a training crop as a fraction of the largest square that fits the image."""


def _check_uint8_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be a (H, W, 3) uint8 array, got {image.shape} {image.dtype}")


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square ``(s, s, 3)`` uint8 image to ``(size, size, 3)``.

    Shrinking uses ``cv2.INTER_AREA`` (no aliasing); enlarging uses bilinear
    interpolation, which never overshoots so colours stay inside the source's range.
    """
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image)
    shrinking = image.shape[0] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to ``size``, keep the centre: ``(H, W, 3)`` → ``(size, size, 3)``."""
    _check_uint8_image(image)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return resize_square(image[top : top + side, left : left + side], size)


def random_resized_crop(
    image: np.ndarray,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = SCALE_RANGE,
) -> np.ndarray:
    """Cut a random square and resize it to ``(size, size, 3)``.

    The square's area is ``U(scale)`` times the area of the largest square that fits
    (so its side is between ``sqrt(scale[0])`` and ``sqrt(scale[1])`` of the short
    side) and it lies anywhere inside the image. Square crops keep the aspect ratio
    exactly, so shapes are never stretched.
    """
    _check_uint8_image(image)
    height, width = image.shape[:2]
    short = min(height, width)
    fraction = float(rng.uniform(scale[0], scale[1]))
    side = min(short, max(1, round(short * math.sqrt(fraction))))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    return resize_square(image[top : top + side, left : left + side], size)


@dataclass(frozen=True)
class SquareTransform:
    """Geometry of one sample: random crop + flip for training, centre crop otherwise.

    Attributes:
        size: side of the output square in pixels.
        augment: random resized square crop (area ``scale``) and a horizontal flip with
            probability 0.5; when False, short side resized to ``size`` + centre crop.
        scale: area range of the random crop, see :func:`random_resized_crop`.
    """

    size: int
    augment: bool = True
    scale: tuple[float, float] = SCALE_RANGE

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {self.size}")
        low, high = self.scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {self.scale}")

    @property
    def min_source_side(self) -> int:
        """Smallest short side a source image needs to feed this transform without upscaling.

        Readers may decode a reduced image (JPEG draft mode) down to this side.
        """
        if not self.augment:
            return self.size
        return math.ceil(self.size / math.sqrt(self.scale[0]))

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply to an ``(H, W, 3)`` uint8 image; returns a contiguous ``(size, size, 3)`` uint8."""
        if not self.augment:
            return center_crop(image, self.size)
        out = random_resized_crop(image, self.size, rng, self.scale)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


def rgb8_to_sample(rgb: np.ndarray, include_rgb: bool = False) -> dict[str, Tensor]:
    """Turn an sRGB ``(S, S, 3)`` uint8 image into a training sample.

    Returns:
        ``lightness`` float32 ``(1, S, S)`` in [0, 100], ``ab`` float32 ``(2, S, S)`` in Lab
        units and, when ``include_rgb``, ``rgb`` float32 ``(3, S, S)`` in [0, 1].
    """
    _check_uint8_image(rgb)
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    lab = rgb_to_lab(image)
    sample = {"lightness": lab[:1].contiguous(), "ab": lab[1:].contiguous()}
    if include_rgb:
        sample["rgb"] = image
    return sample


def lab8_to_sample(lab8: np.ndarray, include_rgb: bool = False) -> dict[str, Tensor]:
    """Turn an OpenCV 8-bit Lab ``(S, S, 3)`` uint8 image into a training sample.

    ``L = L8 * 100 / 255`` and ``a, b = a8 - 128, b8 - 128``. The optional ``rgb`` is
    :func:`colorcli.color.lab_to_rgb` of that (clipped to [0, 1]). Same keys as
    :func:`rgb8_to_sample`.
    """
    _check_uint8_image(lab8)
    values = torch.from_numpy(np.ascontiguousarray(lab8)).permute(2, 0, 1).float()
    lightness = values[:1] * (100.0 / 255.0)
    ab = values[1:] - 128.0
    sample = {"lightness": lightness.contiguous(), "ab": ab.contiguous()}
    if include_rgb:
        sample["rgb"] = lab_to_rgb(torch.cat((lightness, ab), dim=0))
    return sample
