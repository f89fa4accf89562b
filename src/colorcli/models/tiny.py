"""The 1-conv / 1-deconv baseline of the U-Net report.

One stride-2 convolution and one stride-2 transposed convolution; the report's
smallest baseline, useful to see what a model learns from local texture alone.
"""

from __future__ import annotations

from torch import Tensor, nn

from colorcli.models._registry import register_model
from colorcli.models.blocks import Body


class TinyBody(Body):
    """``conv 3×3 s2 -> ReLU -> deconv 4×4 s2 -> ReLU``."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.out_channels = width
        self.size_multiple = 2

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


@register_model("tiny")
def tiny(*, width: int = 32) -> TinyBody:
    """1 conv + 1 deconv baseline with ``width`` channels."""
    return TinyBody(width)
