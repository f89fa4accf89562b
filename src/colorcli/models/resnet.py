"""ResNet-backbone ab regressors of the ResNet18 (U-Net report) and ResNet34 reports.

The first layers of a torchvision ResNet (conv1 adapted to one L channel, bn1,
maxpool, layer1, layer2 [, layer3]) extract features at 1/8 (or 1/16); blocks of
conv + BatchNorm + ReLU + bilinear ×2 upsampling bring them back to full size. The
ResNet34 report trained it with a one-cycle LR and MSE on ab (Places365).
``pretrained=True`` loads torchvision's ImageNet weights from the torch hub cache,
averaging conv1's RGB filters into one channel.
"""

from __future__ import annotations

from torch import Tensor, nn

from colorcli.models._pretrained import gray_first_conv, load_cached_weights
from colorcli.models._registry import register_model
from colorcli.models.blocks import Body, UpBlock

_CHANNELS = {2: 128, 3: 256}


class ResNetBody(Body):
    """Truncated ResNet encoder + upsampling decoder back to full resolution."""

    def __init__(self, depth: int, *, layers: int, pretrained: bool) -> None:
        super().__init__()
        # imported here: torchvision.models costs seconds at start-up, and most runs never build it
        from torchvision.models import resnet

        if layers not in _CHANNELS:
            raise ValueError(f"layers must be 2 or 3, got {layers}")
        builder = resnet.resnet18 if depth == 18 else resnet.resnet34
        weights_enum = (
            resnet.ResNet18_Weights.IMAGENET1K_V1
            if depth == 18
            else resnet.ResNet34_Weights.IMAGENET1K_V1
        )
        backbone = builder(weights=None)
        if pretrained:
            backbone.load_state_dict(load_cached_weights(weights_enum))
        state = gray_first_conv(backbone.state_dict()) if pretrained else None
        backbone.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if state is not None:
            backbone.conv1.weight.data.copy_(state["conv1.weight"])
        modules: list[nn.Module] = [
            backbone.conv1,
            backbone.bn1,
            backbone.relu,
            backbone.maxpool,
            backbone.layer1,
            backbone.layer2,
        ]
        if layers == 3:
            modules.append(backbone.layer3)
        self.encoder = nn.Sequential(*modules)
        channels = _CHANNELS[layers]
        ups: list[nn.Module] = []
        stride = 2 ** (layers + 1)
        while stride > 1:
            out = max(channels // 2, 32)
            ups.append(UpBlock(channels, out))
            channels = out
            stride //= 2
        self.decoder = nn.Sequential(*ups)
        self.out_channels = channels
        self.size_multiple = 2 ** (layers + 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


@register_model("resnet18")
def resnet18(*, layers: int = 2, pretrained: bool = False) -> ResNetBody:
    """ResNet18 first layers (to ``layer2`` or ``layer3``) + upsampling decoder."""
    return ResNetBody(18, layers=layers, pretrained=pretrained)


@register_model("resnet34")
def resnet34(*, layers: int = 3, pretrained: bool = False) -> ResNetBody:
    """ResNet34 first layers (to ``layer2`` or ``layer3``) + upsampling decoder."""
    return ResNetBody(34, layers=layers, pretrained=pretrained)
