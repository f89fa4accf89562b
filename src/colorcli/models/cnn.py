"""Plain CNN bodies: the 6-block Zhang-style CNN and the vanilla down/refactor/up CNN.

``cnn`` reproduces the simple CNN of the ResNet34 report (Places365, MSE on ab):
six blocks of two 3×3 convolutions with ReLU and BatchNorm, the first three ending
in a stride-2 convolution, ab predicted at 1/8 and upsampled ×8 bilinearly.

``cnn-vanilla`` reproduces the vanilla CNN of the CIFAR-10 report: two downsampling
convolutions, a "refactor" pair at the bottleneck, two upsampling transposed
convolutions, BatchNorm and ReLU throughout.
"""

from __future__ import annotations

from torch import Tensor, nn

from colorcli.models._registry import register_model
from colorcli.models.blocks import Body, conv_bn_relu


def _block(in_channels: int, out_channels: int, *, stride: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        conv_bn_relu(in_channels, out_channels, dilation=dilation, batch_norm=False),
        conv_bn_relu(out_channels, out_channels, stride=stride, dilation=dilation),
    )


class SixBlockBody(Body):
    """Six conv blocks; features at 1/8 resolution."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        channels = [width, 2 * width, 4 * width, 8 * width, 8 * width, 4 * width]
        self.blocks = nn.Sequential(
            _block(1, channels[0], stride=2),
            _block(channels[0], channels[1], stride=2),
            _block(channels[1], channels[2], stride=2),
            _block(channels[2], channels[3], stride=1),
            _block(channels[3], channels[4], stride=1, dilation=2),
            _block(channels[4], channels[5], stride=1),
        )
        self.out_channels = channels[5]
        self.output_stride = 8
        self.size_multiple = 8

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class VanillaBody(Body):
    """Down (2 × stride-2 conv), refactor (2 convs), up (2 × stride-2 deconv)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.down = nn.Sequential(
            conv_bn_relu(1, width, stride=2), conv_bn_relu(width, 2 * width, stride=2)
        )
        self.refactor = nn.Sequential(
            conv_bn_relu(2 * width, 2 * width), conv_bn_relu(2 * width, 2 * width)
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.out_channels = width
        self.size_multiple = 4

    def forward(self, x: Tensor) -> Tensor:
        return self.up(self.refactor(self.down(x)))


@register_model("cnn")
def cnn(*, width: int = 32) -> SixBlockBody:
    """6-block Zhang-style CNN; ``width`` channels in the first block (×8 at the bottleneck)."""
    return SixBlockBody(width)


@register_model("cnn-vanilla")
def cnn_vanilla(*, width: int = 32) -> VanillaBody:
    """Vanilla down/refactor/up CNN of the CIFAR-10 report."""
    return VanillaBody(width)
