"""A pretrained encoder trains in stages: frozen first, then its top levels at a lower LR."""

from __future__ import annotations

import pytest
import torch

from colorcli.models.efficientnet_lite import efficientnet_lite
from colorcli.training import train


def _encoder_levels_changed(last_path, imagenet) -> list[bool]:
    state = torch.load(last_path, map_location="cpu", weights_only=True)["model"]["state_dict"]
    changed = []
    for level in imagenet.levels():
        moved = False
        for module in level:
            for name, value in module.named_parameters():
                key = _key_of(imagenet, module, name)
                moved |= not torch.equal(state[f"body.encoder.{key}"].float(), value.float())
        changed.append(moved)
    return changed


def _key_of(model, module, name: str) -> str:
    for prefix, candidate in model.named_modules():
        if candidate is module:
            return f"{prefix}.{name}"
    raise KeyError(name)


@pytest.mark.parametrize(
    ("freeze", "expected"), [(1.0, [False] * 5), (0.5, [False] * 3 + [True] * 2)]
)
def test_frozen_then_top_levels(freeze, expected, image_folder, tmp_path, fast_config) -> None:
    config = fast_config(
        tmp_path / "run",
        image_folder,
        arch="lite0",
        pretrained=True,
        width=8,
        size=24,
        epochs=2,
        freeze_encoder=freeze,
        unfreeze_levels=2,
    )
    result = train(config)
    imagenet = efficientnet_lite("lite0", pretrained=True, num_classes=0, gray=True)
    assert _encoder_levels_changed(result.last_path, imagenet) == expected
