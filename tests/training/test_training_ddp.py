"""``colorcli train`` under torchrun: 2 CPU processes with gloo and DistributedDataParallel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from colorcli.training import read_training_state
from support import tiny_run_flags


@pytest.mark.slow  # about 30 s on 2 busy cores: three processes each import torch
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
def test_torchrun_two_processes_write_one_checkpoint_set(image_folder, tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "colorcli",
        "train",
        "--arch",
        "tiny",
        "--width",
        "4",
        "--colors",
        "4",
        "--data",
        str(image_folder),
        *tiny_run_flags(batch_size=2),
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(path.name for path in out.iterdir() if path.is_file())
    assert files == [
        "best.pt",
        "config.json",
        "last.pt",
        "loss_curve.png",
        "metrics.csv",
        "metrics.jsonl",
    ]
    assert len(list((out / "samples").iterdir())) == 1
    # only rank 0 reports: one result block on stdout
    assert done.stdout.count("finished: 1 epoch(s)") == 1
    state = read_training_state(out / "last.pt")
    # 8 images over 2 ranks, batch 2: 2 steps, 8 images seen in all
    assert state["step"] == 2
    summary = state["model"]["training"]
    assert summary["images_seen"] == 8
    assert summary["sessions"][0]["world_size"] == 2
    assert state["model"]["state_dict"]["head.centres"].abs().sum() > 0


def _rank_main(rank: int, port: int, config_dict: dict, results: dict) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "GLOO_SOCKET_IFNAME": "lo",
        }
    )
    from colorcli.training import TrainConfig, train

    result = train(TrainConfig(**config_dict))
    results[rank] = (result.step, result.images_seen)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # forks: run in its own pytest process, before any test has started threads
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
def test_ddp_in_forked_processes(image_folder, tmp_path, fast_config, monkeypatch):
    """The same DDP path without torchrun's start-up cost (forked workers share imports)."""
    import torch.multiprocessing as mp

    config = fast_config(tmp_path / "run", image_folder, colors="gamut", batch_size=2, epochs=2)
    results = mp.Manager().dict()
    mp.start_processes(
        _rank_main,
        args=(_free_port(), config.as_dict(), results),
        nprocs=2,
        start_method="fork",
    )
    assert dict(results) == {0: (4, 16), 1: (4, 16)}
    state = read_training_state(tmp_path / "run" / "last.pt")
    assert state["step"] == 4 and state["model"]["training"]["sessions"][0]["world_size"] == 2
    assert len(list((tmp_path / "run" / "samples").iterdir())) == 2
