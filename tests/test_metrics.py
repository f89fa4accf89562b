"""Tests for colorcli.metrics: hand-computed cases, scikit-image references, shapes, bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from colorcli.color import rgb_to_lab
from colorcli.metrics import (
    METRICS,
    PSNR_CAP_DB,
    accuracy,
    ciede2000,
    colorfulness,
    colorfulness_difference,
    compute_metrics,
    delta_colorfulness,
    deltae,
    imgsim,
    mean_and_ci95,
    mse_ab,
    psnr,
    ssim,
    ssim_l,
)

ALL = list(METRICS)
PAIR_METRICS = [imgsim, accuracy, mse_ab, psnr, ssim, ssim_l, deltae, colorfulness_difference]

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        ],
    ),
]

# Sharma, Wu & Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, ΔE00.
SHARMA_PAIRS = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def _pair(
    n: int = 2, h: int = 16, w: int = 20, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.rand(n, 3, h, w, dtype=dtype)
    pred = (target + 0.15 * torch.randn_like(target)).clamp(0.0, 1.0)
    return pred, target


def _levels(h: int = 12, w: int = 14, high: int = 246) -> torch.Tensor:
    """Random 8-bit levels 0..high-1 as a float64 image (1, 3, h, w)."""
    return torch.randint(0, high, (1, 3, h, w)).to(torch.float64)


# --------------------------------------------------------------------------- hand-computed


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_identical_images(dtype: torch.dtype) -> None:
    image = torch.rand(2, 3, 13, 17, dtype=dtype)
    values = compute_metrics(image, image.clone(), ALL)
    expected = {
        "imgsim": 1.0,
        "accuracy": 1.0,
        "mse_ab": 0.0,
        "psnr": PSNR_CAP_DB,
        "ssim": 1.0,
        "ssim_l": 1.0,
        "deltae": 0.0,
        "delta_cf": 0.0,
    }
    for name, value in expected.items():
        torch.testing.assert_close(values[name], torch.full((2,), value, dtype=torch.float64))


def test_constant_offset_gives_exact_pixel_metrics() -> None:
    levels = _levels()
    target = levels / 255.0
    pred = (levels + 10.0) / 255.0
    # |Δ| = 10 on every value: MAE = 10, MSE = 100.
    assert imgsim(pred, target).item() == pytest.approx(1.0 - 10.0 / 255.0, abs=1e-12)
    assert accuracy(pred, target).item() == pytest.approx((7500.0 - 100.0) / 7500.0, abs=1e-12)
    assert psnr(pred, target).item() == pytest.approx(10.0 * math.log10(255.0**2 / 100.0))


def test_black_against_white() -> None:
    black = torch.zeros(1, 3, 4, 4)
    white = torch.ones(1, 3, 4, 4)
    assert imgsim(black, white).item() == 0.0
    assert accuracy(black, white).item() == 0.0  # (7500 − 65025) / 7500 < 0, floored
    assert psnr(black, white).item() == pytest.approx(0.0, abs=1e-12)


def test_pixel_metrics_quantise_to_8_bit() -> None:
    levels = _levels()
    target = levels / 255.0
    pred = (levels + 0.3) / 255.0  # rounds back to the same 8-bit values
    assert imgsim(pred, target).item() == 1.0
    assert accuracy(pred, target).item() == 1.0
    assert psnr(pred, target).item() == PSNR_CAP_DB


def test_psnr_is_capped() -> None:
    target = torch.full((1, 3, 400, 400), 0.5)
    pred = target.clone()
    pred[0, 0, 0, 0] = 0.5 + 1.0 / 255.0  # MSE = 1 / 480000 → 107 dB uncapped
    assert psnr(pred, target).item() == PSNR_CAP_DB


def test_mse_ab_of_two_flat_colours() -> None:
    red = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 4, 5)
    gray = torch.full((1, 3, 4, 5), 0.5, dtype=torch.float64)
    ab_red = rgb_to_lab(red)[0, 1:, 0, 0]
    ab_gray = rgb_to_lab(gray)[0, 1:, 0, 0]
    expected = (((ab_red - ab_gray) / 128.0) ** 2).mean()
    torch.testing.assert_close(mse_ab(red, gray), expected.view(1))


def test_colorfulness_of_gray_is_zero() -> None:
    gray = torch.rand(2, 1, 9, 9).expand(2, 3, 9, 9)
    torch.testing.assert_close(colorfulness(gray), torch.zeros(2, dtype=torch.float64))


def test_colorfulness_of_two_pixels() -> None:
    # Pixels (255, 0, 0) and (0, 0, 255): rg = (255, 0), yb = (127.5, −255).
    image = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]]])
    var_rg = 127.5**2
    var_yb = 191.25**2
    mean_rg, mean_yb = 127.5, -63.75
    expected = math.sqrt(var_rg + var_yb) + 0.3 * math.sqrt(mean_rg**2 + mean_yb**2)
    assert colorfulness(image).item() == pytest.approx(expected, rel=1e-12)


def test_colorfulness_matches_numpy_formula() -> None:
    image = torch.rand(3, 3, 10, 12, dtype=torch.float64)
    for i in range(3):
        r, g, b = np.round(image[i].numpy() * 255.0)
        rg = r - g
        yb = 0.5 * (r + g) - b
        expected = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(
            rg.mean() ** 2 + yb.mean() ** 2
        )
        assert colorfulness(image)[i].item() == pytest.approx(expected, rel=1e-12)


def test_delta_colorfulness() -> None:
    assert delta_colorfulness(torch.tensor([10.0, 20.0]), [12.0, 30.0]) == pytest.approx(6.0)
    pred, target = _pair(n=4)
    difference = colorfulness_difference(pred, target)
    expected = delta_colorfulness(colorfulness(pred), colorfulness(target))
    value, low, high = METRICS["delta_cf"].summarize(difference)
    assert value == pytest.approx(expected, rel=1e-12)
    assert 0.0 <= low <= value <= high


def test_delta_cf_interval_folds_through_zero() -> None:
    value, low, high = METRICS["delta_cf"].summarize([-3.0, 1.0, -1.0, 2.0])
    assert value == pytest.approx(0.25)
    assert low == 0.0
    _, signed_low, signed_high = mean_and_ci95([-3.0, 1.0, -1.0, 2.0])
    assert high == pytest.approx(max(-signed_low, signed_high))
    value, low, high = METRICS["delta_cf"].summarize([-5.0, -5.5, -4.5])
    _, signed_low, signed_high = mean_and_ci95([-5.0, -5.5, -4.5])
    assert (value, low, high) == pytest.approx((5.0, -signed_high, -signed_low))


# --------------------------------------------------------------------------- CIEDE2000


def test_ciede2000_sharma_table() -> None:
    data = torch.tensor(SHARMA_PAIRS, dtype=torch.float64)
    lab1 = data[:, 0:3].view(-1, 3, 1, 1)
    lab2 = data[:, 3:6].view(-1, 3, 1, 1)
    expected = data[:, 6].view(-1, 1, 1)
    torch.testing.assert_close(ciede2000(lab1, lab2), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(ciede2000(lab2, lab1), expected, atol=1e-4, rtol=0)


def _hue_wrap_pairs() -> torch.Tensor:
    """Lab pairs around the 0°/360° hue seam, opposite hues and achromatic colours: (M, 6)."""
    pairs = []
    for small in (1e-4, 1e-3, 0.05, 0.5):
        for chroma in (0.5, 2.49, 30.0, 100.0):
            pairs.append((50.0, chroma, -small, 55.0, chroma, small))  # across 0°
            pairs.append((50.0, chroma, -small, 50.0, -chroma, small * 0.9))  # ≈ 180° apart
            pairs.append((40.0, -small, chroma, 60.0, small * 1.1, -chroma))  # 90° vs 270°
    pairs += [
        (50.0, 0.0, 0.0, 50.0, 0.0, 0.0),
        (50.0, 0.0, 0.0, 70.0, 0.0, 0.0),
        (50.0, 0.0, 0.0, 50.0, -20.0, 5.0),
        (30.0, 10.0, -10.0, 30.0, 0.0, 0.0),
    ]
    return torch.tensor(pairs, dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ciede2000_matches_skimage(dtype: torch.dtype) -> None:
    skimage_color = pytest.importorskip("skimage.color")
    generator = torch.Generator().manual_seed(1)
    random = torch.rand(500, 6, generator=generator, dtype=torch.float64)
    random[:, [0, 3]] *= 100.0
    random[:, [1, 2, 4, 5]] = random[:, [1, 2, 4, 5]] * 255.0 - 128.0
    pairs = torch.cat((random, _hue_wrap_pairs()))
    expected = skimage_color.deltaE_ciede2000(pairs[:, :3].numpy(), pairs[:, 3:].numpy())
    result = ciede2000(
        pairs[:, :3].to(dtype).view(-1, 3, 1, 1), pairs[:, 3:].to(dtype).view(-1, 3, 1, 1)
    )
    assert result.dtype == dtype
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    np.testing.assert_allclose(result.view(-1).double().numpy(), expected, atol=tolerance, rtol=0)


def test_deltae_matches_skimage() -> None:
    skimage_color = pytest.importorskip("skimage.color")
    pred, target = _pair(n=2, h=9, w=7)
    result = deltae(pred, target)
    for i in range(2):
        lab_pred = skimage_color.rgb2lab(pred[i].numpy(), channel_axis=0)
        lab_target = skimage_color.rgb2lab(target[i].numpy(), channel_axis=0)
        expected = skimage_color.deltaE_ciede2000(lab_pred, lab_target, channel_axis=0).mean()
        assert result[i].item() == pytest.approx(expected, abs=1e-4)


# --------------------------------------------------------------------------- SSIM and PSNR


def _skimage_ssim(x: np.ndarray, y: np.ndarray, channel_axis: int | None) -> float:
    skimage_metrics = pytest.importorskip("skimage.metrics")
    return float(
        skimage_metrics.structural_similarity(
            x,
            y,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=channel_axis,
        )
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [(11, 11), (23, 31)])
def test_ssim_matches_skimage(dtype: torch.dtype, size: tuple[int, int]) -> None:
    pred, target = _pair(n=2, h=size[0], w=size[1])
    result = ssim(pred.to(dtype), target.to(dtype))
    result_l = ssim_l(pred.to(dtype), target.to(dtype))
    skimage_color = pytest.importorskip("skimage.color")
    for i in range(2):
        expected = _skimage_ssim(pred[i].numpy(), target[i].numpy(), channel_axis=0)
        assert result[i].item() == pytest.approx(expected, abs=1e-4)
        light_pred = skimage_color.rgb2lab(pred[i].numpy(), channel_axis=0)[0] / 100.0
        light_target = skimage_color.rgb2lab(target[i].numpy(), channel_axis=0)[0] / 100.0
        expected_l = _skimage_ssim(light_pred, light_target, channel_axis=None)
        assert result_l[i].item() == pytest.approx(expected_l, abs=1e-4)


def test_ssim_needs_the_window_to_fit() -> None:
    pred, target = _pair(n=1, h=10, w=12)
    with pytest.raises(ValueError, match=r"at least 11x11 pixels, got 10x12"):
        ssim(pred, target)
    with pytest.raises(ValueError, match=r"got 10x12"):
        ssim_l(pred, target)


def test_psnr_matches_skimage() -> None:
    skimage_metrics = pytest.importorskip("skimage.metrics")
    pred, target = _pair(n=3, h=8, w=9)
    result = psnr(pred, target)
    pred_8bit = np.round(pred.numpy() * 255.0).astype(np.uint8)
    target_8bit = np.round(target.numpy() * 255.0).astype(np.uint8)
    for i in range(3):
        expected = skimage_metrics.peak_signal_noise_ratio(
            target_8bit[i], pred_8bit[i], data_range=255
        )
        assert result[i].item() == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------- shapes, dtypes


def test_batched_equals_one_by_one() -> None:
    pred, target = _pair(n=3, h=12, w=15)
    batched = compute_metrics(pred, target, ALL)
    for i in range(3):
        single = compute_metrics(pred[i], target[i], ALL)  # (3, H, W) → N = 1
        for name in ALL:
            assert single[name].shape == (1,)
            torch.testing.assert_close(single[name][0], batched[name][i], rtol=1e-10, atol=1e-10)


def test_compute_metrics_matches_registry_functions() -> None:
    pred, target = _pair(n=2, h=12, w=12)
    values = compute_metrics(pred, target, ["deltae", "psnr"])
    assert list(values) == ["deltae", "psnr"]
    torch.testing.assert_close(values["deltae"], deltae(pred, target))
    torch.testing.assert_close(values["psnr"], psnr(pred, target))
    torch.testing.assert_close(
        compute_metrics(pred, target, ["colorfulness"])["colorfulness"], colorfulness(pred)
    )


def test_registry() -> None:
    assert set(METRICS) == {
        "imgsim",
        "accuracy",
        "mse_ab",
        "psnr",
        "ssim",
        "ssim_l",
        "deltae",
        "colorfulness",
        "delta_cf",
    }
    for name, spec in METRICS.items():
        assert spec.name == name
        assert spec.description
    assert not METRICS["deltae"].higher_is_better
    assert METRICS["psnr"].higher_is_better
    assert [n for n, spec in METRICS.items() if not spec.per_image] == ["delta_cf"]
    assert METRICS["delta_cf"].level == "set"


def test_float32_agrees_with_float64() -> None:
    pred, target = _pair(n=2, h=12, w=13)
    double = compute_metrics(pred, target, ALL)
    single = compute_metrics(pred.float(), target.float(), ALL)
    for name in ALL:
        assert single[name].dtype == torch.float64
        torch.testing.assert_close(single[name], double[name], rtol=1e-5, atol=1e-4)


def test_mixed_and_half_precision_inputs() -> None:
    pred, target = _pair(n=1, h=12, w=12, dtype=torch.float32)
    reference = compute_metrics(pred, target, ALL)
    mixed = compute_metrics(pred, target.double(), ALL)
    half = compute_metrics(pred.half(), target.half(), ALL)
    for name in ALL:
        torch.testing.assert_close(mixed[name], reference[name], rtol=1e-5, atol=1e-4)
        assert torch.isfinite(half[name]).all()


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_the_input_device(device: str) -> None:
    pred, target = _pair(n=2, h=12, w=12)
    reference = compute_metrics(pred, target, ALL)
    values = compute_metrics(pred.to(device), target.to(device), ALL)
    for name in ALL:
        assert values[name].device.type == device
        torch.testing.assert_close(values[name].cpu(), reference[name], rtol=1e-6, atol=1e-6)


def test_empty_batch() -> None:
    empty = torch.zeros(0, 3, 12, 12)
    for name, value in compute_metrics(empty, empty, ALL).items():
        assert value.shape == (0,), name


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("metric", PAIR_METRICS, ids=lambda f: f.__name__)
def test_bad_input_says_what_it_got(metric: Callable[..., torch.Tensor]) -> None:
    good = torch.rand(2, 3, 12, 12)
    with pytest.raises(ValueError, match=r"pred must have shape .*got \(2, 1, 12, 12\)"):
        metric(torch.rand(2, 1, 12, 12), good)
    with pytest.raises(ValueError, match=r"target must have shape .*got \(12, 12\)"):
        metric(good, torch.rand(12, 12))
    with pytest.raises(TypeError, match=r"pred must be a floating point tensor .*torch\.uint8"):
        metric(torch.zeros(2, 3, 12, 12, dtype=torch.uint8), good)
    with pytest.raises(TypeError, match=r"target must be a torch\.Tensor, got ndarray"):
        metric(good, good.numpy())
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3, 12, 12\) and \(2, 3, 12, 13\)"):
        metric(good, torch.rand(2, 3, 12, 13))


def test_other_bad_input() -> None:
    good = torch.rand(1, 3, 12, 12)
    with pytest.raises(ValueError, match=r"unknown metric\(s\) 'lpips'; known: imgsim"):
        compute_metrics(good, good, ["psnr", "lpips"])
    with pytest.raises(TypeError, match=r"rgb must be a floating point tensor .*torch\.int64"):
        colorfulness(torch.zeros(1, 3, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"at least one pixel, got \(1, 3, 0, 4\)"):
        imgsim(torch.zeros(1, 3, 0, 4), torch.zeros(1, 3, 0, 4))
    with pytest.raises(ValueError, match=r"lab1 must have shape \(\*, 3, H, W\), got \(4,\)"):
        ciede2000(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match=r"lab1 and lab2 must have the same shape"):
        ciede2000(torch.zeros(3, 1, 1), torch.zeros(3, 1, 2))


# --------------------------------------------------------------------------- statistics


def test_mean_and_ci95() -> None:
    assert mean_and_ci95([4.0]) == (4.0, 4.0, 4.0)
    mean, low, high = mean_and_ci95(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    half_width = 3.182446 * math.sqrt(5.0 / 3.0) / 2.0  # t(0.975, 3)·s/√n
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half_width, 2.5 + half_width))


@pytest.mark.parametrize("n", [2, 5, 30, 31, 100, 2000])
def test_mean_and_ci95_matches_scipy(n: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    values = torch.randn(n, dtype=torch.float64) * 3.0 + 1.0
    mean, low, high = mean_and_ci95(values)
    sample = values.numpy()
    expected_low, expected_high = stats.t.interval(
        0.95, n - 1, loc=sample.mean(), scale=stats.sem(sample)
    )
    assert mean == pytest.approx(sample.mean())
    assert (low, high) == pytest.approx((expected_low, expected_high), rel=1e-5, abs=1e-6)


def test_mean_and_ci95_bad_input() -> None:
    with pytest.raises(ValueError, match=r"non-empty 1-D .*got shape \(0,\)"):
        mean_and_ci95([])
    with pytest.raises(ValueError, match=r"got shape \(2, 2\)"):
        mean_and_ci95(torch.zeros(2, 2))
