"""Prepare photos for the model: L at the model's size in a padded square, plus any hints.

Following richzhang/colorization's demo, the model sees L resized so its long side is
``size``; it is reflect-padded to a square so that any mix of image sizes batches together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch.nn.functional as F
from torch import Tensor

from colorcli.color_lut import check_pixels, lightness_of
from colorcli.errors import HintError
from colorcli.hints import HintPoint, Hints, hint_map, parse_colour, reference_features

DEFAULT_SIZE = 256
"""Side of the square the model sees when neither the caller nor the model names one."""


@dataclass(frozen=True)
class ModelInput:
    """One image prepared for the model.

    Attributes:
        lightness: ``(1, size, size)`` float32 L in [0, 100], the content in the top-left
            ``content`` rows/columns and reflect padding elsewhere.
        content: ``(height, width)`` of the resized content inside the square.
    """

    lightness: Tensor
    content: tuple[int, int]
    hints: Tensor | None = None
    """``(3, size, size)`` hint map of a guided model (:mod:`colorcli.guidance`), or None."""
    reference: Tensor | None = None
    """``(REFERENCE_FEATURES,)`` global hint of a guided model, or None."""


def prepare_input(
    pixels: np.ndarray, size: int = DEFAULT_SIZE, hints: Hints | None = None
) -> ModelInput:
    """Resize ``pixels (H, W, 3)`` so the long side is ``size``; return its L, padded square.

    Args:
        pixels: ``(H, W, 3)`` uint8 or uint16 sRGB.
        size: side of the square the model sees.
        hints: colour hints and/or a reference photo for a guided model.

    Raises:
        HintError: a hint outside the photo, a bad hint image or reference.
    """
    check_pixels(pixels)
    height, width = pixels.shape[:2]
    scale = size / max(height, width)
    content = (max(1, round(height * scale)), max(1, round(width * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(pixels, (content[1], content[0]), interpolation=interpolation)
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    lightness = lightness_of(small)[None]  # (1, h, w)
    pad_h, pad_w = size - content[0], size - content[1]
    if pad_h or pad_w:
        mode = "reflect" if pad_h < content[0] and pad_w < content[1] else "replicate"
        lightness = F.pad(lightness[None], (0, pad_w, 0, pad_h), mode=mode)[0]
    if not hints:
        return ModelInput(lightness=lightness, content=content)
    hint_tensor = None
    if hints.points or hints.image is not None:
        hint_tensor = hint_map(hints, pixels, lightness, content)
    reference = None if hints.reference is None else reference_features(hints.reference)
    return ModelInput(lightness=lightness, content=content, hints=hint_tensor, reference=reference)


def as_hints(
    hints: Hints | Sequence[HintPoint | tuple[float, float, object]] | np.ndarray | None,
    reference: np.ndarray | None = None,
) -> Hints:
    """Normalise the ``hints=`` / ``reference=`` arguments of :meth:`Colorizer.colorize`.

    Raises:
        HintError: a point that is not ``(x, y, colour)`` or an unknown colour.
    """
    if isinstance(hints, Hints):
        result = Hints(list(hints.points), hints.image, hints.reference)
    elif isinstance(hints, np.ndarray):
        result = Hints(image=hints)
    else:
        result = Hints()
        for item in hints or []:
            if isinstance(item, HintPoint):
                result.points.append(item)
                continue
            try:
                x, y, colour = item
            except (TypeError, ValueError):
                raise HintError(f"a hint must be (x, y, colour), got {item!r}") from None
            if isinstance(colour, str):
                rgb = parse_colour(colour)
            else:
                try:
                    values = [int(c) for c in colour]  # type: ignore[attr-defined]
                except TypeError:
                    raise HintError(f"unknown colour {colour!r} in hint {item!r}") from None
                if len(values) != 3 or not all(0 <= c <= 255 for c in values):
                    raise HintError(f"colour {colour!r} must be 3 values in 0-255")
                rgb = (values[0], values[1], values[2])
            relative = isinstance(x, float) and isinstance(y, float) and x <= 1 and y <= 1
            result.points.append(
                HintPoint(float(x), float(y), rgb, relative=relative, text=f"{x},{y}={colour}")
            )
    if reference is not None:
        result.reference = reference
    return result
