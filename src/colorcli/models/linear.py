"""The per-pixel 3-layer linear baseline (L -> Lab) of the autoencoder report.

Reproduces the report's baseline: three fully connected layers applied to each
pixel's L independently (here as 1×1 convolutions, which is the same maths), MSE
loss, Adam. The third layer is the head (ab, or logits for palette heads).
"""

from __future__ import annotations

from torch import Tensor, nn

from colorcli.models._registry import register_model
from colorcli.models.blocks import Body


class LinearBody(Body):
    """Two per-pixel layers ``1 -> hidden -> hidden`` with ReLU; the head is the third."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(inplace=True),
        )
        self.out_channels = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


@register_model("linear")
def linear(*, hidden: int = 64) -> LinearBody:
    """Per-pixel 3-layer baseline; ``hidden`` units per layer."""
    return LinearBody(hidden)
