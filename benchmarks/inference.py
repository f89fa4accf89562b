"""Inference throughput of one model at a fixed inference size, images already in memory."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from colorcli.pipeline import Colorizer, prepare_input


def inference_throughput(
    colorizer: Colorizer, images: list[np.ndarray], *, batch: int, min_seconds: float
) -> tuple[float, float]:
    """Images per second of (forward pass only, prepare + forward + full-resolution join).

    ``images`` are ``(H, W, 3)`` uint8 photos; they are cycled through in batches of
    ``batch`` until ``min_seconds`` have passed (after one warm-up batch).
    """
    prepared = [prepare_input(pixels, colorizer.size) for pixels in images]
    colorizer.colorize_many(images[:batch])  # warm-up: allocations, kernels, join tables

    def rate(step: Callable[[int], None]) -> float:
        done, started = 0, time.perf_counter()
        while done == 0 or time.perf_counter() - started < min_seconds:
            step(done)
            done += batch
        if colorizer.device.type == "cuda":
            torch.cuda.synchronize(colorizer.device)
        return done / (time.perf_counter() - started)

    def forward(start: int) -> None:
        picked = [prepared[(start + i) % len(prepared)] for i in range(batch)]
        colorizer.predict(picked)

    def end_to_end(start: int) -> None:
        picked = [images[(start + i) % len(images)] for i in range(batch)]
        colorizer.colorize_many(picked)

    return rate(forward), rate(end_to_end)
