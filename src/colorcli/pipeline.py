"""Colourize photos at full resolution with a loaded model: the :class:`Colorizer`.

Following richzhang/colorization's demo: the model sees L resized so its long side
is ``size`` (reflect-padded to a square so any mix of image sizes batches
together); the predicted ab is upsampled bilinearly to the original size, clamped,
scaled by ``saturation`` and joined to the original full-resolution L.

Each stage has its own module, re-exported here: :mod:`colorcli.model_input`
(:func:`prepare_input`), :mod:`colorcli.prediction` (:func:`predict_ab`, one model batch)
and :mod:`colorcli.color_lut` (:func:`join_full_resolution`, the fast L join).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from colorcli.color_lut import join_full_resolution
from colorcli.errors import ModelError
from colorcli.guidance import HintSpread
from colorcli.hints import HintPoint, Hints
from colorcli.model_input import DEFAULT_SIZE, ModelInput, as_hints, prepare_input
from colorcli.models import ColorModel
from colorcli.models.efficientnet_lite import EfficientNetLite
from colorcli.models.heads import ClassificationHead
from colorcli.prediction import predict_ab

__all__ = [
    "DEFAULT_SIZE",
    "Colorizer",
    "ModelInput",
    "as_hints",
    "confidence_to_image",
    "join_full_resolution",
    "predict_ab",
    "prepare_input",
]


def _conv_norm_pairs(model: nn.Module) -> list[tuple[nn.Sequential, int]]:
    """(container, index) of each Conv2d directly followed by a foldable BatchNorm2d."""
    return [
        (container, index)
        for container in model.modules()
        if isinstance(container, nn.Sequential)
        for index in range(len(container) - 1)
        if isinstance(container[index], nn.Conv2d)
        and isinstance(container[index + 1], nn.BatchNorm2d)
        and container[index + 1].running_mean is not None  # eval uses the running stats
    ]


def _for_inference(model: ColorModel) -> ColorModel:
    """``model`` with each BatchNorm that follows a convolution folded into it (eval only).

    Works on a copy when there is anything to fold, so the caller's model is untouched.
    """
    has_lite = any(isinstance(m, EfficientNetLite) for m in model.modules())
    if not _conv_norm_pairs(model) and not has_lite:
        return model
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, EfficientNetLite):
            module.fold_batch_norm()
    for container, index in _conv_norm_pairs(folded):
        conv, norm = container[index], container[index + 1]
        assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
        container[index] = fuse_conv_bn_eval(conv, norm)
        container[index + 1] = nn.Identity()
    return folded


def _with_temperature(model: ColorModel, temperature: float) -> ColorModel:
    """A copy of ``model`` whose annealed-mean decoding uses ``temperature``."""
    if not 0.01 <= temperature <= 10.0:
        raise ValueError(f"temperature must be in [0.01, 10], got {temperature}")
    head = model.head
    if not isinstance(head, ClassificationHead):
        how = "regresses ab"
    elif head.decode_method != "annealed":
        how = f"decodes its colour classes by {head.decode_method}"
    else:
        how = ""
    if how:
        raise ModelError(
            f"this {model.arch} model {how}: a temperature applies only to models that "
            "decode colour classes by annealed mean"
        )
    model = copy.deepcopy(model)
    assert isinstance(model.head, ClassificationHead)
    model.head.temperature = temperature
    return model


class Colorizer:
    """A loaded model plus inference settings; colourizes batches of full-size images.

    Args:
        model: a :class:`ColorModel` (moved to ``device`` and put in eval mode).
        device: compute device.
        size: inference size (long side of the L the model sees).
        saturation: factor applied to predicted ab (default: the model's published
            ``inference_saturation``, else 1).
        half: run the model in fp16/bf16 autocast on CUDA/MPS (ignored on CPU).
        compile: run the model through ``torch.compile`` (slow first batch; needs a
            working compiler toolchain).
        temperature: annealed-mean temperature of a colour-class model (lower = bolder,
            rarer colours; 1 = the plain mean), instead of the one it was trained with.
        spread_hints: after a guided model has taken local hints in, move the colours
            near each hint towards it, stopping at edges, this far
            (:func:`colorcli.guidance.spread_hints`); None leaves the model's colours.

    Raises:
        ValueError: ``size``, ``saturation`` or ``temperature`` out of range.
        ModelError: ``temperature`` for a model that does not decode by annealed mean.
    """

    def __init__(
        self,
        model: ColorModel,
        *,
        device: torch.device | None = None,
        size: int | None = None,
        saturation: float | None = None,
        half: bool = False,
        compile: bool = False,
        temperature: float | None = None,
        spread_hints: HintSpread | None = HintSpread(),
    ) -> None:
        size = size or model.inference_size or DEFAULT_SIZE
        if saturation is None:
            published = model.inference_saturation
            saturation = 1.0 if published is None else published
        if size < 8:
            raise ValueError(f"inference size must be at least 8, got {size}")
        if saturation < 0:
            raise ValueError(f"saturation must be >= 0, got {saturation}")
        if temperature is not None:
            model = _with_temperature(model, temperature)
        self.device = device or torch.device("cpu")
        self.model = _for_inference(model).to(self.device).eval()
        if self.device.type in ("cpu", "cuda"):
            # oneDNN and cuDNN both run NHWC convolutions faster (about 20 % on CPU here)
            self.model = self.model.to(memory_format=torch.channels_last)
        multiple = model.body.size_multiple
        self.size = max(multiple, (size + multiple - 1) // multiple * multiple)
        self.saturation = saturation
        self.spread_hints = spread_hints
        self.autocast_dtype: torch.dtype | None = None
        if half and self.device.type == "cuda":
            self.autocast_dtype = (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            )
        elif half and self.device.type == "mps":
            self.autocast_dtype = torch.float16
        self.forward: Callable[[Tensor], Tensor] | None = None
        """What runs the model on a batch: None for ``model.predict_ab``, else compiled."""
        if compile:
            self.forward = torch.compile(self.model.predict_ab, dynamic=False)

    def predict(self, inputs: Sequence[ModelInput], *, confidence: bool = False) -> list[Tensor]:
        """ab ``(2, h, w)`` of prepared images (one model batch), on the CPU; with
        ``confidence``, ``(3, h, w)``: ab then the per-pixel confidence."""
        return predict_ab(
            self.model,
            inputs,
            device=self.device,
            autocast_dtype=self.autocast_dtype,
            forward=self.forward,
            confidence=confidence,
            spread=self.spread_hints,
            saturation=self.saturation,
        )

    def prepare(self, pixels: np.ndarray, hints: Hints | None = None) -> ModelInput:
        """:func:`prepare_input` at this colouriser's size; hints need a guided model.

        Raises:
            ModelError: hints or a reference for a model that takes none.
            HintError: see :func:`prepare_input`.
        """
        if hints and not self.model.accepts_hints:
            raise ModelError(
                f"this {self.model.arch} model takes no colour hints or reference photo; "
                "use a guided model (e.g. lite0-guided)"
            )
        return prepare_input(pixels, self.size, hints)

    def join(self, pixels: np.ndarray, ab: Tensor, *, out: np.ndarray | None = None) -> np.ndarray:
        """:func:`join_full_resolution` with this colouriser's saturation and device."""
        return join_full_resolution(
            pixels, ab, saturation=self.saturation, device=self.device, out=out
        )

    def colorize_many(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colourize ``(H, W, 3)`` uint8/uint16 images (any sizes) in one model batch."""
        if not images:
            return []
        abs_ = self.predict([prepare_input(pixels, self.size) for pixels in images])
        return [self.join(pixels, ab) for pixels, ab in zip(images, abs_, strict=True)]

    def colorize(
        self,
        pixels: np.ndarray,
        hints: Hints | Sequence[HintPoint | tuple[float, float, str]] | np.ndarray | None = None,
        reference: np.ndarray | None = None,
    ) -> np.ndarray:
        """Colourize one ``(H, W, 3)`` uint8/uint16 image; same shape and dtype out.

        Args:
            pixels: the photo.
            hints: guided models: points ``(x, y, colour)`` (pixels of ``pixels``, or
                fractions written as floats in [0, 1]; colour as ``#rrggbb``, a CSS name or
                an RGB tuple), :class:`HintPoint` s, an RGBA hint image ``(h, w, 4)`` uint8
                (alpha > 0 marks hinted pixels; scaled to the photo), or :class:`Hints`.
            reference: guided models: an RGB photo whose colours to follow.

        Raises:
            HintError: a malformed hint or one outside the photo.
            ModelError: hints for a model that takes none.
        """
        guidance = as_hints(hints, reference)
        if not guidance:
            return self.colorize_many([pixels])[0]
        ab = self.predict([self.prepare(pixels, guidance)])[0]
        return self.join(pixels, ab)

    def confidence_map(self, pixels: np.ndarray, hints: Hints | None = None) -> np.ndarray:
        """Per-pixel confidence of the model on ``pixels``, full size ``(H, W)`` uint8 (255 = sure).

        Colour-class models: 1 − the normalised entropy of their colour distribution;
        regression models: agreement with their prediction for the mirrored photo
        (:func:`colorcli.prediction.mirror_confidence`).
        """
        result = self.predict([self.prepare(pixels, hints)], confidence=True)[0]
        return confidence_to_image(result[2], pixels.shape[:2])


def confidence_to_image(confidence: Tensor, size: tuple[int, int]) -> np.ndarray:
    """A ``(h, w)`` confidence in [0, 1] as an 8-bit gray image of ``size`` (H, W)."""
    small = (confidence.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
