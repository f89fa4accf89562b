"""How far results may move across CPUs, thread counts and batch splits, and checks using it.

Another batch split or thread count sums float32 products in another order, so a model's
ab moves by about 1e-6 of its size (~1e-4 Lab units, well under 1e-3 of an 8-bit level).
Only a value that close to a rounding boundary lands one level up or down: about 1 in
1,000. A misplaced image, a wrong model or a seam moves most values by many levels.
"""

from __future__ import annotations

import math

import numpy as np

SHIFTED_FRACTION = 0.01
"""Most pixels that may differ, each by one 8-bit level per channel (ten times the ~1e-3)."""

LAB_UNITS_PER_LEVEL = 2.0
"""Bound on a pixel's CIELAB move when each channel moves one 8-bit level.

Steepest near black (linear sRGB segment, linear f of CIELAB): about 0.27 in L, 0.80 in a
and 0.76 in b at worst, 1.13 together; doubled for CIEDE2000's weighting.
"""


def assert_same_8bit(got: np.ndarray, expected: np.ndarray, what: str = "image") -> None:
    """``got`` is ``expected`` up to one level in at most :data:`SHIFTED_FRACTION` of pixels.

    Args:
        got: ``(H, W)`` or ``(H, W, C)`` integer image.
        expected: the same shape and dtype.
        what: names the image in a failure.
    """
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    difference = np.abs(got.astype(np.int64) - expected.astype(np.int64))
    if difference.ndim == 3:
        difference = difference.max(axis=2)
    largest = int(difference.max(initial=0))
    assert largest <= 1, f"{what}: values differ by up to {largest} levels"
    shifted = np.count_nonzero(difference) / max(difference.size, 1)
    assert shifted <= SHIFTED_FRACTION, f"{what}: {shifted:.2%} of pixels moved one level"


def psnr_tolerance(value_db: float) -> float:
    """Most a PSNR of ``value_db`` moves when :data:`SHIFTED_FRACTION` of pixels move a level.

    PSNR = 20·log10(255 / RMSE) with RMSE = 255·10^(−PSNR/20) levels. The shift's RMS is at
    most √f levels, so (triangle inequality) RMSE moves by at most √f.
    """
    rmse = 255.0 * 10 ** (-value_db / 20)
    step = math.sqrt(SHIFTED_FRACTION)
    return math.inf if rmse <= step else 20 * math.log10(rmse / (rmse - step))


def deltae_tolerance() -> float:
    """Most a mean CIEDE2000 moves when :data:`SHIFTED_FRACTION` of pixels move a level."""
    return SHIFTED_FRACTION * LAB_UNITS_PER_LEVEL
