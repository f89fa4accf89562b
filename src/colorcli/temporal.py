"""Temporal stability for video: smooth predicted ab over frames, reset at cuts, measure flicker.

Everything here works on the small maps the model sees (L ``(h, w)`` in [0, 100] and ab
``(2, h, w)`` in Lab units), so its cost does not grow with the film's resolution.

- Scene cuts: the total-variation distance between the luminance histograms of two
  consecutive frames (0 = same histogram, 1 = disjoint); above a threshold it is a cut.
- Smoothing: an exponential moving average of ab, gated per pixel by how much L changed
  since the previous frame, so still regions are averaged over time while moving objects
  follow the current prediction (no colour trails); the average restarts at every cut.
- Flicker: the mean ab change (Euclidean, Lab units) between consecutive frames over the
  *static* pixels, those whose L changed by less than ``STATIC_L_THRESHOLD``. In a static
  region any colour change is flicker, since nothing there moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

HISTOGRAM_BINS = 32
SCENE_CUT_THRESHOLD = 0.2
"""Histogram distance (0‥1) between consecutive frames above which a scene cut is declared."""
STATIC_L_THRESHOLD = 2.0
"""A pixel whose L changed by less than this (L units, 0‥100) between frames is static."""
MOTION_L_THRESHOLD = 8.0
"""A pixel whose L changed by this much or more is moving: no smoothing there."""
MAX_STRENGTH = 0.95


def _check_lightness(lightness: Tensor) -> Tensor:
    if not isinstance(lightness, Tensor):
        raise TypeError(f"lightness must be a torch.Tensor, got {type(lightness).__name__}")
    if lightness.dim() == 3 and lightness.shape[0] == 1:
        lightness = lightness[0]
    if lightness.dim() != 2:
        raise ValueError(
            f"lightness must have shape (h, w) or (1, h, w), got {tuple(lightness.shape)}"
        )
    return lightness


def luminance_histogram(lightness: Tensor, bins: int = HISTOGRAM_BINS) -> Tensor:
    """Normalised histogram of L.

    Args:
        lightness: ``(h, w)`` or ``(1, h, w)`` float L in [0, 100].
        bins: number of equal bins over [0, 100].

    Returns:
        ``(bins,)`` float64 summing to 1.
    """
    lightness = _check_lightness(lightness)
    counts = torch.histc(lightness.detach().double().cpu(), bins=bins, min=0.0, max=100.0)
    return counts / counts.sum().clamp(min=1.0)


def histogram_distance(a: Tensor, b: Tensor) -> float:
    """Total-variation distance of two normalised histograms: 0 (same) ‥ 1 (disjoint)."""
    if a.shape != b.shape:
        raise ValueError(
            f"histograms must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return float(0.5 * (a - b).abs().sum())


class SceneCutDetector:
    """Says whether each new frame starts a new shot, from luminance histogram changes.

    Args:
        threshold: histogram distance (0‥1) above which a frame is a cut.
    """

    def __init__(self, threshold: float = SCENE_CUT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"scene cut threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._previous: Tensor | None = None

    def reset(self) -> None:
        """Forget the previous frame (the next one is never a cut)."""
        self._previous = None

    def update(self, lightness: Tensor) -> bool:
        """Feed the next frame's L ``(h, w)`` in [0, 100]; True if it starts a new shot."""
        histogram = luminance_histogram(lightness)
        previous, self._previous = self._previous, histogram
        if previous is None:
            return False
        return histogram_distance(previous, histogram) > self.threshold


def static_mask(previous: Tensor, current: Tensor, threshold: float = STATIC_L_THRESHOLD) -> Tensor:
    """``(h, w)`` bool: pixels whose L changed by less than ``threshold`` between two frames."""
    previous, current = _check_lightness(previous), _check_lightness(current)
    if previous.shape != current.shape:
        raise ValueError(
            f"frames must have the same shape, got {tuple(previous.shape)} "
            f"and {tuple(current.shape)}"
        )
    return (current - previous).abs() < threshold


@dataclass
class FlickerMeter:
    """Accumulates the mean ab change between consecutive frames over static pixels."""

    total: float = 0.0
    pixels: int = 0

    def add(self, previous_ab: Tensor, ab: Tensor, static: Tensor) -> None:
        """Add one frame pair: ab ``(2, h, w)`` before and after, ``static`` ``(h, w)`` bool."""
        if previous_ab.shape != ab.shape or ab.shape[1:] != static.shape:
            raise ValueError(
                f"ab maps {tuple(previous_ab.shape)}, {tuple(ab.shape)} and static mask "
                f"{tuple(static.shape)} do not match"
            )
        change = torch.linalg.vector_norm((ab - previous_ab).float(), dim=0)
        self.total += float(change[static].sum())
        self.pixels += int(static.sum())

    @property
    def value(self) -> float | None:
        """Mean ab change in Lab units over every static pixel seen, or None if there were none."""
        return self.total / self.pixels if self.pixels else None


class TemporalSmoother:
    """Motion-gated exponential moving average of ab over the frames of a film.

    For each pixel the new ab is ``w * previous + (1 - w) * predicted`` where
    ``w = strength`` when L barely changed (below ``STATIC_L_THRESHOLD``), falling linearly
    to 0 at ``MOTION_L_THRESHOLD``; at a scene cut the average starts afresh. The flicker
    of the raw predictions and of the smoothed ab is measured as frames go by.

    Args:
        strength: weight of the past, 0 (no smoothing) ‥ 0.95.
        scene_cut_threshold: see :class:`SceneCutDetector`.
    """

    def __init__(
        self, strength: float, *, scene_cut_threshold: float = SCENE_CUT_THRESHOLD
    ) -> None:
        if not (0.0 <= strength <= MAX_STRENGTH) or math.isnan(strength):
            raise ValueError(f"temporal strength must be in [0, {MAX_STRENGTH}], got {strength}")
        self.strength = strength
        self.detector = SceneCutDetector(scene_cut_threshold)
        self.flicker_before = FlickerMeter()
        self.flicker_after = FlickerMeter()
        self.scene_cuts = 0
        self._lightness: Tensor | None = None
        self._raw: Tensor | None = None
        self._smoothed: Tensor | None = None

    def update(self, lightness: Tensor, ab: Tensor) -> Tensor:
        """Feed the next frame; return its smoothed ab.

        Args:
            lightness: ``(h, w)`` or ``(1, h, w)`` float L in [0, 100] the model saw.
            ab: ``(2, h, w)`` predicted ab in Lab units.

        Returns:
            ``(2, h, w)`` float32 smoothed ab.
        """
        lightness = _check_lightness(lightness).float()
        if ab.dim() != 3 or ab.shape[0] != 2 or ab.shape[1:] != lightness.shape:
            raise ValueError(
                f"ab must have shape (2, {lightness.shape[0]}, {lightness.shape[1]}), "
                f"got {tuple(ab.shape)}"
            )
        ab = ab.float()
        cut = self.detector.update(lightness)
        previous_l, previous_raw, previous_smoothed = self._lightness, self._raw, self._smoothed
        if cut:
            self.scene_cuts += 1
        if cut or previous_l is None or previous_raw is None or previous_smoothed is None:
            smoothed = ab.clone()
        else:
            change = (lightness - previous_l).abs()
            stillness = (
                (MOTION_L_THRESHOLD - change) / (MOTION_L_THRESHOLD - STATIC_L_THRESHOLD)
            ).clamp_(0.0, 1.0)
            weight = self.strength * stillness
            smoothed = weight * previous_smoothed + (1.0 - weight) * ab
            static = change < STATIC_L_THRESHOLD
            self.flicker_before.add(previous_raw, ab, static)
            self.flicker_after.add(previous_smoothed, smoothed, static)
        self._lightness, self._raw, self._smoothed = lightness, ab, smoothed
        return smoothed
