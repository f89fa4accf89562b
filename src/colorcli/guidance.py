"""Colour hints as tensors: local ab hints + mask, reference histograms, and their simulation.

After Zhang et al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep
Priors": a guided model takes, beside L, a hint map ``(N, 3, H, W)`` — a and b in Lab
units where the user (or the simulation) revealed a colour, and a mask in [0, 1] — and
optionally a global hint: the ab histogram of a reference photo over a fixed grid of
10-unit gamut bins, plus a flag saying one was given. Training simulates both from the
ground truth; evaluation simulates a fixed number of points per photo, deterministically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from colorcli.palette import GAMUT_BIN_SIZE, GAMUT_LIMIT

HISTOGRAM_SIDE = int(2 * GAMUT_LIMIT / GAMUT_BIN_SIZE)
"""Bins per axis of the reference histogram (10-unit bins over a, b in [-110, 110))."""
REFERENCE_FEATURES = HISTOGRAM_SIDE * HISTOGRAM_SIDE + 1
"""Length of a global hint: the flattened histogram, then 1 where a reference was given."""
HINT_CHANNELS = 3
"""a, b (Lab units, 0 where not hinted) and the mask."""

TRAIN_NO_HINT_FRACTION = 0.25
"""Share of training images given no local hint (so the model still colours on its own)."""
TRAIN_POINTS_P = 1.0 / 8.0
"""Further points ~ geometric with this p (mean 8), as Zhang et al. trained."""
TRAIN_MAX_POINTS = 40
TRAIN_PATCH_SIDES = (1, 3, 5, 7)
"""Side in pixels of a simulated hint patch (revealing the patch's mean ab)."""
TRAIN_REFERENCE_FRACTION = 0.3
"""Share of training images given their own (or a crop's) histogram as the global hint."""
EVAL_PATCH_SIDE = 3


def _check_ab(ab: Tensor) -> None:
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (N, 2, H, W), got {tuple(ab.shape)}")


def ab_histogram(ab: Tensor, weights: Tensor | None = None) -> Tensor:
    """Normalised ab histogram ``(N, REFERENCE_FEATURES)`` of ``ab (N, 2, H, W)``, flag = 1.

    Args:
        ab: Lab units; values outside [-110, 110) fall in the edge bins.
        weights: optional ``(N, 1, H, W)`` pixel weights (e.g. the pixels of a crop).
    """
    _check_ab(ab)
    count = HISTOGRAM_SIDE
    index = ((ab.float() + GAMUT_LIMIT) / GAMUT_BIN_SIZE).floor().clamp_(0, count - 1).long()
    flat = (index[:, 0] * count + index[:, 1]).flatten(1)
    w = torch.ones_like(flat, dtype=torch.float32) if weights is None else weights.flatten(1)
    histogram = torch.zeros(ab.shape[0], count * count, device=ab.device)
    histogram.scatter_add_(1, flat, w.float())
    histogram = histogram / histogram.sum(dim=1, keepdim=True).clamp(min=1e-8)
    flag = torch.ones(ab.shape[0], 1, device=ab.device)
    return torch.cat((histogram, flag), dim=1)


def no_reference(batch: int, device: torch.device | None = None) -> Tensor:
    """The global hint meaning "no reference": zeros ``(batch, REFERENCE_FEATURES)``."""
    return torch.zeros(batch, REFERENCE_FEATURES, device=device)


def empty_hints(lightness: Tensor) -> Tensor:
    """No local hint for ``lightness (N, 1, H, W)``: zeros ``(N, 3, H, W)``."""
    return lightness.new_zeros(lightness.shape[0], HINT_CHANNELS, *lightness.shape[-2:])


def reveal_patch(hints: Tensor, ab: Tensor, index: int, y: int, x: int, side: int) -> None:
    """Write the mean ab of the ``side``-pixel patch at (y, x) of image ``index`` into ``hints``."""
    height, width = ab.shape[-2:]
    top, left = max(0, y - side // 2), max(0, x - side // 2)
    bottom, right = min(height, top + side), min(width, left + side)
    mean = ab[index, :, top:bottom, left:right].float().mean(dim=(1, 2))
    hints[index, :2, top:bottom, left:right] = mean[:, None, None]
    hints[index, 2, top:bottom, left:right] = 1.0


def simulate_training_hints(
    ab: Tensor, generator: torch.Generator, no_hint_fraction: float = TRAIN_NO_HINT_FRACTION
) -> Tensor:
    """Random local hints ``(N, 3, H, W)`` revealed from the true ``ab (N, 2, H, W)``.

    ``no_hint_fraction`` of the images (a quarter by default) get none; the others
    1 + Geometric(1/8) points (at most 40) at uniform positions, each a 1–7 px square
    showing the mean true ab under it.
    """
    _check_ab(ab)
    batch, _, height, width = ab.shape
    hints = ab.new_zeros(batch, HINT_CHANNELS, height, width, dtype=torch.float32)
    draws = torch.rand(batch, generator=generator)
    uniform = torch.rand(batch, generator=generator).clamp_(min=1e-6)
    extra = torch.floor(torch.log(uniform) / math.log(1.0 - TRAIN_POINTS_P))
    for index in range(batch):
        if float(draws[index]) < no_hint_fraction:
            continue
        points = int(min(TRAIN_MAX_POINTS, 1 + int(extra[index])))
        ys = torch.randint(0, height, (points,), generator=generator).tolist()
        xs = torch.randint(0, width, (points,), generator=generator).tolist()
        sides = torch.randint(0, len(TRAIN_PATCH_SIDES), (points,), generator=generator)
        for y, x, side in zip(ys, xs, sides.tolist(), strict=True):
            reveal_patch(hints, ab, index, y, x, TRAIN_PATCH_SIDES[side])
    return hints


def simulate_training_reference(
    ab: Tensor, generator: torch.Generator, force: Tensor | None = None
) -> Tensor:
    """Global hints ``(N, REFERENCE_FEATURES)``: some images (and every one where the
    ``(N,)`` bool ``force`` is set) get the histogram of a random crop (half to all of
    each side) of their own ab, the rest none."""
    _check_ab(ab)
    batch, _, height, width = ab.shape
    weights = ab.new_zeros(batch, 1, height, width, dtype=torch.float32)
    given = torch.rand(batch, generator=generator) < TRAIN_REFERENCE_FRACTION
    if force is not None:
        given |= force.cpu()
    for index in range(batch):
        crop_h = int(torch.randint(height // 2, height + 1, (1,), generator=generator))
        crop_w = int(torch.randint(width // 2, width + 1, (1,), generator=generator))
        top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
        weights[index, 0, top : top + crop_h, left : left + crop_w] = 1.0
    reference = ab_histogram(ab, weights)
    return reference * given[:, None].to(reference.device, reference.dtype)


def evaluation_hints(ab: Tensor, count: int, seed: int) -> Tensor:
    """``count`` hints per image at positions fixed by ``seed`` (the same for every model).

    Args:
        ab: ``(N, 2, H, W)`` true ab.
        count: points per image (0 gives an empty map).
        seed: e.g. derived from the file name, so reruns agree.

    Returns:
        ``(N, 3, H, W)`` hint map with 3-pixel patches showing the mean true ab.
    """
    _check_ab(ab)
    batch, _, height, width = ab.shape
    hints = ab.new_zeros(batch, HINT_CHANNELS, height, width, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for index in range(batch):
        ys = torch.randint(0, height, (count,), generator=generator).tolist()
        xs = torch.randint(0, width, (count,), generator=generator).tolist()
        for y, x in zip(ys, xs, strict=True):
            reveal_patch(hints, ab, index, y, x, EVAL_PATCH_SIDE)
    return hints


def pad_hints(hints: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Zero-pad a hint map at the bottom/right (padding is never hinted)."""
    if not (pad_h or pad_w):
        return hints
    return F.pad(hints, (0, pad_w, 0, pad_h))
