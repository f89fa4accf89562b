"""Encoder–decoder fused with a classifier's global embedding (the fusion report).

After Baldassarre et al., "Deep Koalarization" (2017), which the InceptionResNet
fusion report reproduces: a conv encoder takes L to 1/8; a torchvision classifier
(ResNet18 here, Inception-ResNet-v2 in the paper, which torchvision lacks) embeds
the whole image (L replicated to 3 channels, 224×224, ImageNet normalisation) into
its 1000 class scores; the embedding is tiled over the bottleneck, concatenated and
fused by a 1×1 convolution; a decoder upsamples to full size; output is
``tanh × 128``. With ``pretrained=True`` the classifier's ImageNet weights come from
the torch hub cache and it is frozen, as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorcli.models._pretrained import load_cached_weights
from colorcli.models._registry import register_model
from colorcli.models.blocks import Body, UpBlock, conv_bn_relu

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class FusionBody(Body):
    """Conv encoder (1/8) + tiled global embedding + fusion + upsampling decoder."""

    def __init__(self, width: int = 32, embed_size: int = 224, pretrained: bool = False) -> None:
        super().__init__()
        # imported here: torchvision.models costs seconds at start-up, and most runs never build it
        from torchvision.models import resnet

        w = width
        self.encoder = nn.Sequential(
            conv_bn_relu(1, 2 * w, stride=2),
            conv_bn_relu(2 * w, 4 * w),
            conv_bn_relu(4 * w, 4 * w, stride=2),
            conv_bn_relu(4 * w, 8 * w),
            conv_bn_relu(8 * w, 8 * w, stride=2),
            conv_bn_relu(8 * w, 8 * w),
        )
        self.embedder = resnet.resnet18(weights=None)
        if pretrained:
            self.embedder.load_state_dict(
                load_cached_weights(resnet.ResNet18_Weights.IMAGENET1K_V1)
            )
            self.embedder.requires_grad_(False)
        self.frozen_embedder = pretrained
        self.embed_size = embed_size
        embed_dim = self.embedder.fc.out_features
        self.fuse = conv_bn_relu(8 * w + embed_dim, 8 * w, kernel_size=1)
        self.decoder = nn.Sequential(
            UpBlock(8 * w, 4 * w), UpBlock(4 * w, 2 * w), UpBlock(2 * w, w)
        )
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.out_channels = w
        self.size_multiple = 8
        self.regression_scale = 128.0
        self.regression_activation = "tanh"

    def train(self, mode: bool = True) -> FusionBody:
        super().train(mode)
        if self.frozen_embedder:
            self.embedder.eval()
        return self

    def embed(self, x: Tensor) -> Tensor:
        """Global embedding ``(N, 1000)`` of normalised L ``(N, 1, H, W)``."""
        gray = ((x + 1.0) / 2.0).expand(-1, 3, -1, -1)
        gray = F.interpolate(
            gray, size=(self.embed_size, self.embed_size), mode="bilinear", align_corners=False
        )
        return self.embedder((gray - self.mean) / self.std)

    def forward(self, x: Tensor) -> Tensor:
        features = self.encoder(x)
        embedding = self.embed(x)
        tiled = embedding[:, :, None, None].expand(-1, -1, *features.shape[-2:])
        return self.decoder(self.fuse(torch.cat((features, tiled), dim=1)))


@register_model("fusion")
def fusion(*, width: int = 32, embed_size: int = 224, pretrained: bool = False) -> FusionBody:
    """Encoder–decoder + ResNet18 global embedding fusion, tanh·128 output."""
    return FusionBody(width, embed_size, pretrained)
