"""Fixtures of the data tests: tiny colour, grayscale and broken image files made on the spot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from data_images import colour_array
from PIL import Image

WriteImage = Callable[..., Path]


@pytest.fixture
def write_image() -> WriteImage:
    """``write_image(path, array=None, *, mode=None, seed=0)`` saves a tiny image, makes parents."""

    def write(
        path: Path, array: np.ndarray | None = None, *, mode: str | None = None, seed: int = 0
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(colour_array(seed=seed) if array is None else array)
        if mode is not None:
            image = image.convert(mode)
        image.save(path)
        return path

    return write


@pytest.fixture
def photo_folder(tmp_path: Path, write_image: WriteImage) -> Path:
    """Nested folder: 7 colour images (PNG, JPEG, WebP, BMP, TIFF), 2 grayscale, 1 broken.

    Also a text file and a hidden image, both ignored.
    """
    root = tmp_path / "photos"
    write_image(root / "a.png", seed=1)
    write_image(root / "b.jpg", seed=2)
    write_image(root / "sub" / "c.PNG", seed=3)
    write_image(root / "sub" / "deeper" / "d.jpeg", seed=4)
    write_image(root / "sub" / "e.webp", seed=5)
    write_image(root / "f.bmp", seed=6)
    write_image(root / "g.tiff", seed=7)
    write_image(root / "gray_mode_l.png", mode="L", seed=8)
    gray = np.repeat(colour_array(seed=9)[..., :1], 3, axis=2)
    write_image(root / "sub" / "gray_rgb.jpg", gray)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    (root / "notes.txt").write_text("not an image")
    write_image(root / ".hidden.png", seed=10)
    return root
