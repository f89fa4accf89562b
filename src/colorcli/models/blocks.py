"""Building blocks shared by the bodies: conv + BatchNorm + ReLU stacks and upsampling."""

from __future__ import annotations

from torch import Tensor, nn


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    *,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    batch_norm: bool = True,
) -> nn.Sequential:
    """``Conv2d -> [BatchNorm2d] -> ReLU`` with "same" padding (before striding)."""
    padding = dilation * (kernel_size - 1) // 2
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=not batch_norm,
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DoubleConv(nn.Sequential):
    """Two 3×3 ``conv_bn_relu`` layers, the U-Net unit."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            conv_bn_relu(in_channels, out_channels), conv_bn_relu(out_channels, out_channels)
        )


class UpBlock(nn.Module):
    """Bilinear ×``scale`` upsampling followed by ``conv_bn_relu``."""

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False)
        self.conv = conv_bn_relu(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.up(x))


class Body(nn.Module):
    """Base of every body: maps normalised L ``(N, 1, H, W)`` to features.

    Attributes:
        out_channels: channels of the feature map handed to the head.
        output_stride: the feature map is ``H / output_stride`` high.
        size_multiple: inputs are padded to a multiple of this.
        regression_scale: ab = head output × this (Lab units) for regression heads.
        regression_activation: ``None`` or ``"tanh"`` before the scale.
    """

    out_channels: int = 0
    output_stride: int = 1
    size_multiple: int = 1
    regression_scale: float = 110.0
    regression_activation: str | None = None
