"""Run a colourisation model on one batch of prepared images: ab (and confidence) per image."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from colorcli.color import AB_LIMIT
from colorcli.guidance import HintSpread, empty_hints, no_reference, spread_hints
from colorcli.model_input import ModelInput
from colorcli.models import ColorModel


def _guidance_batch(
    inputs: Sequence[ModelInput], device: torch.device
) -> tuple[Tensor | None, Tensor | None]:
    """Stacked hint maps and references of a batch (empty ones for images without)."""
    hints = reference = None
    if any(item.hints is not None for item in inputs):
        hints = torch.stack(
            [
                item.hints if item.hints is not None else empty_hints(item.lightness[None])[0]
                for item in inputs
            ]
        ).to(device)
    if any(item.reference is not None for item in inputs):
        reference = torch.stack(
            [
                item.reference if item.reference is not None else no_reference(1)[0]
                for item in inputs
            ]
        ).to(device)
    return hints, reference


def _spread(
    ab: Tensor, lightness: Tensor, hints: Tensor, saturation: float, settings: HintSpread
) -> Tensor:
    """:func:`spread_hints` on the prediction grid, in the units before ``saturation``
    (colours the gamut has no room for at a pixel's L are desaturated in the join)."""
    grid = F.adaptive_avg_pool2d(lightness.float(), (ab.shape[-2], ab.shape[-1]))
    scaled = hints.float().clone()
    if saturation > 0:
        scaled[:, :2] /= saturation
    return spread_hints(ab, grid, scaled, settings)


MIRROR_SCALE = 10.0
"""ab distance (Lab units) at which a regression model's mirror confidence is 1/e."""


def mirror_confidence(
    model: ColorModel,
    lightness: Tensor,
    ab: Tensor,
    hints: Tensor | None = None,
    reference: Tensor | None = None,
) -> Tensor:
    """Confidence ``(N, 1, h, w)`` in (0, 1] of a regression model, which predicts no
    distribution: how well its ab agrees with its own ab for the mirrored photo.

    A photo and its mirror image have the same colours, so the two predictions estimate
    the same truth; by the triangle inequality their distance ``d`` is at most the sum of
    their errors, so where they disagree at least one is wrong by ``d / 2`` or more. Where
    they agree the model is consistent (not necessarily right). ``exp(-d / MIRROR_SCALE)``:
    1 for agreement, 0.37 at 10 ab units apart (a clearly different colour), near 0
    beyond 30. Costs one more forward pass.

    Args:
        lightness: the batch the model saw, ``(N, 1, H, W)``; ``ab`` its decoded output
            ``(N, 2, h, w)``; ``hints`` ``(N, C, H, W)`` and ``reference`` as it saw them.
    """
    mirrored_hints = None if hints is None else hints.flip(-1)
    twin = model.decode(model(lightness.flip(-1), mirrored_hints, reference)).flip(-1)
    distance = (ab.float() - twin.float()).norm(dim=1, keepdim=True)
    return torch.exp(-distance / MIRROR_SCALE)


@torch.inference_mode()
def predict_ab(
    model: ColorModel,
    inputs: Sequence[ModelInput],
    *,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    forward: Callable[[Tensor], Tensor] | None = None,
    confidence: bool = False,
    spread: HintSpread | None = None,
    saturation: float = 1.0,
) -> list[Tensor]:
    """Run the model on a batch; return each image's ab ``(2, h, w)`` (its content only, CPU).

    With ``confidence`` each result is ``(3, h, w)``: ab, then the model's per-pixel
    confidence in [0, 1]: :meth:`ColorModel.confidence` for colour-class models,
    :func:`mirror_confidence` for regression ones. Inputs carrying hints or a
    reference are run with them (guided models only; others raise ModelError).

    Args:
        model: the colouriser (already on ``device``).
        inputs: prepared images, all of the same square size.
        device: where the model is.
        autocast_dtype: fp16/bf16 autocast on CUDA/MPS, or None for float32.
        forward: replaces ``model.predict_ab`` (e.g. its ``torch.compile``-d form).
        spread: move colours near local hints towards them this far
            (:func:`colorcli.guidance.spread_hints`) after the model has taken them in;
            None: the model's colours as they are.
        saturation: the factor the join will scale ab by, so that a spread hint arrives
            with the user's colour, not ``saturation`` times it.
    """
    batch = torch.stack([item.lightness for item in inputs])
    if device.type == "cuda":
        # pinned host memory makes the copy asynchronous
        batch = batch.pin_memory().to(device, non_blocking=True)
    else:
        batch = batch.to(device)
    if device.type in ("cpu", "cuda"):
        batch = batch.contiguous(memory_format=torch.channels_last)
    hints, reference = _guidance_batch(inputs, device)
    with_guidance = hints is not None or reference is not None
    context: contextlib.AbstractContextManager = contextlib.nullcontext()
    if autocast_dtype is not None and device.type != "cpu":
        context = torch.autocast(device.type, dtype=autocast_dtype)
    maps: Tensor | None = None
    with context:
        if with_guidance or confidence:
            output = model(batch, hints, reference)
            ab = model.decode(output)
            if confidence:
                if model.is_classifier:
                    maps = model.confidence(output)
                else:
                    maps = mirror_confidence(model, batch, ab, hints, reference)
                maps = F.interpolate(
                    maps, size=batch.shape[-2:], mode="bilinear", align_corners=False
                )
            if spread is not None and hints is not None:
                ab = _spread(ab.float(), batch, hints, saturation, spread)
            if ab.shape[-2:] != batch.shape[-2:]:
                ab = F.interpolate(ab, size=batch.shape[-2:], mode="bilinear", align_corners=False)
        else:
            ab = (forward or model.predict_ab)(batch)
    ab = ab.float().clamp_(-AB_LIMIT, AB_LIMIT).cpu()
    abs_ = [ab[i, :, : item.content[0], : item.content[1]] for i, item in enumerate(inputs)]
    if maps is None:
        return abs_
    maps = maps.float().clamp_(0.0, 1.0).cpu()
    return [
        torch.cat((ab_i, maps[i, :, : item.content[0], : item.content[1]]))
        for i, (ab_i, item) in enumerate(zip(abs_, inputs, strict=True))
    ]
