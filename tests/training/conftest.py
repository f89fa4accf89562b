"""Tiny synthetic data sets for the training tests: image folder, LAB .npy, CIFAR-10 pickles."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from colorcli.training import TrainConfig


def colourful_images(count: int, side: int, seed: int = 0) -> np.ndarray:
    """``(count, side, side, 3)`` uint8 images: smooth gradients between random vivid colours."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, side)[None, :, None]
    images = []
    for _ in range(count):
        start, end = rng.integers(0, 256, size=(2, 3))
        image = start + (end - start) * ramp
        image = np.repeat(image, side, axis=0)
        image = image + rng.normal(0, 8, size=image.shape)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(images)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """``train/`` (8 images) + ``val/`` (4 images) of 24×24 PNGs."""
    root = tmp_path / "photos"
    for split, count, seed in (("train", 8, 1), ("val", 4, 2)):
        (root / split).mkdir(parents=True)
        for index, pixels in enumerate(colourful_images(count, 24, seed)):
            Image.fromarray(pixels).save(root / split / f"{index:02d}.png")
    return root


@pytest.fixture
def npy_folder(tmp_path: Path) -> Path:
    """Kaggle layout: ``l/gray_scale.npy`` ``(12, 16, 16)`` + ``ab/ab1.npy`` ``(12, 16, 16, 2)``."""
    import cv2

    root = tmp_path / "lab"
    (root / "l").mkdir(parents=True)
    (root / "ab").mkdir()
    lab = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2LAB) for image in colourful_images(12, 16)])
    np.save(root / "l" / "gray_scale.npy", np.ascontiguousarray(lab[..., 0]))
    np.save(root / "ab" / "ab1.npy", np.ascontiguousarray(lab[..., 1:]))
    return root


@pytest.fixture
def cifar_folder(tmp_path: Path) -> Path:
    """CIFAR-10 python batches: ``data_batch_1`` (8 images) and ``test_batch`` (4)."""
    root = tmp_path / "cifar"
    root.mkdir()
    for name, count, seed in (("data_batch_1", 8, 3), ("test_batch", 4, 4)):
        images = colourful_images(count, 32, seed)
        batch = {
            b"data": images.transpose(0, 3, 1, 2).reshape(count, -1),
            b"labels": [7 if i % 2 else 3 for i in range(count)],  # horse, cat
        }
        with (root / name).open("wb") as stream:
            pickle.dump(batch, stream, protocol=2)
    return root


def _fast_config(out: Path, data: Path | None, **overrides: Any) -> TrainConfig:
    """A 2-step CPU run: tiny model, 16-px crops, batch 4, no workers."""
    settings: dict[str, Any] = {
        "arch": "tiny",
        "width": 4,
        "data": None if data is None else str(data),
        "size": 16,
        "batch_size": 4,
        "epochs": 1,
        "workers": 0,
        "device": "cpu",
        "val_limit": 4,
        "samples": 4,
        "palette_pixels": 2000,
        "log_every": 1,
        "out": str(out),
        "limit": 8,
    }
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture
def fast_config() -> Any:
    """Factory ``fast_config(out, data, **overrides) -> TrainConfig`` for 2-step CPU runs."""
    return _fast_config
