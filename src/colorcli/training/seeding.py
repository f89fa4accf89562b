"""Seeding and RNG state capture, in forms that load with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import random
import signal
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python and NumPy from the worker's torch seed; ignore Ctrl-C.

    Augmentation itself is seeded per item (see :class:`colorcli.data.ColorDataset`), so
    the seeds only keep any other library randomness in workers reproducible. Workers
    ignore SIGINT so that a Ctrl-C reaches the training loop, which stops between steps
    and shuts them down, instead of killing them mid-batch.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def loader_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of a DataLoader for ``epoch``: worker seeds depend on (seed, epoch) only."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA RNG states as tensors, lists of ints and strings."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            str(name),
            [int(key) for key in keys],
            int(position),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_state` (missing parts are left alone)."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(value) for value in internal), gauss))
    if "numpy" in state:
        name, keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state(
            (
                str(name),
                np.asarray(keys, dtype=np.uint32),
                int(position),
                int(has_gauss),
                float(cached),
            )
        )
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = list(state["cuda"])
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
