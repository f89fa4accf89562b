"""Inputs the tests make for themselves: a tiny random checkpoint, gray pictures, training data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorcli.checkpoint import checkpoint_from_model, save_checkpoint
from colorcli.models import get_model


def save_tiny_checkpoint(path: Path) -> Path:
    """A random-weight ``unet`` (width 4, depth 2) whose head bias makes the ab non-zero."""
    torch.manual_seed(0)
    model = get_model("unet", width=4, depth=2)
    with torch.no_grad():
        model.head.conv.bias.copy_(torch.tensor([0.2, 0.3]))
    save_checkpoint(path, checkpoint_from_model(model, training={"note": "random weights"}))
    return path


def gray_picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth grayscale picture (gradient plus noise), mode L."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width)[None, :] + np.linspace(0, 50, height)[:, None]
    pixels = np.clip(ramp + rng.normal(0, 5, (height, width)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def save_noise_photos(root: Path, *, train: int, val: int) -> Path:
    """``train/`` and ``val/`` under ``root`` holding this many 24×24 random colour PNGs."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        (root / split).mkdir(parents=True)
        for index in range(count):
            pixels = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / split / f"{index:02d}.png")
    return root


def tiny_run_flags(*, batch_size: int) -> list[str]:
    """``colorcli train`` flags of a one-epoch, 16-pixel CPU run that logs every step."""
    return [
        *("--size", "16", "--batch-size", str(batch_size), "--epochs", "1", "--workers", "0"),
        *("--device", "cpu", "--val-limit", "4", "--log-every", "1"),
    ]
