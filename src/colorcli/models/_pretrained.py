"""Load torchvision ImageNet weights from the local torch hub cache, never from the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from colorcli.errors import ColorcliError, ModelError


def hub_checkpoint_path(url: str) -> Path:
    """Where torch.hub keeps the file of ``url``: ``$TORCH_HOME/hub/checkpoints/<name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_cached_weights(weights: Any) -> dict[str, Tensor]:
    """State dict of a torchvision ``WeightsEnum`` member, read from the hub cache.

    Raises:
        ModelError: the file is not in the cache (says which file to put where).
    """
    url = str(weights.url)
    path = hub_checkpoint_path(url)
    if not path.is_file():
        raise ModelError(
            f"--pretrained needs the torchvision ImageNet weights {path.name}: download {url} "
            f"and put it at {path} (colorcli does not download them itself)"
        )
    from colorcli.checkpoint import load_weights_file  # checkpoint imports the models

    try:
        state = load_weights_file(path, what="torchvision checkpoint")
    except ColorcliError as error:
        raise ModelError(str(error)) from None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a state dict")
    return state


def gray_first_conv(state: dict[str, Tensor], key: str = "conv1.weight") -> dict[str, Tensor]:
    """Average the RGB filters of the first convolution into one L channel."""
    state = dict(state)
    state[key] = state[key].sum(dim=1, keepdim=True) / 3.0
    return state
