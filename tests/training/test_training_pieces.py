"""Sampler, RNG capture, plots and the run folder's writers."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
from rich.console import Console

from colorcli.training import ConsoleProgress, RunFolder, RunStart, StepUpdate
from colorcli.training.distributed import DistributedContext
from colorcli.training.loaders import EpochSampler, steps_per_epoch
from colorcli.training.plots import loss_curve_image, sample_grid_image
from colorcli.training.seeding import capture_rng_state, restore_rng_state


def test_sampler_is_epoch_seeded_skippable_and_sharded():
    one = EpochSampler(10, seed=3, context=DistributedContext())
    one.set_epoch(2)
    order = list(one)
    assert sorted(order) == list(range(10))
    again = EpochSampler(10, seed=3, context=DistributedContext())
    again.set_epoch(2, skip=4)
    assert list(again) == order[4:] and len(again) == 6
    one.set_epoch(3)
    assert list(one) != order
    shards = [
        EpochSampler(10, seed=3, context=DistributedContext(rank=r, world_size=3)) for r in range(3)
    ]
    for shard in shards:
        shard.set_epoch(2)
    seen = [index for shard in shards for index in shard]
    assert len(seen) == 12 and set(seen) == set(range(10))
    assert steps_per_epoch(shards[0], 2) == 2 and steps_per_epoch(shards[0], 8) == 1


def test_rng_state_round_trip_is_weights_only_safe(tmp_path):
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    state = capture_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_loss_curve_image():
    image = loss_curve_image([1, 2, 2.5], [0.5, 0.3, None], [0.6, 0.35, 0.3])
    assert image.size == (720, 440) and image.mode == "RGB"
    pixels = np.asarray(image)
    assert (pixels == (31, 119, 180)).all(axis=2).any()  # train curve drawn
    assert (pixels == (255, 127, 14)).all(axis=2).any()  # val curve drawn
    empty = loss_curve_image([], [], [])
    assert empty.size == (720, 440)


def test_sample_grid_image():
    lightness = torch.full((3, 1, 16, 16), 50.0)
    ab = torch.zeros(3, 2, 16, 16)
    ab[:, 0] = 40.0
    grid = sample_grid_image(lightness, torch.zeros_like(ab), ab)
    assert grid.size == (44 + 3 * (64 + 2), 3 * (64 + 2))
    pixels = np.asarray(grid).astype(int)
    gray_cell, true_cell = pixels[10, 60], pixels[2 * 66 + 10, 60]
    assert abs(gray_cell[0] - gray_cell[1]) < 3
    assert true_cell[0] > true_cell[1] + 30  # a > 0 is reddish
    with pytest.raises(ValueError, match="pred_ab must have shape"):
        sample_grid_image(lightness, ab[:2], ab)


def test_run_folder_writes_metrics(tmp_path):
    folder = RunFolder(tmp_path / "run")
    records = [
        {"epoch": 1, "step": 2, "train_loss": 0.5, "val_loss": None, "complete": True, "x": 1},
        {"epoch": 1.5, "step": 3, "train_loss": 0.25, "complete": False},
    ]
    folder.write_metrics(records)
    lines = folder.metrics_csv.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "step", "images_seen"]
    assert lines[1].startswith("1,2,,,0.5,,")
    assert len(folder.metrics_jsonl.read_text().splitlines()) == 2
    assert folder.sample_grid(3).name == "epoch_003.png"
    assert not folder.has_run()


@pytest.mark.parametrize("live", [True, False])
def test_console_progress_renders(live):
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=live, width=100)
    progress = ConsoleProgress(console, plain_interval=0.0)
    start = RunStart(
        out_dir="runs/x",
        device="cpu",
        arch="tiny",
        head="palette4",
        parameters=10,
        data="image folder: x",
        train_images=8,
        val_images=4,
        epochs=1,
        steps_per_epoch=2,
        total_steps=2,
        start_step=0,
        start_epoch=0,
        batch_size=4,
        notes=["fitted 4 colour classes"],
    )
    progress.on_start(start)
    for step, loss in ((1, None), (2, 0.25)):
        progress.on_step(StepUpdate(1, 1, step, 2, step, 2, 1e-3, 12.0, 3.0, loss))
    progress.on_epoch({"epoch": 1, "train_loss": 0.25, "val_loss": 0.3, "best": True})
    progress.on_end()
    text = stream.getvalue()
    assert "note: fitted 4 colour classes" in text
    assert "epoch 1: train loss 0.2500, val loss 0.3000 [best]" in text
    if not live:
        assert "epoch 1/1 step 2/2 loss 0.2500 lr 0.001 12.0 img/s ETA 0:03" in text
