"""colorcli.color: smoke, shapes, bad input, reference values, round trip, gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from colorcli.color import (
    AB_LIMIT,
    LabToRgb,
    RgbToLab,
    gray_lab,
    lab_to_rgb,
    rgb_to_lab,
    rgb_to_lightness,
)


def _to_hwc(t: torch.Tensor) -> np.ndarray:
    return t.movedim(-3, -1).numpy()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rgb_to_lab_matches_scikit_image(dtype: torch.dtype) -> None:
    rgb = torch.rand(2, 3, 13, 17, dtype=torch.float64)
    reference = rgb2lab(_to_hwc(rgb))
    ours = _to_hwc(rgb_to_lab(rgb.to(dtype)).double())
    tolerance = 1e-3 if dtype == torch.float32 else 1e-9
    assert np.abs(ours - reference).max() < tolerance


def test_lab_to_rgb_matches_scikit_image() -> None:
    lab = rgb_to_lab(torch.rand(1, 3, 9, 11, dtype=torch.float64))
    reference = lab2rgb(_to_hwc(lab))
    assert np.abs(_to_hwc(lab_to_rgb(lab)) - reference).max() < 1e-6


def test_known_values() -> None:
    white = torch.ones(3, 1, 1, dtype=torch.float64)
    black = torch.zeros(3, 1, 1, dtype=torch.float64)
    # the rounded sRGB matrix leaves white at ab ≈ 0.005, as in scikit-image
    assert torch.allclose(
        rgb_to_lab(white).flatten(), torch.tensor([100.0, 0, 0]).double(), atol=1e-2
    )
    assert torch.allclose(rgb_to_lab(black).flatten(), torch.zeros(3).double(), atol=1e-6)
    red = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).view(3, 1, 1)
    # CIELAB of sRGB red (D65), as tabulated by scikit-image / Bruce Lindbloom
    assert torch.allclose(
        rgb_to_lab(red).flatten(), torch.tensor([53.2408, 80.0925, 67.2032]).double(), atol=1e-3
    )


@pytest.mark.parametrize("shape", [(3, 5, 7), (4, 3, 5, 7), (2, 2, 3, 4, 4)])
def test_shapes_batched_and_unbatched(shape: tuple[int, ...]) -> None:
    rgb = torch.rand(shape)
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape
    assert lab_to_rgb(lab).shape == rgb.shape
    assert rgb_to_lightness(rgb).shape == (*shape[:-3], 1, *shape[-2:])


def test_round_trip_in_gamut() -> None:
    rgb = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-10)


def test_lightness_equals_lab_l() -> None:
    rgb = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    assert torch.allclose(rgb_to_lightness(rgb)[:, 0], rgb_to_lab(rgb)[:, 0], atol=1e-10)


def test_ab_is_clamped_before_conversion() -> None:
    lab = torch.tensor([50.0, 500.0, -500.0]).view(3, 1, 1)
    clamped = torch.tensor([50.0, AB_LIMIT, -AB_LIMIT]).view(3, 1, 1)
    assert torch.equal(lab_to_rgb(lab), lab_to_rgb(clamped))
    assert lab_to_rgb(lab).min() >= 0 and lab_to_rgb(lab).max() <= 1


def test_gray_lab_has_zero_ab_and_gives_gray_rgb() -> None:
    lightness = torch.rand(2, 1, 4, 4) * 100
    lab = gray_lab(lightness)
    assert lab.shape == (2, 3, 4, 4)
    rgb = lab_to_rgb(lab)
    # neutral to within the D65 white point's rounding (≈1e-4, far below one 8-bit level)
    assert torch.allclose(rgb[:, 0], rgb[:, 1], atol=5e-4)
    assert torch.allclose(rgb[:, 1], rgb[:, 2], atol=5e-4)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (torch.rand(4, 4), ValueError),
        (torch.rand(2, 4, 4, 4), ValueError),
        (torch.randint(0, 255, (3, 4, 4)), TypeError),
        (np.zeros((3, 4, 4)), TypeError),
    ],
)
def test_bad_input(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"shape|floating|Tensor"):
        rgb_to_lab(bad)  # type: ignore[arg-type]
    with pytest.raises(error):
        lab_to_rgb(bad)  # type: ignore[arg-type]


def test_modules_match_functions() -> None:
    rgb = torch.rand(1, 3, 4, 4)
    assert torch.equal(RgbToLab()(rgb), rgb_to_lab(rgb))
    assert torch.equal(LabToRgb()(rgb_to_lab(rgb)), lab_to_rgb(rgb_to_lab(rgb)))


def test_gradcheck() -> None:
    rgb = (torch.rand(1, 3, 3, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb,))
    lab = rgb_to_lab(rgb.detach()).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: lab_to_rgb(x, clip=False), (lab,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    rgb = torch.rand(2, 3, 8, 8)
    assert torch.allclose(rgb_to_lab(rgb.cuda()).cpu(), rgb_to_lab(rgb), atol=1e-4)
