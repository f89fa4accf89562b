"""Confidence maps of regression models: agreement with the prediction for the mirror image."""

from __future__ import annotations

import numpy as np
import torch

from colorcli.models import get_model
from colorcli.pipeline import Colorizer
from colorcli.prediction import MIRROR_SCALE, mirror_confidence


def test_a_mirror_symmetric_prediction_is_fully_confident() -> None:
    model = get_model("tiny", width=4).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    lightness = torch.rand(2, 1, 16, 16) * 100
    ab = model.decode(model(lightness))
    assert torch.equal(mirror_confidence(model, lightness, ab), torch.ones(2, 1, 16, 16))


def test_mirror_confidence_falls_with_the_distance_to_the_mirrored_prediction() -> None:
    torch.manual_seed(0)
    model = get_model("tiny", width=4).eval()
    lightness = torch.rand(1, 1, 16, 16) * 100
    with torch.no_grad():
        ab = model.decode(model(lightness))
        twin = model.decode(model(lightness.flip(-1))).flip(-1)
        got = mirror_confidence(model, lightness, ab)
    distance = (ab - twin).norm(dim=1, keepdim=True)
    assert distance.max() > 0  # random weights are not mirror-symmetric
    # tolerance of float32 exp and norm, whatever the kernels
    torch.testing.assert_close(got, torch.exp(-distance / MIRROR_SCALE), rtol=1e-5, atol=1e-6)
    assert bool(((got > 0) & (got <= 1)).all())


def test_a_regression_colorizer_gives_a_confidence_map() -> None:
    colorizer = Colorizer(get_model("tiny", width=4), size=32)
    pixels = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    sure = colorizer.confidence_map(pixels)
    assert sure.shape == (24, 40) and sure.dtype == np.uint8
