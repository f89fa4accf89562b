"""A pretrained encoder trains in stages: frozen first, then its top levels at a lower LR."""

from __future__ import annotations

import pytest
import torch

from colorcli.models.efficientnet_lite import efficientnet_lite
from colorcli.training import train
from colorcli.training.loop import load_resume


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


def test_hints_only_trains_the_branch_alone_also_after_resume(
    image_folder, tmp_path, fast_config
) -> None:
    """--hints-only: only hint-branch tensors move, in the first run and in a resumed one
    (the resumed model must be frozen the same way, or its optimizer state does not fit)."""
    config = fast_config(
        tmp_path / "run",
        image_folder,
        arch="lite0",
        guided=True,
        hints_only=True,
        width=8,
        size=32,
        epochs=2,
        max_steps=2,
    )
    first = train(config)
    assert first.stopped == "max steps"
    before = torch.load(first.last_path, map_location="cpu", weights_only=True)["model"]
    resumed_config, state, path = load_resume(config.out)
    resumed = train(resumed_config, resume_state=state, resume_path=path)
    assert resumed.stopped == "finished"
    after = torch.load(resumed.last_path, map_location="cpu", weights_only=True)["model"]
    moved = {
        key
        for key, value in after["state_dict"].items()
        if value.is_floating_point() and not torch.equal(value, before["state_dict"][key])
    }
    assert moved and all(key.startswith("body.hint_branch.") for key in moved), sorted(moved)
