"""learning_rate(step): one-cycle equals torch's OneCycleLR; cosine and constant shapes."""

from __future__ import annotations

import itertools

import pytest
import torch

from colorcli.training import learning_rate


@pytest.mark.parametrize("total", [1, 7, 100])
def test_onecycle_matches_torch(total):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, total_steps=max(total, 2), cycle_momentum=False
    )
    if total == 1:
        assert learning_rate(0, schedule="onecycle", lr=0.1, total_steps=1) == pytest.approx(0.004)
        return
    for step in range(total):
        expected = optimizer.param_groups[0]["lr"]
        got = learning_rate(step, schedule="onecycle", lr=0.1, total_steps=total)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
        optimizer.step()
        scheduler.step()


def test_cosine_with_warmup_and_constant():
    rates = [
        learning_rate(s, schedule="cosine", lr=1.0, total_steps=12, warmup_steps=2)
        for s in range(12)
    ]
    assert rates[0] == 0.5 and rates[1] == 1.0 and rates[2] == 1.0
    assert rates[-1] == pytest.approx(0.01)
    assert all(a >= b for a, b in itertools.pairwise(rates[2:]))
    assert learning_rate(50, schedule="constant", lr=0.3, total_steps=10) == 0.3


def test_bad_schedule():
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate(0, schedule="step", lr=1.0, total_steps=3)
    with pytest.raises(ValueError, match="total_steps"):
        learning_rate(0, schedule="cosine", lr=1.0, total_steps=0)
