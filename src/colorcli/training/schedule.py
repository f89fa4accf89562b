"""Learning rate as a pure function of the step: one-cycle, cosine or constant (nanoGPT style)."""

from __future__ import annotations

import math

ONECYCLE_WARMUP = 0.3
ONECYCLE_START_DIVISOR = 25.0
ONECYCLE_END_DIVISOR = 1e4
"""One-cycle shape of ``torch.optim.lr_scheduler.OneCycleLR`` (Smith 2018): 30 % cosine warm-up
from lr/25 to lr, then cosine annealing to lr/25/1e4 (the ResNet34 report's schedule)."""

COSINE_FLOOR = 0.01
"""Cosine decay ends at 1 % of the peak learning rate."""


def _cosine(start: float, end: float, fraction: float) -> float:
    fraction = min(max(fraction, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


def learning_rate(
    step: int, *, schedule: str, lr: float, total_steps: int, warmup_steps: int = 0
) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of a run of ``total_steps``.

    Args:
        step: steps already taken; steps past the end keep the final value.
        schedule: ``onecycle``, ``cosine`` or ``constant``.
        lr: peak learning rate.
        total_steps: length of the schedule (epochs × steps per epoch), >= 1.
        warmup_steps: linear warm-up from 0 for ``cosine`` and ``constant`` (one-cycle has
            its own warm-up).

    Raises:
        ValueError: an unknown schedule or ``total_steps`` < 1.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if schedule == "onecycle":
        peak_step = max(1.0, ONECYCLE_WARMUP * total_steps - 1)
        start = lr / ONECYCLE_START_DIVISOR
        if step <= peak_step:
            return _cosine(start, lr, step / peak_step)
        end = start / ONECYCLE_END_DIVISOR
        return _cosine(lr, end, (step - peak_step) / max(1.0, total_steps - 1 - peak_step))
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"unknown schedule {schedule!r}; use onecycle, cosine or constant")
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    span = max(1, total_steps - warmup_steps - 1)
    return _cosine(lr, lr * COSINE_FLOOR, (step - warmup_steps) / span)
