"""Tests of colorcli.data.transforms: geometry only, never colour; Lab conversion of samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_images import colour_array

from colorcli.color import rgb_to_lab
from colorcli.data.transforms import (
    SquareTransform,
    center_crop,
    lab8_to_sample,
    random_resized_crop,
    rgb8_to_sample,
)


def test_center_crop_keeps_the_middle() -> None:
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[:, 10:50] = 200
    assert (center_crop(image, 20) == 200).all()
    assert center_crop(image, 80).shape == (80, 80, 3)  # enlarging works too


def test_random_crop_is_seeded_square_and_keeps_colours() -> None:
    image = np.zeros((30, 50, 3), dtype=np.uint8)
    image[...] = (12, 200, 77)
    crop = random_resized_crop(image, 16, np.random.default_rng(0))
    assert crop.shape == (16, 16, 3)
    assert (crop == (12, 200, 77)).all()  # a flat colour stays exactly that colour
    varied = colour_array(40, 50)
    first = random_resized_crop(varied, 16, np.random.default_rng(3))
    second = random_resized_crop(varied, 16, np.random.default_rng(3))
    assert np.array_equal(first, second)


def test_crop_values_stay_within_source_range() -> None:
    image = colour_array(8, 8)
    out = SquareTransform(32)(image, np.random.default_rng(1))  # enlarging, bilinear
    for channel in range(3):
        assert image[..., channel].min() <= out[..., channel].min()
        assert out[..., channel].max() <= image[..., channel].max()


def test_transform_flips_sometimes_and_eval_is_fixed() -> None:
    image = colour_array(16, 16)
    full = SquareTransform(16, scale=(1.0, 1.0))
    outs = [full(image, np.random.default_rng(seed)) for seed in range(8)]
    assert any(np.array_equal(out, image) for out in outs)
    assert any(np.array_equal(out, image[:, ::-1]) for out in outs)
    fixed = SquareTransform(16, augment=False)
    assert np.array_equal(fixed(image, np.random.default_rng(0)), image)
    assert fixed.min_source_side == 16 and full.min_source_side == 16
    assert SquareTransform(100).min_source_side == 142


def test_transform_validates() -> None:
    with pytest.raises(ValueError, match="size must be a positive"):
        SquareTransform(0)
    with pytest.raises(ValueError, match="scale must satisfy"):
        SquareTransform(8, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 array, got \(4, 4\) uint8"):
        center_crop(np.zeros((4, 4), dtype=np.uint8), 2)


def test_rgb8_to_sample_matches_rgb_to_lab() -> None:
    image = colour_array(6, 6)
    sample = rgb8_to_sample(image, include_rgb=True)
    rgb = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    lab = rgb_to_lab(rgb)
    assert torch.allclose(sample["lightness"], lab[:1])
    assert torch.allclose(sample["ab"], lab[1:])
    assert torch.equal(sample["rgb"], rgb)
    assert "rgb" not in rgb8_to_sample(image)


def test_lab8_to_sample_scaling() -> None:
    lab8 = np.zeros((2, 2, 3), dtype=np.uint8)
    lab8[0, 0] = (255, 128, 128)  # white
    lab8[1, 1] = (0, 0, 255)
    sample = lab8_to_sample(lab8, include_rgb=True)
    assert sample["lightness"][0, 0, 0] == 100.0 and sample["lightness"][0, 1, 1] == 0.0
    assert sample["ab"][:, 0, 0].tolist() == [0.0, 0.0]
    assert sample["ab"][:, 1, 1].tolist() == [-128.0, 127.0]
    assert torch.allclose(sample["rgb"][:, 0, 0], torch.ones(3), atol=1e-4)
