"""Heads: regression of ab, or classification over K colour classes (palette or gamut)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorcli.palette import DECODE_METHODS, decode_logits, downsample_ab, encode_hard, encode_soft

AB_NORMALISER = 128.0
"""Regression losses compare ab / 128 (about [-1, 1]), as the ResNet34 report did."""


class RegressionHead(nn.Module):
    """1×1 convolution to ab (Lab units): ``scale × activation(conv(features))``.

    Args:
        in_channels: channels of the body's features.
        scale: Lab units per unit of output (110 by default, 128 with tanh).
        activation: ``None`` or ``"tanh"`` (the fusion report's tanh·128 output).
        loss: ``"mse"`` or ``"smooth_l1"``, on ab / 128.
    """

    kind = "regression"

    def __init__(
        self,
        in_channels: int,
        *,
        scale: float = 110.0,
        activation: str | None = None,
        loss: str = "mse",
    ) -> None:
        super().__init__()
        if activation not in (None, "tanh"):
            raise ValueError(f"activation must be None or 'tanh', got {activation!r}")
        if loss not in ("mse", "smooth_l1"):
            raise ValueError(f"loss must be 'mse' or 'smooth_l1', got {loss!r}")
        self.conv = nn.Conv2d(in_channels, 2, kernel_size=1)
        self.scale = scale
        self.activation = activation
        self.loss_name = loss

    def forward(self, features: Tensor) -> Tensor:
        """Features ``(N, C, h, w)`` -> ab ``(N, 2, h, w)`` in Lab units."""
        out = self.conv(features)
        if self.activation == "tanh":
            out = torch.tanh(out)
        return out * self.scale

    def decode(self, output: Tensor, **_: object) -> Tensor:
        """Regression output already is ab."""
        return output

    def loss(self, output: Tensor, ab: Tensor) -> Tensor:
        """Loss of ab ``output (N, 2, h, w)`` against ``ab (N, 2, H, W)`` (area-downsampled)."""
        target = downsample_ab(ab, (output.shape[-2], output.shape[-1]))
        prediction = output.float() / AB_NORMALISER
        target = target.float() / AB_NORMALISER
        if self.loss_name == "smooth_l1":
            return F.smooth_l1_loss(prediction, target, beta=0.1)
        return F.mse_loss(prediction, target)


class ClassificationHead(nn.Module):
    """1×1 convolution to logits over K ab centres, with encoding, loss and decoding.

    The centres ``(K, 2)`` and class weights ``(K,)`` are buffers: they are fitted on the
    training data (:mod:`colorcli.palette`) and travel in the checkpoint's state dict.

    Args:
        in_channels: channels of the body's features.
        num_classes: K.
        soft_encoding: Zhang et al.'s 5-nearest Gaussian soft targets (gamut) instead of
            the nearest centre (palette).
        rebalance: weight the loss by the class weights (λ = 0.5 rebalancing).
        decode: default decoding, one of ``argmax``, ``topk``, ``annealed``, ``mean``.
        temperature: T of the annealed mean.
        top_k: k of top-k averaging.
    """

    kind = "classification"

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        soft_encoding: bool = False,
        rebalance: bool = False,
        decode: str = "annealed",
        temperature: float = 0.38,
        top_k: int = 3,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a classification head needs at least 2 classes, got {num_classes}")
        if decode not in DECODE_METHODS:
            raise ValueError(f"decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        self.num_classes = num_classes
        self.soft_encoding = soft_encoding
        self.rebalance = rebalance
        self.decode_method = decode
        self.temperature = temperature
        self.top_k = top_k
        self.centres: Tensor
        self.class_weights: Tensor
        self.register_buffer("centres", torch.zeros(num_classes, 2))
        self.register_buffer("class_weights", torch.ones(num_classes))

    def set_palette(self, centres: Tensor, class_weights: Tensor | None = None) -> None:
        """Install fitted ab centres ``(K, 2)`` and optional class weights ``(K,)``."""
        if centres.shape != (self.num_classes, 2):
            raise ValueError(
                f"centres must have shape ({self.num_classes}, 2), got {tuple(centres.shape)}"
            )
        self.centres.copy_(centres)
        if class_weights is not None:
            if class_weights.shape != (self.num_classes,):
                raise ValueError(
                    f"class weights must have shape ({self.num_classes},), "
                    f"got {tuple(class_weights.shape)}"
                )
            self.class_weights.copy_(class_weights)

    def forward(self, features: Tensor) -> Tensor:
        """Features ``(N, C, h, w)`` -> logits ``(N, K, h, w)``."""
        return self.conv(features)

    def decode(
        self,
        logits: Tensor,
        *,
        method: str | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
    ) -> Tensor:
        """Logits ``(N, K, h, w)`` -> ab ``(N, 2, h, w)`` (see :func:`decode_logits`)."""
        return decode_logits(
            logits.float(),
            self.centres,
            method=method or self.decode_method,
            temperature=self.temperature if temperature is None else temperature,
            top_k=self.top_k if top_k is None else top_k,
        )

    def loss(self, logits: Tensor, ab: Tensor) -> Tensor:
        """Cross-entropy of ``logits (N, K, h, w)`` against ab ``(N, 2, H, W)``."""
        target_ab = downsample_ab(ab.float(), (logits.shape[-2], logits.shape[-1]))
        logits = logits.float()
        if self.soft_encoding:
            target = encode_soft(target_ab, self.centres)
            per_pixel = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
            if self.rebalance:
                per_pixel = per_pixel * self.class_weights[target.argmax(dim=1)]
            return per_pixel.mean()
        index = encode_hard(target_ab, self.centres)
        weight = self.class_weights if self.rebalance else None
        return F.cross_entropy(logits, index, weight=weight)
