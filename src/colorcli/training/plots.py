"""Pictures of a run drawn with PIL: the loss curve and the per-epoch sample grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from colorcli.atomic import atomic_write
from colorcli.color import lab_to_rgb
from colorcli.errors import TrainingError

TRAIN_COLOUR = (31, 119, 180)
VAL_COLOUR = (255, 127, 14)
_GRID_ROWS = ("gray", "pred", "true")
_MIN_CELL = 64


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-6:
        ticks.append(value)
        value += step
    return ticks


def _format(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or abs(value) < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}"


def loss_curve_image(
    epochs: Sequence[float],
    train_loss: Sequence[float | None],
    val_loss: Sequence[float | None],
    *,
    title: str = "loss",
    size: tuple[int, int] = (720, 440),
) -> Image.Image:
    """Line chart of train and val loss against (possibly fractional) epochs.

    Args:
        epochs: x values, one per record.
        train_loss: y values of the train curve (None where missing).
        val_loss: y values of the val curve (None where missing).
        title: text above the chart.
        size: image size in pixels.

    Returns:
        An RGB image with axes, ticks, both curves with point markers and a legend.
    """
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(16), _font(12)
    left, right, top, bottom = 72, 20, 40, 56
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    series = [
        ("train loss", TRAIN_COLOUR, list(train_loss)),
        ("val loss", VAL_COLOUR, list(val_loss)),
    ]
    values = [
        float(v) for _, _, ys in series for v in ys if v is not None and math.isfinite(float(v))
    ]
    xs = [float(x) for x in epochs]
    draw.text((left, 10), title, fill="black", font=font)
    draw.rectangle((x0, y0, x1, y1), outline="black")
    draw.text(((x0 + x1) // 2 - 20, height - 24), "epoch", fill="black", font=small)
    if not values or not xs:
        draw.text((x0 + 10, y0 + 10), "no data yet", fill="gray", font=small)
        return image
    y_low, y_high = min(values), max(values)
    pad = (y_high - y_low) * 0.08 or abs(y_high) * 0.1 or 1.0
    y_low, y_high = y_low - pad, y_high + pad
    x_low, x_high = min(0.0, min(xs)), max(xs)
    if x_high <= x_low:
        x_high = x_low + 1.0
    x_high += (x_high - x_low) * 0.03  # keep the last point off the frame

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        px = x0 + (x - x_low) / (x_high - x_low) * (x1 - x0)
        py = y1 - (y - y_low) / (y_high - y_low) * (y1 - y0)
        return px, py

    for tick in _nice_ticks(y_low, y_high):
        _, py = to_pixel(x_low, tick)
        draw.line((x0, py, x1, py), fill=(230, 230, 230))
        draw.line((x0 - 5, py, x0, py), fill="black")
        label = _format(tick)
        text_width = draw.textlength(label, font=small)
        draw.text((x0 - 8 - text_width, py - 7), label, fill="black", font=small)
    for tick in _nice_ticks(x_low, x_high, count=min(8, int(x_high - x_low) + 2)):
        px, _ = to_pixel(tick, y_low)
        draw.line((px, y1, px, y1 + 5), fill="black")
        label = _format(tick)
        text_width = draw.textlength(label, font=small)
        draw.text((px - text_width / 2, y1 + 8), label, fill="black", font=small)
    for name_index, (_, colour, ys) in enumerate(series):
        points = [
            to_pixel(x, float(y))
            for x, y in zip(xs, ys, strict=True)
            if y is not None and math.isfinite(float(y))
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
        legend_y = y0 + 8 + 18 * name_index
        draw.line((x1 - 120, legend_y + 7, x1 - 96, legend_y + 7), fill=colour, width=3)
        draw.text((x1 - 90, legend_y), series[name_index][0], fill="black", font=small)
    return image


def _to_uint8(rgb: Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` in [0, 1] -> ``(N, H, W, 3)`` uint8."""
    values = (rgb.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return values.permute(0, 2, 3, 1).cpu().numpy()


def sample_grid_image(lightness: Tensor, pred_ab: Tensor, true_ab: Tensor) -> Image.Image:
    """Rows: gray input, prediction and ground truth; one column per image.

    Args:
        lightness: ``(N, 1, H, W)`` L in [0, 100].
        pred_ab: ``(N, 2, H, W)`` predicted ab in Lab units.
        true_ab: ``(N, 2, H, W)`` true ab in Lab units.

    Returns:
        An RGB image; cells are enlarged (nearest neighbour) to at least 64 pixels.
    """
    if lightness.dim() != 4 or lightness.shape[1] != 1:
        raise ValueError(f"lightness must have shape (N, 1, H, W), got {tuple(lightness.shape)}")
    for name, ab in (("pred_ab", pred_ab), ("true_ab", true_ab)):
        if ab.shape != (lightness.shape[0], 2, *lightness.shape[-2:]):
            raise ValueError(
                f"{name} must have shape {(lightness.shape[0], 2, *lightness.shape[-2:])}, "
                f"got {tuple(ab.shape)}"
            )
    count, _, height, width = lightness.shape
    scale = max(1, math.ceil(_MIN_CELL / min(height, width)))
    cell_h, cell_w = height * scale, width * scale
    rows = [
        lab_to_rgb(torch.cat((lightness, torch.zeros_like(true_ab)), dim=1)),
        lab_to_rgb(torch.cat((lightness, pred_ab.to(lightness)), dim=1), keep_lightness=True),
        lab_to_rgb(torch.cat((lightness, true_ab.to(lightness)), dim=1)),
    ]
    if scale > 1:
        rows = [F.interpolate(row, scale_factor=scale, mode="nearest") for row in rows]
    label_width, gap = 44, 2
    grid = Image.new(
        "RGB",
        (label_width + count * (cell_w + gap), len(rows) * (cell_h + gap)),
        "white",
    )
    draw = ImageDraw.Draw(grid)
    font = _font(12)
    for row_index, (name, row) in enumerate(zip(_GRID_ROWS, rows, strict=True)):
        top = row_index * (cell_h + gap)
        draw.text((4, top + cell_h // 2 - 7), name, fill="black", font=font)
        for column, pixels in enumerate(_to_uint8(row)):
            grid.paste(Image.fromarray(pixels), (label_width + column * (cell_w + gap), top))
    return grid


def save_image(image: Image.Image, path: str | Path) -> None:
    """Write ``image`` as PNG atomically, so readers never see half a picture.

    Raises:
        TrainingError: the file cannot be written (disk full, read-only folder, …).
    """
    try:
        atomic_write(path, lambda stream: image.save(stream, format="PNG"))
    except OSError as error:
        raise TrainingError(f"{path}: cannot write: {error.strerror or error}") from None
