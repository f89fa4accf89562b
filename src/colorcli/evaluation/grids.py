"""Comparison pictures of an evaluation: ``gray | model… | original`` side by side, labelled."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorcli.errors import ImageError
from colorcli.imageio import write_image

__all__ = ["SAMPLE_LABEL_HEIGHT", "SAMPLE_TILE_MAX", "sample_grid", "write_sample_grid"]

SAMPLE_TILE_MAX = 512
"""Longest side of one tile of a sample grid; larger evaluated images are shrunk for the grid."""

SAMPLE_LABEL_HEIGHT = 16
"""Height in pixels of the label strip above each tile of a sample grid."""


def sample_grid(tiles: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Tiles side by side, each under a label: ``gray | model… | original``.

    Args:
        tiles: ``(label, image)`` pairs; images ``(H, W, 3)`` uint8 or uint16 of one size.
            Tiles whose long side exceeds :data:`SAMPLE_TILE_MAX` are shrunk (area filter).

    Returns:
        ``(SAMPLE_LABEL_HEIGHT + h, len(tiles) * w, 3)`` uint8 (white labels on black,
        Pillow's default font, cut with "…" to fit).
    """
    if not tiles:
        raise ValueError("sample_grid needs at least one tile")
    shapes = {image.shape for _, image in tiles}
    if len(shapes) != 1:
        raise ValueError(f"sample_grid tiles must share one shape, got {sorted(shapes)}")
    height, width = tiles[0][1].shape[:2]
    scale = min(1.0, SAMPLE_TILE_MAX / max(height, width))
    tile_h, tile_w = max(1, round(height * scale)), max(1, round(width * scale))
    canvas = Image.new("RGB", (tile_w * len(tiles), SAMPLE_LABEL_HEIGHT + tile_h))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for index, (label, image) in enumerate(tiles):
        pixels = _to_uint8(image)
        if (tile_h, tile_w) != (height, width):
            pixels = cv2.resize(pixels, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        canvas.paste(Image.fromarray(pixels), (index * tile_w, SAMPLE_LABEL_HEIGHT))
        text = _fit_label(draw, font, label, tile_w - 4)
        draw.text((index * tile_w + 2, 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas).copy()


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return np.rint(pixels.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    return np.ascontiguousarray(pixels)


def _fit_label(draw: ImageDraw.ImageDraw, font: Any, label: str, width: int) -> str:
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength(label + "…", font=font) > width:
        label = label[1:]  # keep the end: for checkpoint paths the file name matters most
    return "…" + label


def write_sample_grid(
    folder: Path, image: str, tiles: Sequence[tuple[str, np.ndarray]], used: set[str]
) -> Path:
    """Write the :func:`sample_grid` of ``tiles`` for ``image`` under ``folder``, as PNG.

    The grid mirrors the image's relative path (``a/b.jpg`` -> ``folder/a/b.png``); when two
    images would share a grid name (``b.jpg`` and ``b.png``), the later one keeps its suffix
    (``b.png.png``). An existing grid is replaced.

    Args:
        folder: where the grids go.
        image: the image's name relative to the data root.
        tiles: ``(label, image)`` pairs, as for :func:`sample_grid`.
        used: grid names taken so far in this run; updated.

    Returns:
        The path written.

    Raises:
        ImageError: the folder cannot be created or the grid cannot be written.
    """
    path = _sample_path(folder, image, used)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageError(f"{path.parent}: cannot create: {error.strerror or error}") from None
    write_image(path, sample_grid(tiles), overwrite=True)
    return path


def _sample_path(folder: Path, image: str, used: set[str]) -> Path:
    relative = Path(image).with_suffix(".png")
    if relative.as_posix() in used:
        relative = Path(image + ".png")
    used.add(relative.as_posix())
    return folder / relative
