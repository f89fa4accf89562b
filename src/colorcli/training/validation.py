"""Validation of a colouriser on cached val batches: loss, PSNR and colourfulness."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import Tensor

from colorcli.color import lab_to_rgb
from colorcli.guidance import evaluation_hints
from colorcli.metrics import colorfulness, psnr
from colorcli.models import ColorModel

VALIDATION_FIELDS = ("loss", "psnr", "colorfulness", "count")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def validation_sums(
    model: ColorModel,
    batches: Sequence[dict[str, Tensor]],
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    hints: int = 0,
) -> Tensor:
    """Sums of loss, PSNR and colourfulness over the val images, and their count.

    The caller switches the model to eval mode (and back). Sums rather than means so that
    ranks can add theirs up.

    Args:
        model: the colouriser (not the DDP wrapper).
        batches: dicts with ``lightness`` ``(B, 1, S, S)``, ``ab`` ``(B, 2, S, S)`` and
            optionally ``rgb`` ``(B, 3, S, S)`` in [0, 1].
        device: where the model lives.
        amp_dtype: autocast dtype, or None for full precision.
        channels_last: feed channels-last inputs (CUDA).
        hints: give a guided model this many hints per image simulated from the truth
            (:func:`colorcli.guidance.evaluation_hints`, seeded by the batch's position,
            so every validation sees the same).

    Returns:
        float64 tensor ``(4,)`` on ``device``: loss × images, PSNR (dB) summed over images,
        colourfulness of the predictions summed over images, number of images.
    """
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for position, batch in enumerate(batches):
        lightness = batch["lightness"].to(device, non_blocking=True)
        ab = batch["ab"].to(device, non_blocking=True)
        inputs = lightness.contiguous(memory_format=memory_format)
        guidance: dict[str, Tensor] = {}
        if hints and model.accepts_hints:
            guidance["hints"] = evaluation_hints(batch["ab"], hints, seed=position).to(device)
        with autocast(device, amp_dtype):
            output = model(inputs, **guidance)
            loss = model.loss(output, ab)
        pred_ab = model.decode(output.float())
        if pred_ab.shape[-2:] != lightness.shape[-2:]:
            pred_ab = torch.nn.functional.interpolate(
                pred_ab, size=lightness.shape[-2:], mode="bilinear", align_corners=False
            )
        # as colorcli colorize and eval show it: out-of-gamut colours desaturated at their L
        pred_rgb = lab_to_rgb(torch.cat((lightness, pred_ab), dim=1), keep_lightness=True)
        if "rgb" in batch:
            true_rgb = batch["rgb"].to(device, non_blocking=True)
        else:
            true_rgb = lab_to_rgb(torch.cat((lightness, ab), dim=1))
        count = lightness.shape[0]
        sums[0] += loss.double() * count
        sums[1] += psnr(pred_rgb, true_rgb).double().sum()
        sums[2] += colorfulness(pred_rgb).double().sum()
        sums[3] += count
    return sums


@torch.no_grad()
def predict_samples(model: ColorModel, lightness: Tensor, *, device: torch.device) -> Tensor:
    """ab predictions ``(N, 2, H, W)`` on the CPU for the sample grid (model in eval mode)."""
    return model.predict_ab(lightness.to(device)).float().cpu()
