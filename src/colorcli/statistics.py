"""Summary statistics of per-image metric values: the mean and its 95 % confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912,
    2.364624, 2.306004, 2.262157, 2.228139, 2.200985, 2.178813,
    2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922,
    2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip
_Z975 = 1.959963984540054


def as_float64_vector(values: Tensor | Sequence[float], name: str) -> Tensor:
    """``values`` as a float64 CPU vector ``(n,)``; ValueError naming ``name`` unless 1-D, n > 0."""
    if isinstance(values, Tensor):
        vector = values.detach().to(device="cpu", dtype=torch.float64)
    else:
        vector = torch.as_tensor(list(values), dtype=torch.float64)
    if vector.dim() != 1 or vector.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence, got shape {tuple(vector.shape)}"
        )
    return vector


def _t_quantile_975(dof: int) -> float:
    if dof <= len(_T975):
        return _T975[dof - 1]
    # Cornish-Fisher expansion of t around the normal quantile: about 2e-6 off for dof > 30.
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * dof)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * dof**3)
    )


def mean_and_ci95(values: Tensor | Sequence[float]) -> tuple[float, float, float]:
    """Mean of per-image values and its two-sided 95% confidence interval.

    Interval: mean ± t·s/√n with the sample standard deviation s and Student's t quantile for
    n − 1 degrees of freedom (about 1.96 for large n). With one value the interval is the mean.

    Args:
        values: ``(n,)`` per-image values, n ≥ 1 (a tensor on any device, or floats).

    Returns:
        ``(mean, low, high)`` as Python floats.

    Raises:
        ValueError: ``values`` is empty or not one-dimensional.
    """
    vector = as_float64_vector(values, "values")
    mean = float(vector.mean())
    n = vector.numel()
    if n == 1:
        return mean, mean, mean
    half_width = _t_quantile_975(n - 1) * float(vector.std(correction=1)) / math.sqrt(n)
    return mean, mean - half_width, mean + half_width


def abs_mean_and_ci95(values: Tensor | Sequence[float]) -> tuple[float, float, float]:
    """|mean| of signed differences, with the interval for the mean mapped through abs."""
    mean, low, high = mean_and_ci95(values)
    if low <= 0.0 <= high:
        return abs(mean), 0.0, max(-low, high)
    low_abs, high_abs = sorted((abs(low), abs(high)))
    return abs(mean), low_abs, high_abs
