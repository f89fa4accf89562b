"""Fixtures for CLI tests: a tiny random checkpoint and a folder of small images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.models import get_model


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A random-weight ``unet`` small enough to run instantly (ab is non-zero)."""
    torch.manual_seed(0)
    model = get_model("unet", width=4, depth=2)
    with torch.no_grad():
        model.head.conv.bias.copy_(torch.tensor([0.2, 0.3]))
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, checkpoint_from_model(model, training={"note": "random weights"}))
    return path


def make_gray_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth grayscale test picture (gradient plus noise), mode L."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 200, width)[None, :] + np.linspace(0, 50, height)[:, None]
    pixels = np.clip(x + rng.normal(0, 5, (height, width)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Three small gray photos (jpg, png, jpg) in ``photos/``."""
    folder = tmp_path / "photos"
    folder.mkdir()
    make_gray_image(40, 30, 1).save(folder / "a.jpg", quality=90)
    make_gray_image(33, 47, 2).save(folder / "b.png")
    make_gray_image(64, 48, 3).convert("RGB").save(folder / "c.jpg", quality=90)
    return folder


@pytest.fixture(name="gray_image")
def gray_image_factory():
    """The :func:`make_gray_image` factory."""
    return make_gray_image
