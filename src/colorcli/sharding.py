"""Split planned jobs into N disjoint shards, so N machines or GPUs share one folder.

Shard K of N (1-based) takes every N-th job of the list sorted by relative path,
starting with the K-th. The split depends only on the planned jobs, so N runs of the
same command (Slurm array tasks, Kubernetes indexed jobs, ``torchrun`` ranks) write
disjoint parts of one output tree whose union is what a single run writes. Every
shard must see the same files: a file added between the starts of two shards may be
done twice or not at all (running the command again fills the gaps, since existing
outputs are skipped).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from colorcli.errors import UsageError
from colorcli.jobs import Job

__all__ = [
    "Shard",
    "local_rank_device",
    "parse_shard",
    "select_shard",
    "shard_from_environment",
]

_USAGE = "--shard must be K/N with 1 <= K <= N (e.g. 2/4), or auto"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise UsageError(f"{_USAGE}, got {self.index}/{self.count}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, environ: Mapping[str, str] | None = None) -> Shard:
    """Parse ``K/N`` or ``auto`` (see :func:`shard_from_environment`).

    Raises:
        UsageError: malformed text, K outside 1..N, or ``auto`` outside a known launcher.
    """
    text = text.strip()
    if text == "auto":
        return shard_from_environment(os.environ if environ is None else environ)
    index, slash, count = text.partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise UsageError(f"{_USAGE}, got {text!r}")
    return Shard(int(index), int(count))


def shard_from_environment(environ: Mapping[str, str]) -> Shard:
    """The shard a launcher assigned to this process.

    Reads, in order: ``RANK`` (or ``LOCAL_RANK``) and ``WORLD_SIZE`` as set by ``torchrun``;
    ``SLURM_ARRAY_TASK_ID`` and ``SLURM_ARRAY_TASK_COUNT`` (offset by
    ``SLURM_ARRAY_TASK_MIN``) in a Slurm job array. Ranks and task ids are 0-based.

    Raises:
        UsageError: none of these is set, or they are not numbers.
    """
    rank = environ.get("RANK", environ.get("LOCAL_RANK"))
    if rank is not None and "WORLD_SIZE" in environ:
        return Shard(_number(rank, "RANK") + 1, _number(environ["WORLD_SIZE"], "WORLD_SIZE"))
    task = environ.get("SLURM_ARRAY_TASK_ID")
    if task is not None and "SLURM_ARRAY_TASK_COUNT" in environ:
        first = _number(environ.get("SLURM_ARRAY_TASK_MIN", "0"), "SLURM_ARRAY_TASK_MIN")
        count = _number(environ["SLURM_ARRAY_TASK_COUNT"], "SLURM_ARRAY_TASK_COUNT")
        return Shard(_number(task, "SLURM_ARRAY_TASK_ID") - first + 1, count)
    raise UsageError(
        "--shard auto needs RANK and WORLD_SIZE (torchrun) or SLURM_ARRAY_TASK_ID and "
        "SLURM_ARRAY_TASK_COUNT (Slurm array); elsewhere give --shard K/N"
    )


def _number(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--shard auto: {name} must be a whole number, got {value!r}") from None


def select_shard(jobs: Sequence[Job], shard: Shard | None) -> list[Job]:
    """The jobs of ``shard`` (all of them when None), in the order of the sorted list."""
    if shard is None or shard.count == 1:
        return list(jobs)
    ordered = sorted(jobs, key=lambda job: (job.relative.as_posix(), job.output.as_posix()))
    return ordered[shard.index - 1 :: shard.count]


def local_rank_device(environ: Mapping[str, str]) -> str:
    """``cuda:<LOCAL_RANK mod GPUs>`` under a launcher that sets ``LOCAL_RANK``, else ``auto``.

    So that the processes ``torchrun --nproc-per-node G`` starts on one machine each take
    their own GPU.
    """
    rank = environ.get("LOCAL_RANK", "")
    if not rank.isdigit() or not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return "auto"
    return f"cuda:{int(rank) % torch.cuda.device_count()}"
