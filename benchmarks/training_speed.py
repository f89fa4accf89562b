"""Training throughput: short timed loops of forward, backward and an AdamW step."""

from __future__ import annotations

import time

import torch

from colorcli.models import get_model


def training_throughput(
    arch: str,
    size: int,
    device: torch.device,
    *,
    batch: int,
    min_seconds: float,
    max_steps: int,
) -> float:
    """Images per second of ``arch`` (default width, ab regression) on ``size`` px crops."""
    torch.manual_seed(0)
    model = get_model(arch).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    lightness = torch.rand(batch, 1, size, size, device=device) * 100
    ab = torch.randn(batch, 2, size, size, device=device) * 20

    def step() -> None:
        loss = model.loss(model(lightness), ab)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up: allocations, kernel selection
    sync()
    steps = 0
    started = time.perf_counter()
    while steps < max_steps and (steps == 0 or time.perf_counter() - started < min_seconds):
        step()
        steps += 1
    sync()
    return steps * batch / (time.perf_counter() - started)
