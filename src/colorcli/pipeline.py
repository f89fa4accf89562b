"""Colourize images at full resolution: small L into the model, ab upsampled and joined to full L.

Following richzhang/colorization's demo: the model sees L resized so its long side
is ``size`` (reflect-padded to a square so any mix of image sizes batches
together); the predicted ab is upsampled bilinearly to the original size, clamped,
scaled by ``saturation`` and joined to the original full-resolution L. The join
runs in horizontal strips, so memory beyond the input and output arrays stays
bounded whatever the image size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from colorcli.color import AB_LIMIT, lab_to_rgb, rgb_to_lightness
from colorcli.models import ColorModel

DEFAULT_SIZE = 256
STRIP_PIXELS = 2_000_000
"""Pixels per strip of the full-resolution join (bounds its temporary memory)."""


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


def _max_value(pixels: np.ndarray) -> float:
    return 65535.0 if pixels.dtype == np.uint16 else 255.0


def _to_float_rgb(pixels: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8/uint16 -> ``(3, H, W)`` float32 in [0, 1]."""
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(
            f"pixels must be (H, W, 3) uint8 or uint16, got {pixels.shape} {pixels.dtype}"
        )
    scale = 1.0 / _max_value(pixels)
    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)
    return tensor.to(torch.float32).mul_(scale)


def prepare_input(pixels: np.ndarray, size: int = DEFAULT_SIZE) -> ModelInput:
    """Resize ``pixels (H, W, 3)`` so the long side is ``size``; return its L, padded square."""
    height, width = pixels.shape[:2]
    scale = size / max(height, width)
    content = (max(1, round(height * scale)), max(1, round(width * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(pixels, (content[1], content[0]), interpolation=interpolation)
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    lightness = rgb_to_lightness(_to_float_rgb(small))
    pad_h, pad_w = size - content[0], size - content[1]
    if pad_h or pad_w:
        mode = "reflect" if pad_h < content[0] and pad_w < content[1] else "replicate"
        lightness = F.pad(lightness[None], (0, pad_w, 0, pad_h), mode=mode)[0]
    return ModelInput(lightness=lightness, content=content)


@torch.inference_mode()
def predict_ab(
    model: ColorModel,
    inputs: Sequence[ModelInput],
    *,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> list[Tensor]:
    """Run the model on a batch; return each image's ab ``(2, h, w)`` (its content only, CPU)."""
    batch = torch.stack([item.lightness for item in inputs]).to(device)
    if device.type == "cuda":
        batch = batch.contiguous(memory_format=torch.channels_last)
    if autocast_dtype is not None and device.type != "cpu":
        with torch.autocast(device.type, dtype=autocast_dtype):
            ab = model.predict_ab(batch)
    else:
        ab = model.predict_ab(batch)
    ab = ab.float().clamp_(-AB_LIMIT, AB_LIMIT).cpu()
    return [ab[i, :, : item.content[0], : item.content[1]] for i, item in enumerate(inputs)]


def _strip_grid(rows: range, height: int, width: int) -> Tensor:
    """grid_sample grid ``(1, len(rows), W, 2)`` reproducing bilinear (align_corners=False)."""
    ys = (torch.tensor(rows, dtype=torch.float32) + 0.5) * (2.0 / height) - 1.0
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * (2.0 / width) - 1.0
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y), dim=-1)[None]


def join_full_resolution(
    pixels: np.ndarray,
    ab: Tensor,
    *,
    saturation: float = 1.0,
    device: torch.device | None = None,
) -> np.ndarray:
    """Join predicted ab to the L of the original image at full resolution.

    Args:
        pixels: original image ``(H, W, 3)`` uint8 or uint16 (sRGB); only its L is used.
        ab: predicted ab ``(2, h, w)`` in Lab units, any small size.
        saturation: factor applied to ab (1 = as predicted, 0 = gray).
        device: where to do the maths (CPU by default).

    Returns:
        Colour image ``(H, W, 3)`` of the same dtype as ``pixels``.
    """
    device = device or torch.device("cpu")
    height, width = pixels.shape[:2]
    max_value = _max_value(pixels)
    output = np.empty_like(pixels)
    ab_map = (ab.float() * saturation).clamp(-AB_LIMIT, AB_LIMIT)[None].to(device)
    rows_per_strip = max(1, STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows_per_strip):
        rows = range(top, min(height, top + rows_per_strip))
        rgb = _to_float_rgb(pixels[rows.start : rows.stop]).to(device)
        lightness = rgb_to_lightness(rgb)
        grid = _strip_grid(rows, height, width).to(device)
        ab_strip = F.grid_sample(
            ab_map, grid, mode="bilinear", padding_mode="border", align_corners=False
        )[0]
        colour = lab_to_rgb(torch.cat((lightness, ab_strip), dim=0))
        quantised = colour.mul_(max_value).round_().clamp_(0, max_value)
        target_dtype = torch.int32 if pixels.dtype == np.uint16 else torch.uint8
        strip = quantised.to(target_dtype).permute(1, 2, 0).cpu().numpy()
        output[rows.start : rows.stop] = strip.astype(pixels.dtype, copy=False)
    return output


class Colorizer:
    """A loaded model plus inference settings; colourizes batches of full-size images.

    Args:
        model: a :class:`ColorModel` (moved to ``device`` and put in eval mode).
        device: compute device.
        size: inference size (long side of the L the model sees).
        saturation: factor applied to predicted ab.
        half: run the model in fp16/bf16 autocast on CUDA/MPS (ignored on CPU).
    """

    def __init__(
        self,
        model: ColorModel,
        *,
        device: torch.device | None = None,
        size: int = DEFAULT_SIZE,
        saturation: float = 1.0,
        half: bool = False,
    ) -> None:
        if size < 8:
            raise ValueError(f"inference size must be at least 8, got {size}")
        if saturation < 0:
            raise ValueError(f"saturation must be >= 0, got {saturation}")
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device).eval()
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        multiple = model.body.size_multiple
        self.size = max(multiple, (size + multiple - 1) // multiple * multiple)
        self.saturation = saturation
        self.autocast_dtype: torch.dtype | None = None
        if half and self.device.type == "cuda":
            self.autocast_dtype = (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            )
        elif half and self.device.type == "mps":
            self.autocast_dtype = torch.float16

    def colorize_many(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colourize ``(H, W, 3)`` uint8/uint16 images (any sizes) in one model batch."""
        if not images:
            return []
        inputs = [prepare_input(pixels, self.size) for pixels in images]
        abs_ = predict_ab(
            self.model, inputs, device=self.device, autocast_dtype=self.autocast_dtype
        )
        return [
            join_full_resolution(pixels, ab, saturation=self.saturation, device=self.device)
            for pixels, ab in zip(images, abs_, strict=True)
        ]

    def colorize(self, pixels: np.ndarray) -> np.ndarray:
        """Colourize one ``(H, W, 3)`` uint8/uint16 image; same shape and dtype out."""
        return self.colorize_many([pixels])[0]
