"""DistributedDataParallel plumbing: detect ``torchrun``, set up and tear down, reduce values."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from colorcli.errors import TrainingError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a (possibly one-process) training job.

    Attributes:
        rank: global rank (0 writes files and reports).
        world_size: number of processes.
        local_rank: rank on this machine (picks the CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True under ``torchrun`` with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> DistributedContext:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as ``torchrun`` sets them (default: one).

    Raises:
        TrainingError: the variables are not integers or are inconsistent.
    """
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise TrainingError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)"
        ) from None
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise TrainingError(f"bad torchrun environment: RANK={rank} WORLD_SIZE={world_size}")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a ``torchrun`` job (for CLI output)."""
    return os.environ.get("RANK", "0") == "0"


def setup(context: DistributedContext, device: torch.device) -> None:
    """Join the process group: NCCL on CUDA, gloo otherwise (no-op for one process)."""
    if not context.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend=backend)
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TrainingError(
            f"cannot join the torchrun process group ({backend}): {first}"
        ) from None


def teardown() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: Tensor, context: DistributedContext) -> Tensor:
    """Sum ``values`` over all processes (in place; a no-op for one process)."""
    if context.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast(values: Tensor, context: DistributedContext, source: int = 0) -> Tensor:
    """Copy ``values`` from rank ``source`` to all processes (in place)."""
    if context.enabled:
        dist.broadcast(values, src=source)
    return values


def barrier(context: DistributedContext) -> None:
    """Wait for every process."""
    if context.enabled:
        dist.barrier()
