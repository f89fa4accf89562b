"""U-Net decoder over an ImageNet-pretrained EfficientNet-Lite encoder: the ``lite0/1/2`` bodies.

The gray input is fed the way the encoder saw ImageNet: L (0‥100) becomes the sRGB
gray value of that lightness (a = b = 0), normalised as the weights expect, into a stem
whose RGB filters are summed (exact for R = G = B). The decoder climbs from stride 32
back to ``output_stride`` (4 or 2), concatenating the encoder's map of each stride;
ab is predicted there and upsampled to the full-resolution L by the pipeline, as every
colorcli model does.

Training freezes the pretrained encoder first and may unfreeze its upper levels later
(:meth:`LiteUNetBody.set_trainable_levels`); a pretrained encoder's BatchNorm always
stays in eval mode (ImageNet statistics), so batches of any size and split agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorcli.color import linear_to_srgb
from colorcli.guidance import HINT_CHANNELS, REFERENCE_FEATURES
from colorcli.models._registry import register_model
from colorcli.models.blocks import Body, DoubleConv, conv_bn_relu
from colorcli.models.efficientnet_lite import INPUT_MEAN, INPUT_STD, efficientnet_lite

_DECODER_MULTIPLES = {32: 8, 16: 6, 8: 4, 4: 3, 2: 2}
"""Decoder channels at each stride, in units of ``width``."""


def lightness_to_gray_srgb(lightness: Tensor) -> Tensor:
    """CIE L (0‥100) -> sRGB gray in [0, 1] (D65, a = b = 0), any shape."""
    fy = (lightness + 16.0) / 116.0
    y = torch.where(fy > 6.0 / 29.0, fy**3, (lightness / 903.2962963).clamp(min=0.0))
    return linear_to_srgb(y)


HINT_SCALE = 110.0
"""Hint ab enter the network as ab / 110 (about [-1, 1])."""


class HintBranch(nn.Module):
    """Local ab hints + mask and a global reference histogram, into the decoder.

    A ControlNet-style side network: it sees the hint map *and* the frozen encoder's
    features (so a hint spreads along the photo's edges, not across them). The hint map
    is pooled to stride 4 keeping each hint's colour intact (mask-weighted mean of ab,
    plus the hinted share and a max-pooled mask), joined with the encoder's stride-4 map
    and climbed to stride 32, taking in the encoder's map of each stride; the histogram
    goes through a small MLP. Each output is added to the decoder through a
    zero-initialised 1×1 convolution, so a guided model made from an automatic one
    starts exactly where that one is. The body gates the additions per image (see
    :meth:`LiteUNetBody.forward`): an image with no hint and no reference gets none.
    """

    def __init__(
        self, decoder_channels: dict[int, int], encoder_channels: dict[int, int], width: int
    ) -> None:
        super().__init__()
        strides = sorted(decoder_channels)  # e.g. 4, 8, 16, 32 (2 is fed from the 4 map)
        self.strides = strides
        self.first_stride = max(4, strides[0])
        climb = [stride for stride in (4, 8, 16, 32) if stride >= self.first_stride]
        channels = {stride: width * _DECODER_MULTIPLES[stride] // 2 for stride in climb}
        first = self.first_stride
        stem_in = _POOLED_HINT_CHANNELS + encoder_channels[first]
        self.stem = nn.Sequential(
            nn.Conv2d(stem_in, channels[first], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels[first], channels[first], 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.down = nn.ModuleDict()
        self.merge = nn.ModuleDict()
        previous = first
        for stride in climb[1:]:
            self.down[str(stride)] = nn.Sequential(
                nn.Conv2d(channels[previous], channels[stride], 3, stride=2, padding=1),
                nn.ReLU(inplace=True),
            )
            merge_in = channels[stride] + encoder_channels[stride]
            self.merge[str(stride)] = nn.Sequential(
                nn.Conv2d(merge_in, channels[stride], 3, padding=1),
                nn.ReLU(inplace=True),
            )
            previous = stride
        self.inject = nn.ModuleDict(
            {
                str(stride): nn.Conv2d(channels[max(stride, first)], out, 1)
                for stride, out in decoder_channels.items()
            }
        )
        top = max(strides)
        self.reference = nn.Sequential(
            nn.Linear(REFERENCE_FEATURES, 256), nn.ReLU(inplace=True), nn.Linear(256, 256)
        )
        self.inject_reference = nn.Linear(256, decoder_channels[top])
        zeroed: list[nn.Conv2d | nn.Linear] = [*self.inject.values(), self.inject_reference]  # type: ignore[list-item]
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            assert layer.bias is not None
            nn.init.zeros_(layer.bias)

    def forward(
        self, hints: Tensor, reference: Tensor, features: dict[int, Tensor]
    ) -> dict[int, Tensor]:
        """Hint map ``(N, 3, H, W)``, reference ``(N, F)`` and the encoder's maps by
        stride -> additions per decoder stride."""
        maps = {
            self.first_stride: self.stem(
                torch.cat(
                    (pool_hints(hints, self.first_stride), features[self.first_stride]), dim=1
                )
            )
        }
        previous = self.first_stride
        for key, down in self.down.items():
            stride = int(key)
            climbed = down(maps[previous])
            maps[stride] = self.merge[key](torch.cat((climbed, features[stride]), dim=1))
            previous = stride
        additions: dict[int, Tensor] = {}
        for key, layer in self.inject.items():
            stride = int(key)
            added = layer(maps[max(stride, self.first_stride)])
            if stride < self.first_stride:
                added = F.interpolate(added, scale_factor=self.first_stride // stride)
            additions[stride] = added
        top = max(self.strides)
        glob = self.inject_reference(self.reference(reference))[:, :, None, None]
        additions[top] = additions[top] + glob
        return additions


_POOLED_HINT_CHANNELS = 4
"""Pooled hint map: a, b (mask-weighted mean, / HINT_SCALE), hinted share, any hint."""


def pool_hints(hints: Tensor, stride: int) -> Tensor:
    """Hint map ``(N, 3, H, W)`` -> ``(N, 4, H/stride, W/stride)`` keeping hint colours.

    Average pooling would dilute a 1-pixel hint's ab by ``stride²``; this divides the
    pooled ab·mask by the pooled mask instead, so a cell holding any hint carries its
    colour, and adds the hinted share and a 0/1 "any hint here" channel.
    """
    mask = hints[:, 2:3]
    share = F.avg_pool2d(mask, stride)
    mean_ab = F.avg_pool2d(hints[:, :2] * mask, stride) / share.clamp(min=1e-6)
    mean_ab = mean_ab * (share > 0) / HINT_SCALE
    return torch.cat((mean_ab, share, F.max_pool2d(mask, stride)), dim=1)


class LiteUNetBody(Body):
    """EfficientNet-Lite encoder (strides 2–32) + U-Net decoder to ``output_stride``."""

    def __init__(
        self,
        variant: str,
        *,
        width: int = 32,
        output_stride: int = 4,
        pretrained: bool = False,
        guided: bool = False,
    ) -> None:
        super().__init__()
        if output_stride not in (2, 4):
            raise ValueError(f"output_stride must be 2 or 4, got {output_stride}")
        if width < 8:
            raise ValueError(f"width must be at least 8, got {width}")
        self.encoder = efficientnet_lite(variant, pretrained=pretrained, num_classes=0, gray=True)
        skips = dict(zip((2, 4, 8, 16, 32), self.encoder.feature_channels, strict=True))
        channels = width * _DECODER_MULTIPLES[32]
        self.bottleneck = conv_bn_relu(skips[32], channels, kernel_size=1)
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.up = nn.ModuleList()
        stride = 32
        while stride > output_stride:
            stride //= 2
            out = width * _DECODER_MULTIPLES[stride]
            self.up.append(DoubleConv(channels + skips[stride], out))
            channels = out
        self.skip_strides = [16 // 2**i for i in range(len(self.up))]
        self.guided = guided
        self.hint_branch: HintBranch | None = None
        if guided:
            decoder_channels = {32: width * _DECODER_MULTIPLES[32]}
            decoder_channels.update(
                {stride: width * _DECODER_MULTIPLES[stride] for stride in self.skip_strides}
            )
            self.hint_branch = HintBranch(decoder_channels, skips, width)
        self.out_channels = channels
        self.output_stride = output_stride
        self.size_multiple = 32
        self.imagenet_statistics: Tensor
        self.register_buffer("imagenet_statistics", torch.tensor(pretrained))
        """Keep the encoder's BatchNorm in eval mode (saved, so a resumed run keeps it)."""
        self.trainable_levels = 0 if pretrained else len(self.encoder.levels())
        self.set_trainable_levels(self.trainable_levels)
        self.base_frozen = False

    def freeze_base(self) -> None:
        """Train only the hint branch: every other weight and BatchNorm statistic stays."""
        if self.hint_branch is None:
            raise ValueError("freeze_base needs a guided body")
        self.requires_grad_(False)
        self.hint_branch.requires_grad_(True)
        self.base_frozen = True
        self.train(self.training)

    def set_trainable_levels(self, levels: int) -> None:
        """Train the encoder's top ``levels`` feature levels (0 = frozen, 5 = all)."""
        if getattr(self, "base_frozen", False):
            return  # only the hint branch trains
        groups = self.encoder.levels()
        levels = max(0, min(levels, len(groups)))
        for index, group in enumerate(groups):
            trainable = index >= len(groups) - levels
            for module in group:
                module.requires_grad_(trainable)
        self.trainable_levels = levels

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The encoder's parameters (trained at a lower learning rate when unfrozen)."""
        return list(self.encoder.parameters())

    def train(self, mode: bool = True) -> LiteUNetBody:
        super().train(mode)
        if bool(self.imagenet_statistics):
            self.encoder.eval()  # ImageNet BatchNorm statistics, in every batch
        if getattr(self, "base_frozen", False):
            for child in self.children():
                if child is not self.hint_branch:
                    child.eval()
        return self

    def forward(
        self, x: Tensor, hints: Tensor | None = None, reference: Tensor | None = None
    ) -> Tensor:
        """Normalised L ``(N, 1, H, W)`` [+ hint map ``(N, 3, H, W)``, reference ``(N, F)``]."""
        lightness = x * 50.0 + 50.0  # ColorModel hands over (L - 50) / 50
        gray = (lightness_to_gray_srgb(lightness) - INPUT_MEAN) / INPUT_STD
        features = self.encoder.features(gray)
        by_stride = dict(zip((2, 4, 8, 16, 32), features, strict=True))
        additions: dict[int, Tensor] = {}
        if self.hint_branch is not None and (hints is not None or reference is not None):
            if hints is None:
                hints = x.new_zeros(x.shape[0], HINT_CHANNELS, *x.shape[-2:])
            if reference is None:
                reference = x.new_zeros(x.shape[0], REFERENCE_FEATURES)
            # an image with no hint and no reference gets no addition at all: the guided
            # model without hints *is* the automatic model it was fine-tuned from
            given = (hints[:, 2].flatten(1).amax(dim=1) > 0) | (reference[:, -1] > 0)
            gate = given.to(x.dtype)[:, None, None, None]
            branch = self.hint_branch(hints, reference, by_stride)
            additions = {stride: added * gate for stride, added in branch.items()}
        out = self.bottleneck(by_stride[32])
        if 32 in additions:
            out = out + additions[32]
        for stride, up in zip(self.skip_strides, self.up, strict=True):
            out = up(torch.cat((self.upsample(out), by_stride[stride]), dim=1))
            if stride in additions:
                out = out + additions[stride]
        return out


@register_model("lite0")
def lite0(
    *, width: int = 32, output_stride: int = 4, pretrained: bool = False, guided: bool = False
) -> LiteUNetBody:
    """EfficientNet-Lite0 encoder (ImageNet with --pretrained) + U-Net decoder [+ hints]."""
    return LiteUNetBody(
        "lite0", width=width, output_stride=output_stride, pretrained=pretrained, guided=guided
    )


@register_model("lite1")
def lite1(
    *, width: int = 32, output_stride: int = 4, pretrained: bool = False, guided: bool = False
) -> LiteUNetBody:
    """EfficientNet-Lite1 encoder (ImageNet with --pretrained) + U-Net decoder [+ hints]."""
    return LiteUNetBody(
        "lite1", width=width, output_stride=output_stride, pretrained=pretrained, guided=guided
    )


@register_model("lite2")
def lite2(
    *, width: int = 32, output_stride: int = 4, pretrained: bool = False, guided: bool = False
) -> LiteUNetBody:
    """EfficientNet-Lite2 encoder (ImageNet with --pretrained) + U-Net decoder [+ hints]."""
    return LiteUNetBody(
        "lite2", width=width, output_stride=output_stride, pretrained=pretrained, guided=guided
    )
