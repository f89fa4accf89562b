"""The full-resolution pipeline: model input, the fast L join against the reference maths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorcli.color import lab_to_rgb, rgb_to_lab, rgb_to_lightness
from colorcli.errors import ModelError
from colorcli.models import get_model
from colorcli.pipeline import (
    DEFAULT_SIZE,
    Colorizer,
    join_full_resolution,
    predict_ab,
    prepare_input,
)
from tolerances import assert_same_8bit


def _reference_join(pixels: np.ndarray, ab: torch.Tensor, saturation: float = 1.0) -> np.ndarray:
    """The join written plainly in float64 with colorcli.color (the maths to reproduce)."""
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    rgb = torch.from_numpy(pixels.astype(np.float64) / top).permute(2, 0, 1)
    lightness = rgb_to_lightness(rgb)
    small = (ab.double() * saturation).clamp(-127, 127)[None]
    upsampled = F.interpolate(small, size=pixels.shape[:2], mode="bilinear", align_corners=False)
    colour = lab_to_rgb(torch.cat((lightness, upsampled[0])), keep_lightness=True)
    return (colour * top).round().permute(1, 2, 0).numpy()


def _gray(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width)[None, :] * np.linspace(0.3, 1, height)[:, None]
    gray = np.clip(ramp + rng.normal(0, 20, (height, width)), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _colour(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("make", [_gray, _colour], ids=["gray", "colour"])
def test_join_matches_the_reference_maths_to_one_level(make) -> None:
    pixels = make(37, 53)
    ab = torch.randn(2, 9, 13) * 60  # some out of gamut, some beyond the ab clamp
    expected = _reference_join(pixels, ab, saturation=1.3)
    got = join_full_resolution(pixels, ab, saturation=1.3)
    assert got.shape == pixels.shape and got.dtype == np.uint8
    difference = np.abs(got.astype(np.int64) - expected)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.005


def test_join_of_16_bit_pixels_stays_16_bit() -> None:
    pixels = (_colour(20, 30).astype(np.uint16) * 257) + 99
    ab = torch.randn(2, 5, 7) * 30
    got = join_full_resolution(pixels, ab)
    assert got.dtype == np.uint16
    assert np.abs(got.astype(np.int64) - _reference_join(pixels, ab)).max() <= 64  # 0.1 %


def test_zero_ab_keeps_a_gray_image_gray_and_its_l() -> None:
    pixels = _gray(16, 24)
    got = join_full_resolution(pixels, torch.zeros(2, 1, 1))
    assert np.abs(got.astype(int) - pixels).max() <= 1
    assert np.array_equal(got[..., 0], got[..., 1]) and np.array_equal(got[..., 1], got[..., 2])


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
def test_zero_ab_gives_exact_grays_of_a_colour_image(depth) -> None:
    # the gray baseline of evaluation: R = G = B to the bit, whatever the float rounding
    pixels = _colour(40, 50).astype(depth) * (257 if depth == np.uint16 else 1)
    got = join_full_resolution(pixels, torch.zeros(2, 1, 1))
    assert np.array_equal(got[..., 0], got[..., 1]) and np.array_equal(got[..., 1], got[..., 2])


@pytest.mark.parametrize("scale", [20.0, 120.0])
def test_join_keeps_the_input_lightness_however_saturated_the_colour(scale: float) -> None:
    pixels = _colour(24, 24)
    got = join_full_resolution(pixels, torch.randn(2, 6, 6) * scale, saturation=1.5)
    lab_in = rgb_to_lab(torch.from_numpy(pixels).permute(2, 0, 1).double() / 255)
    lab_out = rgb_to_lab(torch.from_numpy(got).permute(2, 0, 1).double() / 255)
    # out-of-gamut colours are desaturated at their L, not clipped: only rounding to 8 bits
    # moves L (half a level of each channel, under 0.6 L units)
    assert (lab_out[0] - lab_in[0]).abs().max() < 0.6


@pytest.mark.parametrize("make", [_gray, _colour], ids=["gray", "colour"])
def test_join_in_place_and_in_strips_gives_the_same_colours(
    monkeypatch: pytest.MonkeyPatch, make
) -> None:
    pixels = make(41, 17)
    ab = torch.randn(2, 11, 5) * 40
    whole = join_full_resolution(pixels, ab)
    monkeypatch.setattr("colorcli.color_lut.STRIP_PIXELS", 17 * 3)  # 3 rows a strip
    strips = join_full_resolution(pixels, ab)
    copy = pixels.copy()
    same = join_full_resolution(copy, ab, out=copy)
    assert same is copy
    assert np.array_equal(strips, copy)
    # other strip lengths may take other SIMD tails: a value may round one level apart
    assert_same_8bit(strips, whole, "strips")


def test_join_of_a_one_pixel_image() -> None:
    pixels = np.full((1, 1, 3), 120, np.uint8)
    assert join_full_resolution(pixels, torch.ones(2, 1, 1) * 10).shape == (1, 1, 3)


@pytest.mark.parametrize(
    ("pixels", "ab", "message"),
    [
        (np.zeros((4, 4), np.uint8), torch.zeros(2, 1, 1), "pixels must be (H, W, 3)"),
        (np.zeros((4, 4, 3), np.float32), torch.zeros(2, 1, 1), "uint8 or uint16"),
        (np.zeros((4, 4, 3), np.uint8), torch.zeros(3, 1, 1), "ab must be a (2, h, w)"),
    ],
)
def test_join_refuses_bad_input(pixels: np.ndarray, ab: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        join_full_resolution(pixels, ab)


def test_join_refuses_a_wrong_out_array() -> None:
    with pytest.raises(ValueError, match="out must be"):
        join_full_resolution(_gray(4, 4), torch.zeros(2, 1, 1), out=np.empty((4, 5, 3), np.uint8))


def test_prepare_input_is_a_padded_square_of_l() -> None:
    pixels = _colour(40, 60)
    item = prepare_input(pixels, 32)
    assert item.lightness.shape == (1, 32, 32) and item.content == (21, 32)
    small = torch.from_numpy(cv2.resize(pixels, (32, 21), interpolation=cv2.INTER_AREA))
    expected = rgb_to_lightness(small.permute(2, 0, 1).double() / 255)[0]
    assert torch.allclose(item.lightness[0, :21], expected.float(), atol=1e-3)
    assert torch.equal(item.lightness[0, 21:25], item.lightness[0, 16:20].flip(0))  # reflected


def test_mixed_sizes_batch_together() -> None:
    colorizer = Colorizer(get_model("tiny", width=4), size=32)
    inputs = [prepare_input(_gray(h, w), colorizer.size) for h, w in ((10, 40), (64, 16), (5, 5))]
    abs_ = predict_ab(colorizer.model, inputs, device=colorizer.device)
    assert [tuple(ab.shape) for ab in abs_] == [(2, 8, 32), (2, 32, 8), (2, 32, 32)]
    outputs = colorizer.colorize_many([_gray(10, 40), _gray(64, 16), _gray(5, 5)])
    assert [o.shape for o in outputs] == [(10, 40, 3), (64, 16, 3), (5, 5, 3)]


def test_batchnorm_is_folded_on_a_copy_with_the_same_predictions() -> None:
    model = get_model("unet", width=4, depth=2).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    colorizer = Colorizer(model, size=32)
    assert colorizer.model is not model
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in colorizer.model.modules())
    lightness = torch.rand(2, 1, 32, 32) * 100
    with torch.no_grad():
        assert torch.allclose(
            model.predict_ab(lightness), colorizer.model.predict_ab(lightness), atol=1e-3
        )


def test_colorize_keeps_shape_and_dtype() -> None:
    colorizer = Colorizer(get_model("tiny", width=4), size=DEFAULT_SIZE // 8)
    for pixels in (_gray(33, 21), _colour(8, 9).astype(np.uint16) * 257):
        out = colorizer.colorize(pixels)
        assert out.shape == pixels.shape and out.dtype == pixels.dtype


def test_colorizer_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="inference size"):
        Colorizer(get_model("tiny", width=4), size=4)
    with pytest.raises(ValueError, match="saturation"):
        Colorizer(get_model("tiny", width=4), saturation=-1)


def _chroma(pixels: np.ndarray) -> float:
    lab = rgb_to_lab(torch.from_numpy(pixels).permute(2, 0, 1).double() / 255)
    return float(lab[1:].norm(dim=0).mean())


def test_temperature_changes_how_bold_a_colour_class_model_is() -> None:
    torch.manual_seed(0)
    model = get_model("tiny", width=4, colors=8, decode="annealed")
    model.head.set_palette(torch.tensor([[x, y] for x in (-60, -20, 20, 60) for y in (-50, 50)]))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    pixels = _gray(24, 24)
    chroma = {
        t: _chroma(Colorizer(model, size=24, temperature=t).colorize(pixels))
        for t in (0.1, 0.38, 1.0)
    }
    assert chroma[0.1] > chroma[0.38] > chroma[1.0]
    assert model.head.temperature == 0.38  # the caller's model is left alone
    default = Colorizer(model, size=24).colorize(pixels)
    assert np.array_equal(default, Colorizer(model, size=24, temperature=0.38).colorize(pixels))


def test_temperature_needs_annealed_decoding() -> None:
    with pytest.raises(ModelError, match="tiny model regresses ab: a temperature applies only"):
        Colorizer(get_model("tiny", width=4), temperature=0.5)
    argmax = get_model("tiny", width=4, colors=8, decode="argmax")
    with pytest.raises(ModelError, match="decodes its colour classes by argmax"):
        Colorizer(argmax, temperature=0.5)
    with pytest.raises(ValueError, match="temperature"):
        Colorizer(get_model("tiny", width=4, colors=8), temperature=0)
