"""Tests of colorcli.data.sampling.palette_samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from colorcli.data import ArrayDataset, open_dataset, palette_samples


def test_palette_samples_shape_and_seed(photo_folder: Path) -> None:
    train = open_dataset(photo_folder, size=8, val_split=0.0).train
    pixels = palette_samples(train, 100, seed=0)
    assert pixels.shape == (100, 2) and pixels.dtype == torch.float32
    assert torch.equal(pixels, palette_samples(train, 100, seed=0))
    assert not torch.equal(pixels, palette_samples(train, 100, seed=1))
    assert palette_samples(train, 10_000, seed=0).shape == (7 * 64, 2)  # all there is


def test_palette_samples_are_the_images_colours() -> None:
    images = np.zeros((4, 6, 6, 3), dtype=np.uint8)
    images[:2] = (255, 0, 0)
    images[2:] = (0, 0, 255)
    dataset = ArrayDataset(images, 6, augment=False)
    pixels = palette_samples(dataset, 40, seed=0, max_images=3)
    red, blue = dataset[0]["ab"][:, 0, 0], dataset[3]["ab"][:, 0, 0]
    is_red = torch.isclose(pixels, red).all(dim=1)
    is_blue = torch.isclose(pixels, blue).all(dim=1)
    assert (is_red | is_blue).all()


def test_palette_samples_rejects_nonsense() -> None:
    dataset = ArrayDataset(np.zeros((0, 4, 4, 3), dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="empty data set"):
        palette_samples(dataset, 10)
    with pytest.raises(ValueError, match="n_pixels and max_images must be >= 1"):
        palette_samples(dataset, 0)
