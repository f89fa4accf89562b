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
from dataclasses import dataclass

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


SPREAD_SPACE = 0.15
"""Hint spreading: spatial reach, as a fraction of the photo's longer side."""
SPREAD_LIGHTNESS = 6.0
"""Hint spreading: reach across lightness, in L units (edges stop a hint)."""
SPREAD_PRIOR = 0.1
"""Hint spreading: weight of "keep the model's colour" against the hints' pull."""
SPREAD_MAX_CELLS = 1024
"""Hinted grid cells that pull at most (memory ∝ cells × grid)."""


@dataclass(frozen=True)
class HintSpread:
    """How far :func:`spread_hints` carries a hint's colour (defaults chosen on training
    photos with ``scripts/tune_hints.py``)."""

    space: float = SPREAD_SPACE
    lightness: float = SPREAD_LIGHTNESS
    prior: float = SPREAD_PRIOR


def spread_hints(
    ab: Tensor, lightness: Tensor, hints: Tensor, settings: HintSpread | None = None
) -> Tensor:
    """Move predicted colours towards the hints nearby: an edge-aware residual correction.

    Each hinted cell ``k`` pulls the colours around it by its residual
    ``r_k = hint_k − ab(x_k)`` with a joint-bilateral weight
    ``w_k(x) = exp(−|x − x_k|² / 2σ²) · exp(−(L(x) − L_k)² / 2λ²)``; the correction is
    ``Σ w_k r_k / (prior + Σ w_k)``, so a hinted cell gets (almost) its hint, the pull
    fades with distance and across a change of lightness, and far from every hint the
    model's own colour stays. The network already takes the hints in; this makes a
    hint's colour arrive where the user put it, whatever the model made of it.

    Args:
        ab: ``(N, 2, h, w)`` predicted ab (Lab units) on the prediction grid.
        lightness: ``(N, 1, h, w)`` L (0‥100) on the same grid.
        hints: ``(N, 3, H, W)`` hint map at any resolution (pooled to the grid).
        settings: σ (``space``, a fraction of the grid's longer side), λ (``lightness``,
            L units) and ``prior`` (> 0, the weight of the model's own colour).

    Returns:
        ``(N, 2, h, w)`` corrected ab; ``ab`` itself where an image has no hint.
    """
    _check_ab(ab)
    settings = settings or HintSpread()
    space, lightness_reach, prior = settings.space, settings.lightness, settings.prior
    if hints.dim() != 4 or hints.shape[1] != HINT_CHANNELS or hints.shape[0] != ab.shape[0]:
        raise ValueError(f"hints must have shape (N, 3, H, W), got {tuple(hints.shape)}")
    height, width = ab.shape[-2:]
    mask = F.adaptive_avg_pool2d(hints[:, 2:3].float(), (height, width))
    hint_ab = F.adaptive_avg_pool2d(hints[:, :2].float() * hints[:, 2:3], (height, width))
    hint_ab = hint_ab / mask.clamp(min=1e-6)
    sigma = space * max(height, width)
    ys = torch.arange(height, device=ab.device, dtype=torch.float32)
    xs = torch.arange(width, device=ab.device, dtype=torch.float32)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    out = ab.clone()
    for index in range(ab.shape[0]):
        cells = (mask[index, 0] > 0).nonzero()  # (K, 2): y, x
        if cells.numel() == 0:
            continue
        if len(cells) > SPREAD_MAX_CELLS:  # a broad scribble: an even subset pulls as well
            cells = cells[torch.linspace(0, len(cells) - 1, SPREAD_MAX_CELLS).long()]
        cy, cx = cells[:, 0], cells[:, 1]
        residual = hint_ab[index, :, cy, cx] - ab[index, :, cy, cx].float()  # (2, K)
        level = lightness[index, 0].float()
        distance = (grid_y[None] - cy[:, None, None]) ** 2 + (grid_x[None] - cx[:, None, None]) ** 2
        contrast = (level[None] - level[cy, cx][:, None, None]) ** 2
        weights = torch.exp(-distance / (2 * sigma**2) - contrast / (2 * lightness_reach**2))
        pull = torch.einsum("ck,khw->chw", residual, weights)
        out[index] = (ab[index].float() + pull / (prior + weights.sum(dim=0))).to(ab.dtype)
    return out
