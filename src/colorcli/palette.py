"""Colour classes for classification heads: k-means palettes and Zhang et al.'s ab gamut grid.

Both are a set of ab centres ``(K, 2)`` in Lab units. Targets are encoded either
hard (index of the nearest centre) or soft (Gaussian weights over the 5 nearest
centres, Zhang et al. 2016, §3.1); logits are decoded to ab by argmax, top-k
averaging or the annealed mean (Zhang et al. 2016, §3.3).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

DecodeMethod = Literal["argmax", "topk", "annealed", "mean"]
DECODE_METHODS: tuple[str, ...] = ("argmax", "topk", "annealed", "mean")

GAMUT_BIN_SIZE = 10.0
GAMUT_LIMIT = 110.0
"""The gamut grid covers a, b in [-110, 110] with bins of 10 (Zhang et al. 2016)."""


def _check_ab_samples(ab: Tensor) -> None:
    if ab.dim() != 2 or ab.shape[1] != 2:
        raise ValueError(f"ab samples must have shape (M, 2), got {tuple(ab.shape)}")
    if ab.shape[0] == 0:
        raise ValueError("ab samples are empty")


def fit_kmeans_palette(ab: Tensor, colors: int, *, iterations: int = 40, seed: int = 0) -> Tensor:
    """Find ``colors`` ab centres by k-means (k-means++ initialisation, Lloyd iterations).

    Args:
        ab: pixel samples ``(M, 2)`` in Lab units, ``M >= colors``.
        colors: number of palette colours K.
        iterations: Lloyd iterations.
        seed: seed of the initialisation.

    Returns:
        Centres ``(K, 2)`` float32, sorted by hue angle then chroma for readability.
    """
    _check_ab_samples(ab)
    if colors < 2:
        raise ValueError(f"a palette needs at least 2 colours, got {colors}")
    points = ab.detach().to(torch.float64)
    if points.shape[0] < colors:
        raise ValueError(f"k-means needs at least {colors} samples, got {points.shape[0]}")
    generator = torch.Generator().manual_seed(seed)
    centres = points[torch.randint(points.shape[0], (1,), generator=generator)]
    for _ in range(1, colors):
        distance = torch.cdist(points, centres).min(dim=1).values ** 2
        total = distance.sum()
        if total <= 0:
            index = torch.randint(points.shape[0], (1,), generator=generator)
        else:
            index = torch.multinomial(distance / total, 1, generator=generator)
        centres = torch.cat((centres, points[index]), dim=0)
    for _ in range(iterations):
        assignment = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=colors).to(points.dtype)
        empty = counts == 0
        updated = sums / counts.clamp(min=1).unsqueeze(1)
        updated[empty] = centres[empty]
        shift = (updated - centres).abs().max()
        centres = updated
        if shift < 1e-4:
            break
    hue = torch.atan2(centres[:, 1], centres[:, 0])
    chroma = centres.norm(dim=1)
    order = sorted(range(colors), key=lambda i: (round(float(hue[i]), 3), float(chroma[i])))
    return centres[order].to(torch.float32)


def gamut_grid() -> Tensor:
    """All centres of the full 10-unit ab grid over [-110, 110]: ``(23*23, 2)`` (a, b)."""
    values = torch.arange(-GAMUT_LIMIT, GAMUT_LIMIT + 1e-6, GAMUT_BIN_SIZE)
    a, b = torch.meshgrid(values, values, indexing="ij")
    return torch.stack((a.flatten(), b.flatten()), dim=1)


def gamut_bin_counts(ab: Tensor) -> Tensor:
    """Histogram of ab samples ``(M, 2)`` over :func:`gamut_grid` bins: ``(529,)`` int64."""
    _check_ab_samples(ab)
    side = round(2 * GAMUT_LIMIT / GAMUT_BIN_SIZE) + 1
    index = torch.round((ab.clamp(-GAMUT_LIMIT, GAMUT_LIMIT) + GAMUT_LIMIT) / GAMUT_BIN_SIZE)
    flat = index[:, 0].long() * side + index[:, 1].long()
    return torch.bincount(flat, minlength=side * side)


def fit_gamut(ab: Tensor, *, min_count: int = 1) -> tuple[Tensor, Tensor]:
    """Zhang et al.'s in-gamut bins: grid centres seen at least ``min_count`` times.

    Args:
        ab: pixel samples ``(M, 2)`` in Lab units.
        min_count: minimum number of samples for a bin to be kept.

    Returns:
        ``(centres (K, 2) float32, counts (K,) int64)``; K ≈ 313 on natural images.
    """
    counts = gamut_bin_counts(ab)
    keep = counts >= min_count
    return gamut_grid()[keep].to(torch.float32), counts[keep]


def rebalancing_weights(
    counts: Tensor, centres: Tensor, *, mix: float = 0.5, sigma: float = 5.0
) -> Tensor:
    """Class rebalancing weights of Zhang et al. 2016, eq. 3-4.

    The empirical distribution p of the classes is smoothed with a Gaussian of
    ``sigma`` (in ab units, over the centres), mixed with a uniform distribution,
    ``w ∝ ((1 - mix) p + mix / K)^-1``, normalised so that ``Σ p w = 1``.

    Args:
        counts: ``(K,)`` sample counts per class.
        centres: ``(K, 2)`` ab centres (for the smoothing distances).
        mix: λ of the paper (0.5).
        sigma: smoothing σ of the paper (5).

    Returns:
        ``(K,)`` float32 weights.
    """
    if counts.dim() != 1 or counts.shape[0] != centres.shape[0]:
        raise ValueError(
            f"counts (K,) and centres (K, 2) disagree: {tuple(counts.shape)} vs "
            f"{tuple(centres.shape)}"
        )
    probability = counts.to(torch.float64) / counts.sum().clamp(min=1)
    if sigma > 0:
        distance = torch.cdist(centres.to(torch.float64), centres.to(torch.float64))
        kernel = torch.exp(-(distance**2) / (2 * sigma**2))
        probability = kernel @ probability
        probability = probability / probability.sum()
    classes = counts.shape[0]
    weights = 1.0 / ((1 - mix) * probability + mix / classes)
    weights = weights / (probability * weights).sum()
    return weights.to(torch.float32)


def encode_hard(ab: Tensor, centres: Tensor) -> Tensor:
    """Index of the nearest centre for each pixel.

    Args:
        ab: ``(N, 2, H, W)`` in Lab units.
        centres: ``(K, 2)``.

    Returns:
        ``(N, H, W)`` int64 class indices.
    """
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (N, 2, H, W), got {tuple(ab.shape)}")
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    index = torch.cdist(flat, centres.to(ab)).argmin(dim=1)
    return index.view(ab.shape[0], ab.shape[2], ab.shape[3])


def encode_soft(ab: Tensor, centres: Tensor, *, neighbours: int = 5, sigma: float = 5.0) -> Tensor:
    """Soft-encode ab over its ``neighbours`` nearest centres with a Gaussian of ``sigma``.

    Args:
        ab: ``(N, 2, H, W)`` in Lab units.
        centres: ``(K, 2)``.

    Returns:
        ``(N, K, H, W)`` target distribution (sums to 1 over K).
    """
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (N, 2, H, W), got {tuple(ab.shape)}")
    n, _, h, w = ab.shape
    k = centres.shape[0]
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    distance = torch.cdist(flat, centres.to(ab))
    nearest, index = distance.topk(min(neighbours, k), dim=1, largest=False)
    weights = torch.softmax(-(nearest**2) / (2 * sigma**2), dim=1)
    target = torch.zeros(flat.shape[0], k, device=ab.device, dtype=ab.dtype)
    target.scatter_(1, index, weights)
    return target.view(n, h, w, k).permute(0, 3, 1, 2)


def decode_logits(
    logits: Tensor,
    centres: Tensor,
    *,
    method: str = "annealed",
    temperature: float = 0.38,
    top_k: int = 3,
) -> Tensor:
    """Turn class logits into ab.

    Args:
        logits: ``(N, K, H, W)``.
        centres: ``(K, 2)`` ab centres in Lab units.
        method: ``argmax``; ``topk`` (probability-weighted mean of the ``top_k`` most likely
            colours, the U-Net report's top-3 averaging); ``annealed`` (annealed mean,
            ``softmax(logits / T)``-weighted mean, Zhang et al. 2016 eq. 5); ``mean``
            (expectation, T = 1).
        temperature: T of the annealed mean (0.38 in the paper).
        top_k: k of ``topk``.

    Returns:
        ``(N, 2, H, W)`` ab in Lab units.
    """
    if logits.dim() != 4 or logits.shape[1] != centres.shape[0]:
        raise ValueError(
            f"logits must have shape (N, {centres.shape[0]}, H, W), got {tuple(logits.shape)}"
        )
    centres = centres.to(device=logits.device, dtype=logits.dtype)
    if method == "argmax":
        index = logits.argmax(dim=1)
        return centres[index].permute(0, 3, 1, 2)
    if method == "topk":
        values, index = logits.topk(min(top_k, centres.shape[0]), dim=1)
        weights = torch.softmax(values, dim=1)
        chosen = centres[index]  # (N, k, H, W, 2)
        return (weights.unsqueeze(-1) * chosen).sum(dim=1).permute(0, 3, 1, 2)
    if method in ("annealed", "mean"):
        t = temperature if method == "annealed" else 1.0
        if t <= 0 or not math.isfinite(t):
            raise ValueError(f"temperature must be positive, got {t}")
        probability = torch.softmax(logits / t, dim=1)
        return torch.einsum("nkhw,kc->nchw", probability, centres)
    raise ValueError(f"unknown decode method {method!r}; use one of {', '.join(DECODE_METHODS)}")


def downsample_ab(ab: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-average ab ``(N, 2, H, W)`` to ``size`` (the prediction grid of a model)."""
    if tuple(ab.shape[-2:]) == tuple(size):
        return ab
    return F.adaptive_avg_pool2d(ab, size)
