"""``ColorModel``: a body plus a head, taking L (0‥100) and giving ab (Lab units)."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from colorcli.errors import ModelError
from colorcli.models._registry import build_body
from colorcli.models.blocks import Body
from colorcli.models.heads import ClassificationHead, RegressionHead

L_CENTRE = 50.0
L_SCALE = 50.0
"""The model sees (L - 50) / 50, about [-1, 1]; normalisation lives inside the model."""

GAMUT_DEFAULT_CLASSES = 313


class ColorModel(nn.Module):
    """A colouriser: normalise L, pad, body, head; decode and upsample to ab.

    Args:
        arch: registry name of the body.
        body: the body module (see :class:`~colorcli.models.blocks.Body`).
        head: a :class:`RegressionHead` or :class:`ClassificationHead`.
        config: everything needed to rebuild this model with :func:`get_model`.
    """

    def __init__(
        self, arch: str, body: Body, head: RegressionHead | ClassificationHead, config: dict
    ) -> None:
        super().__init__()
        self.arch = arch
        self.body = body
        self.head = head
        self.config = dict(config)
        self.inference_size: int | None = None
        """Long side of L this model colours best at (measured when published), if known."""
        self.inference_saturation: float | None = None
        """Factor on predicted ab this model was published with (e.g. 0.9), if any."""

    @property
    def is_classifier(self) -> bool:
        """True when the head predicts logits over colour classes."""
        return isinstance(self.head, ClassificationHead)

    @property
    def accepts_hints(self) -> bool:
        """True for a guided model (local colour hints and a reference histogram)."""
        return bool(getattr(self.body, "guided", False))

    @property
    def output_stride(self) -> int:
        """ab is predicted at ``1 / output_stride`` of the input resolution."""
        return self.body.output_stride

    def num_parameters(self) -> int:
        """Number of trainable and frozen parameters."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, lightness: Tensor, hints: Tensor | None = None, reference: Tensor | None = None
    ) -> Tensor:
        """Raw head output at the prediction grid.

        Args:
            lightness: ``(N, 1, H, W)`` L in [0, 100].
            hints: guided models: ``(N, 3, H, W)`` hint map (a, b in Lab units, mask), see
                :mod:`colorcli.guidance`; None = no local hints.
            reference: guided models: ``(N, REFERENCE_FEATURES)`` global hint, or None.

        Returns:
            ``(N, 2, h, w)`` ab in Lab units (regression) or ``(N, K, h, w)`` logits, with
            ``h = ceil(H / output_stride)``.
        """
        if lightness.dim() != 4 or lightness.shape[1] != 1:
            raise ValueError(f"L must have shape (N, 1, H, W), got {tuple(lightness.shape)}")
        height, width = lightness.shape[-2:]
        x = (lightness - L_CENTRE) / L_SCALE
        multiple = self.body.size_multiple
        pad_h = (-height) % multiple
        pad_w = (-width) % multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        if hints is None and reference is None:
            features = self.body(x)
        elif not self.accepts_hints:
            raise ModelError(
                f"this {self.arch} model takes no colour hints or reference; use a guided model"
            )
        else:
            if hints is not None:
                if hints.shape[0] != x.shape[0] or hints.shape[1] != 3:
                    raise ValueError(
                        f"hints must have shape (N, 3, H, W), got {tuple(hints.shape)}"
                    )
                if pad_h or pad_w:
                    hints = F.pad(hints, (0, pad_w, 0, pad_h))
            features = self.body(x, hints=hints, reference=reference)
        output = self.head(features)
        stride = self.output_stride
        return output[..., : math.ceil(height / stride), : math.ceil(width / stride)]

    def decode(self, output: Tensor, **options: Any) -> Tensor:
        """Head output -> ab ``(N, 2, h, w)`` in Lab units (options: method, temperature)."""
        return self.head.decode(output, **options)

    def predict_ab(
        self,
        lightness: Tensor,
        hints: Tensor | None = None,
        reference: Tensor | None = None,
        **decode_options: Any,
    ) -> Tensor:
        """ab for ``lightness (N, 1, H, W)``, bilinearly upsampled to ``(N, 2, H, W)``."""
        ab = self.decode(self(lightness, hints, reference), **decode_options)
        if ab.shape[-2:] != lightness.shape[-2:]:
            ab = F.interpolate(ab, size=lightness.shape[-2:], mode="bilinear", align_corners=False)
        return ab

    def confidence(self, output: Tensor) -> Tensor:
        """Per-pixel confidence ``(N, 1, h, w)`` in [0, 1] of head ``output``.

        Colour-class heads: 1 − entropy / log K of the predicted distribution (1 = one
        colour certain, 0 = all equally likely).

        Raises:
            ModelError: a regression head, which predicts no distribution.
        """
        if not isinstance(self.head, ClassificationHead):
            raise ModelError(
                f"this {self.arch} model regresses ab and has no per-pixel confidence; "
                "use a colour-class model (e.g. default or vivid)"
            )
        log_p = F.log_softmax(output.float(), dim=1)
        entropy = -(log_p.exp() * log_p).sum(dim=1, keepdim=True)
        return (1.0 - entropy / math.log(self.head.num_classes)).clamp_(0.0, 1.0)

    def loss(self, output: Tensor, ab: Tensor) -> Tensor:
        """Training loss of ``output`` (from :meth:`forward`) against true ab ``(N, 2, H, W)``."""
        return self.head.loss(output, ab)


def get_model(
    name: str,
    *,
    colors: int | str | None = None,
    num_classes: int | None = None,
    loss: str = "mse",
    decode: str = "annealed",
    temperature: float = 0.38,
    top_k: int = 3,
    rebalance: bool | None = None,
    **body_config: Any,
) -> ColorModel:
    """Build a colouriser from the registry.

    Args:
        name: architecture name (see :func:`list_models`).
        colors: ``None`` for ab regression, an int K for a k-means palette of K colours,
            or ``"gamut"`` for Zhang et al.'s in-gamut ab bins.
        num_classes: number of gamut bins (fitted on data; 313 if not given).
        loss: regression loss, ``mse`` or ``smooth_l1``.
        decode: decoding of classification heads (``argmax``, ``topk``, ``annealed``, ``mean``).
        temperature: annealed-mean temperature.
        top_k: k of top-k averaging.
        rebalance: class rebalancing (default: on for gamut, off for palettes).
        **body_config: keyword arguments of the body builder (width, depth, …).

    Returns:
        A :class:`ColorModel` with random weights (palette centres still to be fitted).
    """
    body = build_body(name, body_config)
    if not isinstance(body, Body):
        raise ModelError(f"architecture {name!r} did not build a Body")
    head: RegressionHead | ClassificationHead
    if colors is None or colors == "regression":
        colors = None
        num_classes = None
        head = RegressionHead(
            body.out_channels,
            scale=body.regression_scale,
            activation=body.regression_activation,
            loss=loss,
        )
    else:
        if colors == "gamut":
            num_classes = num_classes or GAMUT_DEFAULT_CLASSES
            soft = True
            rebalance = True if rebalance is None else rebalance
        else:
            try:
                colors = int(colors)
            except (TypeError, ValueError):
                raise ModelError(
                    f"--colors must be a number of colours or 'gamut', got {colors!r}"
                ) from None
            if colors < 2:
                raise ModelError(f"--colors must be at least 2, got {colors}")
            num_classes = colors
            soft = False
            rebalance = False if rebalance is None else rebalance
        try:
            head = ClassificationHead(
                body.out_channels,
                num_classes,
                soft_encoding=soft,
                rebalance=rebalance,
                decode=decode,
                temperature=temperature,
                top_k=top_k,
            )
        except ValueError as error:
            raise ModelError(str(error)) from None
    config: dict[str, Any] = {
        "colors": colors,
        "num_classes": num_classes,
        "loss": loss,
        "decode": decode,
        "temperature": temperature,
        "top_k": top_k,
        "rebalance": rebalance,
        **body_config,
    }
    return ColorModel(name, body, head, config)
