"""Every registered architecture with every head: shapes, learning, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from colorcli.checkpoint import (
    checkpoint_from_model,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from colorcli.errors import ModelError
from colorcli.models import ColorModel, get_model, list_models, register_model
from colorcli.palette import fit_gamut, fit_kmeans_palette, rebalancing_weights
from colorcli.pipeline import Colorizer

ALL_ARCHS = [
    "autoencoder",
    "cnn",
    "cnn-vanilla",
    "eccv16",
    "fusion",
    "linear",
    "lite0",
    "lite1",
    "lite2",
    "resnet18",
    "resnet34",
    "tiny",
    "unet",
]
SMALL = {
    "autoencoder": {"width": 8},
    "cnn": {"width": 4},
    "cnn-vanilla": {"width": 8},
    "eccv16": {"width": 4},
    "fusion": {"width": 4, "embed_size": 32},
    "linear": {"hidden": 8},
    "lite0": {"width": 8},
    "lite1": {"width": 8},
    "lite2": {"width": 8},
    "resnet18": {},
    "resnet34": {},
    "tiny": {"width": 8},
    "unet": {"width": 4, "depth": 2},
}
HEADS: list[int | str | None] = [None, 16, "gamut"]


def _model(arch: str, colors: int | str | None) -> ColorModel:
    torch.manual_seed(0)
    return get_model(arch, colors=colors, **SMALL[arch])


def test_registry_lists_every_architecture() -> None:
    assert list_models() == ALL_ARCHS


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ModelError, match="unknown architecture 'unet2'; available: autoencoder"):
        get_model("unet2")


def test_duplicate_name_refused() -> None:
    with pytest.raises(ModelError, match="already registered"):
        register_model("unet")(lambda: None)


def test_bad_config_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="bad configuration for architecture 'unet'"):
        get_model("unet", wings=3)
    with pytest.raises(ModelError, match="--colors must be"):
        get_model("tiny", colors="many")


@pytest.mark.parametrize("arch", ALL_ARCHS)
@pytest.mark.parametrize("colors", HEADS, ids=["regression", "palette16", "gamut"])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shape_matches_odd_input(arch: str, colors: int | str | None, batch: int) -> None:
    model = _model(arch, colors).eval()
    lightness = torch.rand(batch, 1, 37, 45) * 100
    with torch.no_grad():
        ab = model.predict_ab(lightness)
        raw = model(lightness)
    assert ab.shape == (batch, 2, 37, 45)
    assert torch.isfinite(ab).all()
    stride = model.output_stride
    expected_channels = 2 if colors is None else model.head.num_classes
    assert raw.shape == (batch, expected_channels, -(-37 // stride), -(-45 // stride))


def test_full_size_odd_input_97_by_131() -> None:
    model = _model("unet", None).eval()
    with torch.no_grad():
        assert model.predict_ab(torch.rand(1, 1, 97, 131) * 100).shape == (1, 2, 97, 131)


def _synthetic_pair(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """L with a left/right split and ab that depends on L (learnable)."""
    generator = torch.Generator().manual_seed(0)
    lightness = torch.full((2, 1, size, size), 30.0)
    lightness[:, :, :, size // 2 :] = 70.0
    lightness += torch.rand(lightness.shape, generator=generator) * 2
    ab = torch.zeros(2, 2, size, size)
    ab[:, 0] = torch.where(lightness[:, 0] > 50, 40.0, -30.0)
    ab[:, 1] = torch.where(lightness[:, 0] > 50, 50.0, 10.0)
    return lightness, ab


def _fit_head(model: ColorModel, ab: torch.Tensor) -> None:
    if not model.is_classifier:
        return
    samples = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    if model.config["colors"] == "gamut":
        centres, counts = fit_gamut(samples)
        model.head.set_palette(
            torch.cat([centres, torch.zeros(model.head.num_classes - len(centres), 2)]),
            torch.ones(model.head.num_classes),
        )
        del counts
    else:
        jitter = samples + torch.randn_like(samples)
        model.head.set_palette(fit_kmeans_palette(jitter, model.head.num_classes))


@pytest.mark.parametrize("arch", ALL_ARCHS)
@pytest.mark.parametrize("colors", HEADS, ids=["regression", "palette16", "gamut"])
def test_a_few_steps_reduce_the_loss(arch: str, colors: int | str | None) -> None:
    model = _model(arch, colors).train()
    lightness, ab = _synthetic_pair()
    _fit_head(model, ab)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = model.loss(model(lightness), ab)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("arch", ALL_ARCHS)
@pytest.mark.parametrize("colors", HEADS, ids=["regression", "palette16", "gamut"])
def test_save_load_round_trip_is_exact(arch: str, colors: int | str | None, tmp_path: Path) -> None:
    model = _model(arch, colors)
    _fit_head(model, _synthetic_pair()[1])
    model.eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, checkpoint_from_model(model, training={"epochs": 0}))
    loaded = model_from_checkpoint(read_checkpoint(path))
    assert type(loaded.head) is type(model.head)
    lightness = torch.rand(1, 1, 24, 40) * 100
    with torch.no_grad():
        assert torch.equal(loaded.predict_ab(lightness), model.predict_ab(lightness))


def test_gamut_head_with_fitted_bins_and_rebalancing() -> None:
    ab = torch.randn(5000, 2) * 30
    centres, counts = fit_gamut(ab)
    weights = rebalancing_weights(counts, centres)
    model = get_model("tiny", colors="gamut", num_classes=len(centres), width=4)
    model.head.set_palette(centres, weights)
    assert model.config["num_classes"] == len(centres)
    assert model.head.rebalance and model.head.soft_encoding


def test_inference_size_travels_in_the_checkpoint(tmp_path: Path) -> None:
    model = _model("tiny", None)
    assert model.inference_size is None
    model.inference_size = 128
    save_checkpoint(tmp_path / "m.pt", checkpoint_from_model(model))
    assert model_from_checkpoint(read_checkpoint(tmp_path / "m.pt")).inference_size == 128


def test_inference_saturation_travels_in_the_checkpoint_and_is_the_colorizers_default(
    tmp_path: Path,
) -> None:
    model = _model("tiny", None)
    assert model.inference_saturation is None and Colorizer(model).saturation == 1.0
    model.inference_saturation = 0.9
    save_checkpoint(tmp_path / "m.pt", checkpoint_from_model(model))
    loaded = model_from_checkpoint(read_checkpoint(tmp_path / "m.pt"))
    assert loaded.inference_saturation == 0.9
    assert Colorizer(loaded).saturation == 0.9
    assert Colorizer(loaded, saturation=1.5).saturation == 1.5  # --saturation wins
