"""The fusion report's overfit-one-image check, for every body: memorise one 64×64 photo."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
import torch
from PIL import Image

from colorcli.color import gray_lab, lab_to_rgb, rgb_to_lab
from colorcli.metrics import psnr
from colorcli.models import get_model, list_models

SMALL = {
    "autoencoder": {"width": 16},
    "cnn": {"width": 8},
    "cnn-vanilla": {"width": 16},
    "eccv16": {"width": 8},
    "fusion": {"width": 8, "embed_size": 64},
    "linear": {"hidden": 32},
    "resnet18": {},
    "resnet34": {"layers": 2},
    "tiny": {"width": 16},
    "unet": {"width": 8, "depth": 2},
}
STEPS = 60
MARGIN_DB = 6.0


@pytest.fixture(scope="module")
def coffee() -> torch.Tensor:
    """The shipped ``coffee`` sample photo (CC0), 64×64, as RGB ``(1, 3, 64, 64)`` in [0, 1]."""
    path = files("colorcli") / "samples" / "color" / "coffee.jpg"
    with Image.open(str(path)) as image:
        small = image.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.array(small)).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("arch", list_models())
def test_body_memorises_one_photo(arch: str, coffee: torch.Tensor) -> None:
    torch.manual_seed(0)
    lab = rgb_to_lab(coffee)
    lightness, ab = lab[:, :1], lab[:, 1:]
    model = get_model(arch, **SMALL[arch])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(STEPS):
        loss = model.loss(model(lightness), ab)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        predicted = lab_to_rgb(torch.cat((lightness, model.predict_ab(lightness)), dim=1))
    gray_psnr = psnr(lab_to_rgb(gray_lab(lightness)), coffee).item()
    model_psnr = psnr(predicted, coffee).item()
    assert model_psnr > gray_psnr + MARGIN_DB, (
        f"{arch}: {model_psnr:.1f} dB vs gray {gray_psnr:.1f}"
    )
