"""Tiny synthetic images shared by the data tests."""

from __future__ import annotations

import numpy as np


def colour_array(height: int = 20, width: int = 24, seed: int = 0) -> np.ndarray:
    """A smooth, strongly coloured ``(H, W, 3)`` uint8 gradient (survives JPEG)."""
    rng = np.random.default_rng(seed)
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    start[seed % 3], end[seed % 3] = 255, 0  # never gray
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    row = start[None, None, :] * (1 - ramp) + end[None, None, :] * ramp
    return np.repeat(row, height, axis=0).round().astype(np.uint8)
