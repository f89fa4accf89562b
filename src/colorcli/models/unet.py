"""U-Net with skip connections, the body of the U-Net classifier reports.

Reproduces the U-Net of the U-Net report (palette of 16/24/32 k-means colours,
top-3 averaging, ImgSim) and of the CIFAR-10 report (16/32 colours per class).
``width`` and ``depth`` set its size; ``output_stride`` > 1 starts with a strided
stem so the whole network (and the prediction) runs at 1/2 or 1/4 resolution — the
cheap way to colourize, as colour varies slowly and full-resolution L is joined
back afterwards.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from colorcli.models._registry import register_model
from colorcli.models.blocks import Body, DoubleConv, conv_bn_relu


class UNetBody(Body):
    """Encoder of ``depth`` max-pool levels, bottleneck, decoder with skip concatenation."""

    def __init__(self, width: int = 32, depth: int = 4, output_stride: int = 1) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if output_stride not in (1, 2, 4):
            raise ValueError(f"output_stride must be 1, 2 or 4, got {output_stride}")
        if output_stride == 1:
            self.stem: nn.Module = DoubleConv(1, width)
        else:
            self.stem = nn.Sequential(
                conv_bn_relu(1, width, kernel_size=output_stride * 2 - 1, stride=output_stride),
                conv_bn_relu(width, width),
            )
        channels = [width * 2**i for i in range(depth + 1)]
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(channels[i], channels[i + 1]) for i in range(depth))
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.up = nn.ModuleList(
            DoubleConv(channels[i + 1] + channels[i], channels[i]) for i in reversed(range(depth))
        )
        self.out_channels = width
        self.output_stride = output_stride
        self.size_multiple = output_stride * 2**depth

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        skips = [x]
        for down in self.down:
            x = down(self.pool(x))
            skips.append(x)
        skips.pop()
        for up in self.up:
            x = up(torch.cat((self.upsample(x), skips.pop()), dim=1))
        return x


@register_model("unet")
def unet(*, width: int = 32, depth: int = 4, output_stride: int = 1) -> UNetBody:
    """U-Net; ``width`` channels at the top level, doubling over ``depth`` levels."""
    return UNetBody(width, depth, output_stride)
